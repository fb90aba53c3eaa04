-- 020_param_tables.sql
-- Parameter tables. Land-use lookup tables keep InVEST's CSV column names
-- (lucode, kc, root_depth, lulc_veg, c_above ...) as coefficient names; every
-- coefficient and scalar is declared in a catalogue with its unit and bounds,
-- so unknown columns and out-of-range values are rejected on load.

-- Catalogue of land-use coefficients (columns of a lookup table).
CREATE TABLE param.coefficient (
    name         text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9_]*$'),
    unit         text NOT NULL,
    description  text NOT NULL,
    min_value    double precision,
    max_value    double precision,
    used_by      text,
    reference    text
);
COMMENT ON TABLE param.coefficient IS 'Known land-use coefficients (lookup-table columns) with unit, bounds and the model that uses them';

-- Catalogue of scalar model parameters.
CREATE TABLE param.scalar_def (
    name           text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9_]*$'),
    unit           text NOT NULL,
    description    text NOT NULL,
    min_value      double precision,
    max_value      double precision,
    default_value  double precision,
    used_by        text,
    reference      text
);
COMMENT ON TABLE param.scalar_def IS 'Known scalar parameters with unit, bounds, default and source';

-- Catalogue of county statistics variables.
CREATE TABLE param.stat_variable (
    name         text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9_]*$'),
    unit         text NOT NULL,
    description  text NOT NULL
);
COMMENT ON TABLE param.stat_variable IS 'Known county statistics variables and their units';

-- A named parameter set of a study area: a land-use lookup table or a list of scalars.
CREATE TABLE param.param_set (
    param_set_id   serial PRIMARY KEY,
    study_area_id  integer NOT NULL REFERENCES core.study_area ON DELETE CASCADE,
    name           text NOT NULL CHECK (name ~ '^[a-z][a-z0-9_]{0,39}$'),
    kind           text NOT NULL CHECK (kind IN ('lulc', 'scalar')),
    source_path    text,
    source_sha256  text,
    citation       text,
    loaded_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (study_area_id, name)
);
COMMENT ON TABLE param.param_set IS 'Parameter sets: land-use lookup tables (kind lulc) and scalar lists (kind scalar), with file checksum and citation';

CREATE TABLE param.lulc_class (
    param_set_id  integer NOT NULL REFERENCES param.param_set ON DELETE CASCADE,
    lucode        integer NOT NULL,
    description   text,
    PRIMARY KEY (param_set_id, lucode)
);

CREATE TABLE param.lulc_value (
    param_set_id  integer NOT NULL,
    lucode        integer NOT NULL,
    coefficient   text NOT NULL REFERENCES param.coefficient,
    value         double precision NOT NULL,
    source        text,
    PRIMARY KEY (param_set_id, lucode, coefficient),
    FOREIGN KEY (param_set_id, lucode) REFERENCES param.lulc_class ON DELETE CASCADE
);
COMMENT ON TABLE param.lulc_value IS 'Land-use coefficients, long form: one value per (set, class, coefficient), with its source';

CREATE TABLE param.scalar (
    param_set_id  integer NOT NULL REFERENCES param.param_set ON DELETE CASCADE,
    name          text NOT NULL REFERENCES param.scalar_def,
    value         double precision NOT NULL,
    unit          text NOT NULL,
    source        text,
    PRIMARY KEY (param_set_id, name)
);
COMMENT ON TABLE param.scalar IS 'Scalar model parameters of a set, with unit and source';

-- The wide view of a lookup table, param.lulc_table, is declared in
-- 022_habitat_threats.sql: it also shows the threat sensitivities kept there.
