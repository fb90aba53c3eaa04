-- 025_param_catalogue.sql: the seed rows of the coefficient, scalar and county
-- statistics catalogues, their bounds, defaults and units.
BEGIN;
SELECT plan(22);

SELECT is((SELECT count(*)::integer FROM param.coefficient), 25, '25 land-use coefficients are catalogued');
SELECT is((SELECT count(*)::integer FROM param.scalar_def), 30, '30 scalar parameters are catalogued');
SELECT is((SELECT count(*)::integer FROM param.stat_variable), 11, '11 county statistics variables are catalogued');

-- the coefficients every service kernel reads are there
SELECT set_has($$SELECT name FROM param.coefficient$$,
               $$VALUES ('lulc_veg'), ('root_depth'), ('kc'), ('c_above'), ('c_below'), ('c_soil'), ('c_dead'),
                        ('csle_b'), ('csle_e'), ('csle_t'), ('erodible'), ('food_yield'), ('rec_score'),
                        ('habitat'), ('lu_degree'), ('cropland'), ('built_up'), ('forest'), ('grassland'),
                        ('water'), ('pop_weight')$$,
               'the coefficients the services and indicators read are catalogued');

-- bounds of single rows, as 025 declares them
SELECT results_eq($$SELECT unit, min_value, max_value FROM param.coefficient WHERE name = 'kc'$$,
                  $$VALUES ('1'::text, 0::double precision, 3::double precision)$$, 'kc: unit 1, bounds 0..3');
SELECT results_eq($$SELECT min_value, max_value FROM param.coefficient WHERE name = 'root_depth'$$,
                  $$VALUES (-1::double precision, 100000::double precision)$$, 'root_depth: bounds -1..100000 mm');
SELECT results_eq($$SELECT unit, min_value, max_value FROM param.coefficient WHERE name = 'lu_degree'$$,
                  $$VALUES ('grade 1-4'::text, 1::double precision, 4::double precision)$$, 'lu_degree: grades 1..4');
SELECT results_eq($$SELECT unit, min_value, max_value FROM param.coefficient WHERE name = 'c_soil'$$,
                  $$VALUES ('t C/ha'::text, 0::double precision, 5000::double precision)$$, 'c_soil: 0..5000 t C/ha');
SELECT results_eq($$SELECT unit, min_value, max_value, default_value FROM param.scalar_def WHERE name = 'seasonality_z'$$,
                  $$VALUES ('1'::text, 0::double precision, 100::double precision, 5::double precision)$$,
                  'seasonality_z: 0..100, default 5');
SELECT results_eq($$SELECT unit, default_value FROM param.scalar_def WHERE name = 'c_food'$$,
                  $$VALUES ('t/(person*yr)'::text, 0.4::double precision)$$, 'c_food: 0.4 t per person and year');
SELECT results_eq($$SELECT min_value, max_value, default_value FROM param.scalar_def WHERE name = 'flow_routing'$$,
                  $$VALUES (1::double precision, 3::double precision, 1::double precision)$$,
                  'flow_routing: codes 1..3, default 1 (D8)');
SELECT results_eq($$SELECT min_value, max_value, default_value FROM param.scalar_def WHERE name = 'pixel_nodata_float'$$,
                  $$VALUES (NULL::double precision, NULL::double precision, -3.4028234663852886e38::double precision)$$,
                  'pixel_nodata_float: no bounds, default the lowest float32');
SELECT results_eq($$SELECT min_value, max_value FROM param.scalar_def WHERE name = 'carbon_price'$$,
                  $$VALUES (0::double precision, NULL::double precision)$$, 'carbon_price: at least 0, no upper bound');
SELECT is((SELECT unit FROM param.stat_variable WHERE name = 'gdp'), '1e4 CNY', 'gdp is in 1e4 CNY');
SELECT is((SELECT unit FROM param.stat_variable WHERE name = 'population'), 'persons', 'population is in persons');

-- invariants of every row
SELECT is_empty($$SELECT name FROM param.coefficient WHERE min_value > max_value
                  UNION ALL SELECT name FROM param.scalar_def WHERE min_value > max_value$$,
                'no catalogue row has min_value > max_value');
SELECT is_empty($$SELECT name FROM param.scalar_def
                  WHERE default_value < min_value OR default_value > max_value$$,
                'every scalar default lies within its bounds');
SELECT is_empty($$SELECT name FROM param.coefficient
                  WHERE unit = 'flag' AND (min_value IS DISTINCT FROM 0 OR max_value IS DISTINCT FROM 1)$$,
                'every flag coefficient is bounded to 0..1');
SELECT set_eq($$SELECT name FROM param.coefficient WHERE unit = 'flag'$$,
              $$VALUES ('lulc_veg'), ('erodible'), ('cropland'), ('built_up'), ('forest'), ('grassland'), ('water'),
                       ('eco_land')$$, 'the flag coefficients');
SELECT is_empty($$SELECT name FROM param.coefficient WHERE description = '' OR unit = ''
                  UNION ALL SELECT name FROM param.scalar_def WHERE description = '' OR unit = ''
                  UNION ALL SELECT name FROM param.stat_variable WHERE description = '' OR unit = ''$$,
                'every catalogue row has a unit and a description');
SELECT is_empty($$SELECT name FROM param.coefficient WHERE used_by IS NULL OR reference IS NULL
                  UNION ALL SELECT name FROM param.scalar_def WHERE used_by IS NULL OR reference IS NULL$$,
                'every coefficient and scalar names its model and its reference');
SELECT is_empty($$SELECT name FROM param.coefficient WHERE min_value IS NULL OR max_value IS NULL$$,
                'every coefficient has both bounds');

SELECT * FROM finish();
ROLLBACK;
