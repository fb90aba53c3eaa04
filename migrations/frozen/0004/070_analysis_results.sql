-- 070_analysis_results.sql
-- Results of the stages after the services: supply-demand ratios and matching
-- (domain.md 6), resilience (7) and zoning (8). Every row belongs to the run of
-- its stage; core.run_input links a run to the runs it read, so a zoning run
-- names its ratios, resilience and services runs. Every table has an integer
-- identity key for QGIS and BI tools.

-- Lineage: the run of an earlier stage that a run read.
CREATE TABLE core.run_input (
    run_id        integer NOT NULL REFERENCES core.run ON DELETE CASCADE,
    stage         text NOT NULL,
    input_run_id  integer NOT NULL REFERENCES core.run ON DELETE CASCADE,
    PRIMARY KEY (run_id, stage)
);
CREATE INDEX run_input_input_idx ON core.run_input (input_run_id);
COMMENT ON TABLE core.run_input IS 'Which run of an earlier stage (services, ratios, resilience) a run read';

-- How each service's ESDR was formed in a ratios run.
CREATE TABLE result.ratio_service (
    run_id        integer NOT NULL REFERENCES core.run ON DELETE CASCADE,
    service       text NOT NULL,
    basis         text NOT NULL CHECK (basis IN ('density', 'total')),
    scaling       text NOT NULL CHECK (scaling IN ('raw', 'minmax')),
    supply_unit   text NOT NULL,
    demand_unit   text NOT NULL,
    s_max         double precision,
    d_max         double precision,
    cesd_weight   double precision NOT NULL,
    PRIMARY KEY (run_id, service)
);
COMMENT ON TABLE result.ratio_service IS 'Per ratios run and service: county basis (density or total), scaling of S and D (raw when units agree, else min-max), the maxima of the ESDR denominator, and the CESD weight';

-- ESDR, matching type and deficit/surplus class per county (service 'combined' = CESD).
CREATE TABLE result.county_ratio (
    id              integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id          integer NOT NULL REFERENCES core.run ON DELETE CASCADE,
    unit_id         integer NOT NULL REFERENCES core.admin_unit ON DELETE CASCADE,
    service         text NOT NULL,
    supply          double precision,
    demand          double precision,
    supply_scaled   double precision,
    demand_scaled   double precision,
    esdr            double precision,
    z_supply        double precision,
    z_demand        double precision,
    matching_type   text CHECK (matching_type IN ('HH', 'LH', 'LL', 'HL')),
    balance_rank    smallint,
    balance_class   text,
    UNIQUE (run_id, unit_id, service)
);
COMMENT ON TABLE result.county_ratio IS 'Per county and service (combined = CESD): supply and demand on the run basis, the values entering ESDR, ESDR, z-scores, matching type (HH/LH/LL/HL) and the deficit/surplus class (rank -k..k, 0 = balance)';

-- Deficit/surplus classes: bounds, counties or cells, area and area share.
CREATE TABLE result.balance_class (
    id            integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id        integer NOT NULL REFERENCES core.run ON DELETE CASCADE,
    level         text NOT NULL CHECK (level IN ('county', 'pixel')),
    service       text NOT NULL,
    rank          smallint NOT NULL,
    label         text NOT NULL,
    lower_bound   double precision,
    upper_bound   double precision,
    units         bigint NOT NULL,
    area_km2      double precision NOT NULL,
    area_share    double precision NOT NULL,
    UNIQUE (run_id, level, service, rank)
);
COMMENT ON TABLE result.balance_class IS 'Deficit/surplus classes of ESDR/CESD per ratios run: value bounds, number of counties (level county) or cells (level pixel), area (km2) and area share (%)';

-- The indicators a resilience run used, with their weights by every method computed.
CREATE TABLE result.run_indicator (
    id              integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id          integer NOT NULL REFERENCES core.run ON DELETE CASCADE,
    indicator       text NOT NULL,
    position        smallint NOT NULL,
    dimension       text NOT NULL,
    dimension_name  text NOT NULL,
    name            text NOT NULL,
    direction       smallint NOT NULL,
    unit            text NOT NULL,
    source_kind     text NOT NULL,
    source          text NOT NULL,
    statistic       text,
    weight          double precision NOT NULL,
    weights         jsonb NOT NULL DEFAULT '{}',
    constant        boolean NOT NULL DEFAULT false,
    UNIQUE (run_id, indicator)
);
COMMENT ON TABLE result.run_indicator IS 'Weights table of a resilience run: the indicator catalogue rows used, the final weight and the weights of each method (entropy, critic, ahp, ...); constant = same value in every county';

-- Raw and normalised indicator values per county.
CREATE TABLE result.county_indicator (
    id           integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id       integer NOT NULL REFERENCES core.run ON DELETE CASCADE,
    unit_id      integer NOT NULL REFERENCES core.admin_unit ON DELETE CASCADE,
    indicator    text NOT NULL,
    raw_value    double precision,
    norm_value   double precision,
    UNIQUE (run_id, unit_id, indicator)
);
COMMENT ON TABLE result.county_indicator IS 'Resilience indicator per county: raw value in the indicator unit and min-max value by direction (0-1)';

-- Dimension scores per county: contribution = sum of w_j x_j over the dimension
-- (the contributions add up to the index); score = contribution / dimension weight (0-1).
CREATE TABLE result.county_dimension (
    id            integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id        integer NOT NULL REFERENCES core.run ON DELETE CASCADE,
    unit_id       integer NOT NULL REFERENCES core.admin_unit ON DELETE CASCADE,
    dimension     text NOT NULL,
    contribution  double precision,
    score         double precision,
    UNIQUE (run_id, unit_id, dimension)
);
COMMENT ON TABLE result.county_dimension IS 'Resilience per county and dimension: contribution to the index and the 0-1 dimension score';

CREATE TABLE result.county_resilience (
    id                integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id            integer NOT NULL REFERENCES core.run ON DELETE CASCADE,
    unit_id           integer NOT NULL REFERENCES core.admin_unit ON DELETE CASCADE,
    resilience_index  double precision,
    resilience_class  text CHECK (resilience_class IN ('H', 'L')),
    level             smallint CHECK (level BETWEEN 1 AND 5),
    level_name        text,
    UNIQUE (run_id, unit_id)
);
COMMENT ON TABLE result.county_resilience IS 'Ecosystem resilience index per county (0-1), two-level class for zoning (H/L) and five-level reporting class';

-- Zone of each county: the combination of matching type and resilience class,
-- and the zone after merge rules and smoothing (adjustment says which applied).
CREATE TABLE result.county_zone (
    id                integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id            integer NOT NULL REFERENCES core.run ON DELETE CASCADE,
    unit_id           integer NOT NULL REFERENCES core.admin_unit ON DELETE CASCADE,
    matching_type     text NOT NULL CHECK (matching_type IN ('HH', 'LH', 'LL', 'HL')),
    resilience_class  text NOT NULL CHECK (resilience_class IN ('H', 'L')),
    combination       text NOT NULL,
    zone_code         text NOT NULL,
    adjustment        text CHECK (adjustment IN ('merged', 'smoothed')),
    UNIQUE (run_id, unit_id)
);
COMMENT ON TABLE result.county_zone IS 'Restoration zone per county: combination = matching type x resilience class, zone_code = canonical zone after merge rules and smoothing';

-- The zones of a zoning run with their display code, names, strategy (snapshot
-- of param.zone_type at run time), county count, area and area share.
CREATE TABLE result.zone (
    id                integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id            integer NOT NULL REFERENCES core.run ON DELETE CASCADE,
    zone_code         text NOT NULL,
    display_code      text NOT NULL,
    matching_type     text NOT NULL,
    resilience_class  text NOT NULL,
    name_en           text NOT NULL,
    name_zh           text,
    strategy_name     text NOT NULL,
    strategy          text NOT NULL,
    counties          integer NOT NULL,
    area_km2          double precision NOT NULL,
    area_share        double precision NOT NULL,
    UNIQUE (run_id, zone_code),
    UNIQUE (run_id, display_code)
);
COMMENT ON TABLE result.zone IS 'Restoration zones of a zoning run: canonical and display code (I-1 ...), names, strategy, number of counties, area (km2) and area share (%)';

-- The runs behind one zoning result: the zoning run and the ratios,
-- resilience and services runs it read.
CREATE VIEW result.analysis_run AS
SELECT z.run_id, z.study_area_id, z.label, z.finished_at,
       ra.input_run_id AS ratios_run_id, re.input_run_id AS resilience_run_id,
       se.input_run_id AS services_run_id, z.parent_run_id AS pipeline_run_id
FROM core.run z
JOIN core.run_input ra ON ra.run_id = z.run_id AND ra.stage = 'ratios'
JOIN core.run_input re ON re.run_id = z.run_id AND re.stage = 'resilience'
JOIN core.run_input se ON se.run_id = z.run_id AND se.stage = 'services'
WHERE z.stage = 'zoning' AND z.status = 'succeeded';
COMMENT ON VIEW result.analysis_run IS 'Succeeded zoning runs with the ratios, resilience and services runs they read';
