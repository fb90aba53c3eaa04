-- 072_pattern_results.sql
-- Results of the pattern stage (docs/models/pattern.md): ecological sources,
-- least-cost corridors, nodes and the measures of the source-corridor network,
-- per pattern run. Geometry is in the study-area CRS, on the corridor grid
-- (cell centres for lines and points). Every table has an integer identity key
-- for QGIS and BI tools.

-- Ecological sources: patches of MSPA Core among the most important cells.
CREATE TABLE result.pattern_source (
    id               integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id           integer NOT NULL REFERENCES core.run ON DELETE CASCADE,
    source_id        integer NOT NULL CHECK (source_id > 0),
    area_m2          double precision NOT NULL CHECK (area_m2 > 0),
    cells            integer NOT NULL CHECK (cells > 0),
    mean_resistance  double precision NOT NULL,
    importance       double precision,
    dpc              double precision,
    geom             geometry(MultiPolygon) NOT NULL,
    diic             double precision,
    UNIQUE (run_id, source_id)
);
COMMENT ON TABLE result.pattern_source IS 'Ecological sources of a pattern run: area (m2), cells of the corridor grid, mean resistance, mean ecosystem-service importance (0-1), dPC and dIIC (%, importance for connectivity)';

-- Least-cost corridors between adjacent sources.
CREATE TABLE result.pattern_corridor (
    id                 integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id             integer NOT NULL REFERENCES core.run ON DELETE CASCADE,
    corridor_id        integer NOT NULL CHECK (corridor_id > 0),
    source_a           integer NOT NULL,
    source_b           integer NOT NULL,
    lcd                double precision NOT NULL,
    length_m           double precision NOT NULL,
    cwd_to_path_ratio  double precision,
    cwd_to_euc_ratio   double precision,
    gravity            double precision,
    important          boolean NOT NULL,
    geom               geometry(LineString) NOT NULL,
    effective_resistance  double precision,
    corridor_resistance   double precision,
    current_mean          double precision,
    current_peak          double precision,
    UNIQUE (run_id, corridor_id),
    FOREIGN KEY (run_id, source_a) REFERENCES result.pattern_source (run_id, source_id) ON DELETE CASCADE,
    FOREIGN KEY (run_id, source_b) REFERENCES result.pattern_source (run_id, source_id) ON DELETE CASCADE
);
COMMENT ON TABLE result.pattern_corridor IS 'Least-cost paths between adjacent sources: LCD (cost-weighted metres), length (m), LCD/length, LCD/Euclidean distance, gravity-model importance G; important = the upper class of log10 G (pattern.important_method) or G above pattern.important_gravity; circuit theory (NULL without it): effective resistance between the two sources over the whole grid and through the corridor truncated at its cutoff (ohm, resistance units), mean and peak current along the path (A)';

-- Nodes on the corridors.
CREATE TABLE result.pattern_node (
    id         integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id     integer NOT NULL REFERENCES core.run ON DELETE CASCADE,
    node_id    integer NOT NULL CHECK (node_id > 0),
    kind       text NOT NULL CONSTRAINT pattern_node_kind_check
                   CHECK (kind IN ('intersection', 'ridge', 'barrier', 'pinch')),
    corridors  integer[] NOT NULL,
    geom       geometry(Point) NOT NULL,
    unit_id    integer REFERENCES core.admin_unit_version,
    UNIQUE (run_id, node_id)
);
COMMENT ON TABLE result.pattern_node IS 'Ecological nodes: intersection and ridge (strategic points), barrier and pinch (the centres of the barrier and pinch areas of the circuit step; without it, barrier = path cells of high resistance), with the corridor ids they lie on and the county holding them (result.pattern_cross_boundary)';

-- The network of a pattern run.
CREATE TABLE result.pattern_network (
    run_id               integer PRIMARY KEY REFERENCES core.run ON DELETE CASCADE,
    cell_m               double precision NOT NULL,
    sources              integer NOT NULL,
    corridors            integer NOT NULL,
    important_corridors  integer NOT NULL,
    pc                   double precision,
    alpha                double precision,
    beta                 double precision,
    gamma                double precision,
    iic                  double precision
);
COMMENT ON TABLE result.pattern_network IS 'Per pattern run: corridor-grid cell size (m), numbers of sources and corridors, probability of connectivity PC, network closure alpha, links per node beta and connectivity gamma (NULL when undefined), integral index of connectivity IIC';
