-- The circuit step of the pattern: effective resistance and current of each
-- corridor, and pinch nodes.
ALTER TABLE result.pattern_corridor ADD COLUMN effective_resistance double precision,
                                    ADD COLUMN corridor_resistance double precision,
                                    ADD COLUMN current_mean double precision,
                                    ADD COLUMN current_peak double precision;
COMMENT ON TABLE result.pattern_corridor IS 'Least-cost paths between adjacent sources: LCD (cost-weighted metres), length (m), LCD/length, LCD/Euclidean distance, gravity-model importance G; important = the upper class of log10 G (pattern.important_method) or G above pattern.important_gravity; circuit theory (NULL without it): effective resistance between the two sources over the whole grid and through the corridor truncated at its cutoff (ohm, resistance units), mean and peak current along the path (A)';
ALTER TABLE result.pattern_node DROP CONSTRAINT pattern_node_kind_check,
    ADD CONSTRAINT pattern_node_kind_check CHECK (kind IN ('intersection', 'ridge', 'barrier', 'pinch'));
COMMENT ON TABLE result.pattern_node IS 'Ecological nodes: intersection and ridge (strategic points), barrier and pinch (the centres of the barrier and pinch areas of the circuit step; without it, barrier = path cells of high resistance), with the corridor ids they lie on and the county holding them (result.pattern_cross_boundary)';
