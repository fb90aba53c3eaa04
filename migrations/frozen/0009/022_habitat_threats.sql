-- 022_habitat_threats.sql
-- The threats of InVEST Habitat Quality (docs/models/pattern.md#habitat-quality),
-- kept with the land-use parameter set of the sensitivity table that goes with
-- them (`load invest` of a habitat_quality datastack): one row per threat of
-- the threats table (maximum distance in metres, weight, decay, and the layer
-- holding its raster), and the sensitivity of every class to every threat.
-- The habitat suitability of a class is the catalogued coefficient `habitat`
-- (param.lulc_value). A sensitivity column is named by the user after a threat,
-- so it is not a catalogued coefficient: a foreign key ties it to a threat of
-- its own set, and a check keeps it within 0..1.

CREATE TABLE param.threat (
    param_set_id  integer NOT NULL REFERENCES param.param_set ON DELETE CASCADE,
    threat        text NOT NULL CHECK (threat <> ''),
    position      integer NOT NULL CHECK (position > 0),
    max_dist_m    double precision NOT NULL CHECK (max_dist_m > 0 AND max_dist_m < 'infinity'),
    weight        double precision NOT NULL CHECK (weight > 0 AND weight <= 1),
    decay         text NOT NULL CHECK (decay IN ('linear', 'exponential')),
    layer         text NOT NULL CHECK (layer ~ '^[a-z][a-z0-9_]{0,31}$'),
    source        text,
    PRIMARY KEY (param_set_id, threat),
    UNIQUE (param_set_id, position),
    UNIQUE (param_set_id, layer)
);
COMMENT ON TABLE param.threat IS 'Threats of InVEST Habitat Quality, per land-use parameter set (its sensitivity table): name (lower case, as InVEST reads it), order in the threats table, maximum distance of impact (m), weight (0-1], decay (linear or exponential), the source layer of its raster (0-1, nonzero = threat), source file';

CREATE TABLE param.threat_sensitivity (
    param_set_id  integer NOT NULL,
    lucode        integer NOT NULL,
    threat        text NOT NULL,
    value         double precision NOT NULL CHECK (value >= 0 AND value <= 1),
    source        text,
    PRIMARY KEY (param_set_id, lucode, threat),
    FOREIGN KEY (param_set_id, lucode) REFERENCES param.lulc_class ON DELETE CASCADE,
    FOREIGN KEY (param_set_id, threat) REFERENCES param.threat ON DELETE CASCADE
);
COMMENT ON TABLE param.threat_sensitivity IS 'Sensitivity (0-1) of each land-use class to each threat of its set (InVEST Habitat Quality sensitivity table), with its source';

-- Wide view of a lookup table, as InVEST users know it: the coefficients of
-- each class, and its threat sensitivities, as one JSON object.
CREATE OR REPLACE VIEW param.lulc_table AS
SELECT s.study_area_id, s.name AS param_set, c.lucode, c.description,
       jsonb_object_agg(v.coefficient, v.value) FILTER (WHERE v.coefficient IS NOT NULL) AS coefficients
FROM param.param_set s
JOIN param.lulc_class c USING (param_set_id)
LEFT JOIN (SELECT param_set_id, lucode, coefficient, value FROM param.lulc_value
           UNION ALL
           SELECT param_set_id, lucode, threat, value FROM param.threat_sensitivity) v USING (param_set_id, lucode)
GROUP BY s.study_area_id, s.name, c.lucode, c.description;
