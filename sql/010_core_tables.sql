-- 010_core_tables.sql
-- Registry tables: study areas with their reference grid, computation runs,
-- raster layers, administrative units (versioned), zone sets and county
-- statistics.

-- A study area and its reference grid. Every raster of the area is stored on
-- this grid: projected CRS in metres, square pixels, upper-left origin,
-- width x height cells, cut into tile_size x tile_size tiles numbered
-- row-major from the upper-left (tile_id = tile_row * tiles_x + tile_col).
CREATE TABLE core.study_area (
    study_area_id serial PRIMARY KEY,
    name          text NOT NULL UNIQUE CHECK (name ~ '^[a-z][a-z0-9_]{0,19}$'),
    title         text,
    srid          integer NOT NULL REFERENCES public.spatial_ref_sys (srid),
    origin_x      double precision NOT NULL,
    origin_y      double precision NOT NULL,
    pixel_size    double precision NOT NULL CHECK (pixel_size > 0),
    width         integer NOT NULL CHECK (width > 0),
    height        integer NOT NULL CHECK (height > 0),
    tile_size     integer NOT NULL DEFAULT 256 CHECK (tile_size BETWEEN 16 AND 4096),
    created_at    timestamptz NOT NULL DEFAULT now(),
    tiles_x       integer GENERATED ALWAYS AS ((width + tile_size - 1) / tile_size) STORED,
    tiles_y       integer GENERATED ALWAYS AS ((height + tile_size - 1) / tile_size) STORED,
    extent        geometry(Polygon) GENERATED ALWAYS AS (
                      ST_MakeEnvelope(origin_x, origin_y - height * pixel_size,
                                      origin_x + width * pixel_size, origin_y, srid)) STORED
);
COMMENT ON TABLE core.study_area IS 'Study areas and their reference grid (projected CRS in metres, square pixels, upper-left origin, tiles numbered row-major)';

-- Computation runs: parameters, input checksums, code version, timings, status.
CREATE TABLE core.run (
    run_id         serial PRIMARY KEY,
    study_area_id  integer NOT NULL REFERENCES core.study_area ON DELETE CASCADE,
    stage          text NOT NULL,
    label          text,
    status         text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'succeeded', 'failed')),
    params         jsonb NOT NULL DEFAULT '{}',
    inputs         jsonb NOT NULL DEFAULT '{}',
    input_hash     text,
    code_version   text,
    started_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    finished_at    timestamptz,
    timings        jsonb NOT NULL DEFAULT '{}',
    error          text,
    parent_run_id  integer REFERENCES core.run ON DELETE SET NULL
);
CREATE INDEX run_area_stage_idx ON core.run (study_area_id, stage, run_id DESC);
COMMENT ON TABLE core.run IS 'Each computation: stage, parameters, input checksums, code version, timings and status';

-- A raster layer stored on the study-area grid in table table_schema.table_name
-- (columns tile_id, rast). Tiles with no valid pixel are not stored. A computed
-- layer belongs to a run; source layers have run_id NULL. load_options: the
-- options of a raster load that change what is stored but have no column of
-- their own (the band read, the nodata of the source); with the source's
-- SHA-256, kind, unit, CRS and resampling they tell whether loading the same
-- name again would store the same layer (then nothing is written).
CREATE TABLE core.layer (
    layer_id       serial PRIMARY KEY,
    study_area_id  integer NOT NULL REFERENCES core.study_area ON DELETE CASCADE,
    name           text NOT NULL CHECK (name ~ '^[a-z][a-z0-9_]{0,31}$'),
    kind           text NOT NULL CHECK (kind IN ('categorical', 'continuous')),
    unit           text NOT NULL,
    pixel_type     text NOT NULL,
    nodata         double precision NOT NULL,
    table_schema   text NOT NULL,
    table_name     text NOT NULL,
    description    text,
    source_path    text,
    source_sha256  text,
    source_crs     text,
    resampling     text,
    valid_cells    bigint,
    nodata_share   double precision,
    min_value      double precision,
    max_value      double precision,
    mean_value     double precision,
    loaded_at      timestamptz NOT NULL DEFAULT now(),
    run_id         integer REFERENCES core.run ON DELETE CASCADE,
    load_options   jsonb,
    CONSTRAINT layer_area_name_run_key UNIQUE NULLS NOT DISTINCT (study_area_id, name, run_id),
    UNIQUE (table_schema, table_name)
);
COMMENT ON TABLE core.layer IS 'Raster layers of a study area: kind, unit, nodata, source file and checksum, statistics';
COMMENT ON COLUMN core.layer.load_options IS 'Options of the load that changed what was stored and have no column of their own (band, source nodata); NULL for layers loaded before they were recorded, and for computed layers';

CREATE TABLE core.layer_class_count (
    layer_id  integer NOT NULL REFERENCES core.layer ON DELETE CASCADE,
    code      integer NOT NULL,
    cells     bigint NOT NULL CHECK (cells > 0),
    PRIMARY KEY (layer_id, code)
);
COMMENT ON TABLE core.layer_class_count IS 'Cells of each class code of a categorical source layer, nodata excluded (ST_ValueCount of the whole layer), stored by the raster loader as it writes the tiles: the classes a land-use table must cover, known without reading the tiles';

-- Administrative units are versioned: loading boundaries again never deletes a
-- unit that a run's results refer to. core.admin_unit_version holds every unit
-- ever loaded; a unit replaced by a later load gets superseded_at and stays,
-- with its unit_id, for the runs that used it. core.admin_unit is the current
-- boundaries (superseded_at IS NULL): what new runs read, and what INSERT,
-- UPDATE and DELETE through it change (an automatically updatable view).
-- Results refer to core.admin_unit_version without ON DELETE CASCADE: a unit
-- that a result refers to cannot be deleted (deleting a study area still
-- deletes everything, its runs and results in the same statement).
CREATE SEQUENCE core.admin_unit_unit_id_seq AS integer;
CREATE TABLE core.admin_unit_version (
    unit_id        integer NOT NULL DEFAULT nextval('core.admin_unit_unit_id_seq'),
    study_area_id  integer NOT NULL,
    level          text NOT NULL,
    code           text NOT NULL,
    name           text,
    parent_code    text,
    province_code  text,
    repaired       boolean NOT NULL DEFAULT false,
    source_path    text,
    geom           geometry(MultiPolygon) NOT NULL,
    area_m2        double precision GENERATED ALWAYS AS (ST_Area(geom)) STORED,
    loaded_at      timestamptz NOT NULL DEFAULT now(),
    superseded_at  timestamptz,
    CONSTRAINT admin_unit_pkey PRIMARY KEY (unit_id),
    CONSTRAINT admin_unit_study_area_id_fkey FOREIGN KEY (study_area_id)
        REFERENCES core.study_area ON DELETE CASCADE,
    CONSTRAINT admin_unit_level_check CHECK (level IN ('county', 'city', 'province')),
    CONSTRAINT admin_unit_geom_check CHECK (ST_IsValid(geom) AND NOT ST_IsEmpty(geom))
);
ALTER SEQUENCE core.admin_unit_unit_id_seq OWNED BY core.admin_unit_version.unit_id;
CREATE INDEX admin_unit_geom_idx ON core.admin_unit_version USING gist (geom);
CREATE UNIQUE INDEX admin_unit_current_key ON core.admin_unit_version (study_area_id, level, code)
    WHERE superseded_at IS NULL;
COMMENT ON TABLE core.admin_unit_version IS 'Every county, city and province polygon ever loaded, in the study-area CRS; superseded_at is set when a later load replaced the unit (kept because runs refer to it); repaired = geometry was made valid on load';
COMMENT ON COLUMN core.admin_unit_version.superseded_at IS 'When a later load of the same level replaced this unit; NULL for the current boundaries';

CREATE VIEW core.admin_unit AS
SELECT unit_id, study_area_id, level, code, name, parent_code, province_code, repaired, source_path, geom, area_m2,
       loaded_at
FROM core.admin_unit_version
WHERE superseded_at IS NULL;
COMMENT ON VIEW core.admin_unit IS 'The current administrative units (core.admin_unit_version not superseded): county, city and province polygons in the study-area CRS';

-- Other zone sets (InVEST watersheds, sub-watersheds, AOIs).
CREATE TABLE core.zone (
    zone_id        serial PRIMARY KEY,
    study_area_id  integer NOT NULL REFERENCES core.study_area ON DELETE CASCADE,
    zone_set       text NOT NULL,
    code           text NOT NULL,
    name           text,
    attrs          jsonb NOT NULL DEFAULT '{}',
    source_path    text,
    geom           geometry(MultiPolygon) NOT NULL CHECK (ST_IsValid(geom) AND NOT ST_IsEmpty(geom)),
    area_m2        double precision GENERATED ALWAYS AS (ST_Area(geom)) STORED,
    UNIQUE (study_area_id, zone_set, code)
);
CREATE INDEX zone_geom_idx ON core.zone USING gist (geom);
COMMENT ON TABLE core.zone IS 'Zone sets other than administrative units (e.g. InVEST watersheds), in the study-area CRS';

-- County statistics (population, GDP, grain output ...), long form.
CREATE TABLE src.county_stat (
    study_area_id  integer NOT NULL REFERENCES core.study_area ON DELETE CASCADE,
    code           text NOT NULL,
    year           integer NOT NULL,
    variable       text NOT NULL,
    value          double precision,
    unit           text NOT NULL,
    source         text,
    loaded_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (study_area_id, code, year, variable)
);
COMMENT ON TABLE src.county_stat IS 'County statistics by administrative code and year (long form), units from param.stat_variable';
