-- The county holding each pattern node (filled by result.pattern_cross_boundary).
ALTER TABLE result.pattern_node ADD COLUMN unit_id integer REFERENCES core.admin_unit_version;
COMMENT ON TABLE result.pattern_node IS 'Ecological nodes: intersection and ridge (strategic points) and barrier, with the corridor ids they lie on and the county holding them (result.pattern_cross_boundary)';
