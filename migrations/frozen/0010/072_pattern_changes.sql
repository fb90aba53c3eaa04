-- The county holding each pattern node (filled by result.pattern_cross_boundary),
-- the integral index of connectivity of the network and dIIC of each source.
ALTER TABLE result.pattern_node ADD COLUMN unit_id integer REFERENCES core.admin_unit_version;
COMMENT ON TABLE result.pattern_node IS 'Ecological nodes: intersection and ridge (strategic points) and barrier, with the corridor ids they lie on and the county holding them (result.pattern_cross_boundary)';
ALTER TABLE result.pattern_source ADD COLUMN diic double precision;
COMMENT ON TABLE result.pattern_source IS 'Ecological sources of a pattern run: area (m2), cells of the corridor grid, mean resistance, mean ecosystem-service importance (0-1), dPC and dIIC (%, importance for connectivity)';
ALTER TABLE result.pattern_network ADD COLUMN iic double precision;
COMMENT ON TABLE result.pattern_network IS 'Per pattern run: corridor-grid cell size (m), numbers of sources and corridors, probability of connectivity PC, network closure alpha, links per node beta and connectivity gamma (NULL when undefined), integral index of connectivity IIC';
COMMENT ON TABLE result.pattern_corridor IS 'Least-cost paths between adjacent sources: LCD (cost-weighted metres), length (m), LCD/length, LCD/Euclidean distance, gravity-model importance G; important = the upper class of log10 G (pattern.important_method) or G above pattern.important_gravity';
