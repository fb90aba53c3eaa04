-- 074_pattern_collaboration.sql
-- Zoning collaboration of a pattern run (docs/models/pattern.md#zoning-collaboration):
-- the corridor areas, what every source and corridor holds in each county, the
-- links between counties (shared boundary, corridors crossing from one into
-- the other, shared sources, complementary supply and demand) and the
-- collaboration units formed from the strong links. Geometry is in the
-- study-area CRS. The counties are those of the zoning run the pattern read.

-- The area of each least-cost corridor: corridor-grid cells with NLCC at most the
-- cutoff, each cell given to the corridor of least NLCC (the mosaic by minimum).
CREATE TABLE result.pattern_corridor_area (
    id           integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id       integer NOT NULL REFERENCES core.run ON DELETE CASCADE,
    corridor_id  integer NOT NULL,
    cells        integer NOT NULL CHECK (cells > 0),
    area_m2      double precision NOT NULL CHECK (area_m2 > 0),
    geom         geometry(MultiPolygon) NOT NULL,
    UNIQUE (run_id, corridor_id),
    FOREIGN KEY (run_id, corridor_id) REFERENCES result.pattern_corridor (run_id, corridor_id) ON DELETE CASCADE
);
CREATE INDEX pattern_corridor_area_geom_idx ON result.pattern_corridor_area USING gist (geom);
COMMENT ON TABLE result.pattern_corridor_area IS 'Corridor areas of a pattern run: the corridor-grid cells with NLCC at most pattern.corridor_width x LCD, each given to the corridor of least NLCC; cells and area (m2)';

-- What a source or corridor holds in each county of the zoning run.
CREATE TABLE result.pattern_crossing (
    id          integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id      integer NOT NULL REFERENCES core.run ON DELETE CASCADE,
    element     text NOT NULL CHECK (element IN ('source', 'corridor')),
    element_id  integer NOT NULL,
    unit_id     integer NOT NULL REFERENCES core.admin_unit_version,
    length_m    double precision CHECK (length_m >= 0),
    area_m2     double precision CHECK (area_m2 >= 0),
    share       double precision NOT NULL CHECK (share >= 0 AND share <= 1.000001),
    first_at    double precision CHECK (first_at >= 0 AND first_at <= 1),
    UNIQUE (run_id, element, element_id, unit_id)
);
CREATE INDEX pattern_crossing_unit_idx ON result.pattern_crossing (run_id, unit_id);
COMMENT ON TABLE result.pattern_crossing IS 'Per pattern run, source or corridor, and county: the corridor''s path length (m) and corridor area (m2) in the county, or the source''s area (m2); share = part of the path length (corridor; area when the path has no length) or of the source area in the county; first_at = where the path first enters the county (fraction of its length from source_a)';

-- Links between two counties (unit_a < unit_b).
CREATE TABLE result.pattern_county_link (
    id                 integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id             integer NOT NULL REFERENCES core.run ON DELETE CASCADE,
    unit_a             integer NOT NULL REFERENCES core.admin_unit_version,
    unit_b             integer NOT NULL REFERENCES core.admin_unit_version,
    shared_boundary_m  double precision NOT NULL CHECK (shared_boundary_m >= 0),
    corridors          integer[] NOT NULL,
    corridor_gravity   double precision NOT NULL CHECK (corridor_gravity >= 0),
    sources            integer[] NOT NULL,
    shared_source_m2   double precision NOT NULL CHECK (shared_source_m2 >= 0),
    complementary      text[] NOT NULL,
    services_compared  integer NOT NULL CHECK (services_compared >= 0),
    corridor_term      double precision,
    source_term        double precision,
    complement_term    double precision,
    weight             double precision,
    strong             boolean,
    CHECK (unit_a < unit_b),
    UNIQUE (run_id, unit_a, unit_b)
);
COMMENT ON TABLE result.pattern_county_link IS 'Links between two counties of a pattern run: shared boundary (m), corridors whose path crosses from one into the other and the sum of their gravity G, sources both hold and the smaller of their two parts (m2, summed), services for which one is in surplus and the other in deficit (of the services both have a class for; adjacent counties only), the three terms scaled to 0-1, the weight and whether it is strong (above pattern.min_link_weight)';

-- Collaboration units: groups of counties linked by strong links.
CREATE TABLE result.pattern_collab_unit (
    id                 integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id             integer NOT NULL REFERENCES core.run ON DELETE CASCADE,
    unit_no            integer NOT NULL CHECK (unit_no > 0),
    counties           integer NOT NULL CHECK (counties >= 2),
    provinces          text[] NOT NULL,
    cities             text[] NOT NULL,
    zone_codes         text[] NOT NULL,
    corridors          integer[] NOT NULL,
    sources            integer[] NOT NULL,
    corridor_length_m  double precision NOT NULL,
    barrier_nodes      integer NOT NULL,
    area_m2            double precision NOT NULL,
    UNIQUE (run_id, unit_no)
);
COMMENT ON TABLE result.pattern_collab_unit IS 'Collaboration units of a pattern run (numbered by decreasing size): member counties, provinces and cities involved, restoration zones of the members, corridors and sources shared by two members or more, length (m) of those corridors inside the unit, barrier nodes on them inside the unit, and the unit area (m2)';

-- Every county of the zoning run, with its collaboration unit or why it has none.
CREATE TABLE result.pattern_collab_member (
    id         integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id     integer NOT NULL REFERENCES core.run ON DELETE CASCADE,
    unit_id    integer NOT NULL REFERENCES core.admin_unit_version,
    unit_no    integer,
    zone_code  text,
    reason     text,
    CHECK ((unit_no IS NULL) = (reason IS NOT NULL)),
    UNIQUE (run_id, unit_id),
    FOREIGN KEY (run_id, unit_no) REFERENCES result.pattern_collab_unit (run_id, unit_no) ON DELETE CASCADE
);
COMMENT ON TABLE result.pattern_collab_member IS 'Every county of the zoning run a pattern run read: its collaboration unit, its restoration zone, or why it belongs to no unit';

-- result.pattern_cross_boundary(run, zoning run, tolerance m, minimum shared m): fill
-- result.pattern_crossing, the county of each node (result.pattern_node.unit_id)
-- and the links of result.pattern_county_link (without terms and weight) of
-- pattern run p_run, over the counties of zoning run p_zoning_run. Two counties
-- share the stretches of a's boundary within p_tolerance of b (real boundaries
-- rarely meet exactly), each shortened by 2 x p_tolerance (what the tolerance
-- adds at its two ends); counties sharing less than p_min_shared are not
-- adjacent (a corner where they meet at an angle other than 90 degrees leaves
-- a few metres: rook adjacency). A corridor crosses from a into b where its
-- path, cut by the counties and ordered along itself, passes from a piece in a
-- to a piece in b (a gap between counties in between does not matter).
-- Links join adjacent counties and counties a corridor crosses between; a
-- source both hold counts for adjacent counties (far parts of a large source
-- are joined through the counties between them). Complementarity compares the
-- deficit/surplus ranks of the ratios run of the zoning run, per service (not
-- the combined CESD), for adjacent counties. Returns the number of links.
CREATE FUNCTION result.pattern_cross_boundary(p_run integer, p_zoning_run integer, p_tolerance double precision,
                                              p_min_shared double precision)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    n integer;
    ratios integer;
BEGIN
    SELECT ratios_run_id INTO ratios FROM result.analysis_run WHERE run_id = p_zoning_run;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'run % is not a succeeded zoning run', p_zoning_run;
    END IF;
    DELETE FROM result.pattern_county_link WHERE run_id = p_run;
    DELETE FROM result.pattern_crossing WHERE run_id = p_run;
    CREATE TEMPORARY TABLE pattern_units ON COMMIT DROP AS
        SELECT u.unit_id, u.geom, ST_Boundary(u.geom) AS outline, ST_Buffer(u.geom, p_tolerance) AS grown
        FROM result.county_zone cz JOIN core.admin_unit_version u USING (unit_id)
        WHERE cz.run_id = p_zoning_run;
    CREATE INDEX ON pattern_units USING gist (geom);
    ANALYZE pattern_units;

    -- corridors: path pieces per county, ordered along the path
    CREATE TEMPORARY TABLE pattern_pieces ON COMMIT DROP AS
        SELECT c.corridor_id, u.unit_id, ST_Length(d.geom) AS length_m,
               least(ST_LineLocatePoint(c.geom, ST_StartPoint(d.geom)),
                     ST_LineLocatePoint(c.geom, ST_EndPoint(d.geom))) AS at
        FROM result.pattern_corridor c
        JOIN pattern_units u ON ST_Intersects(c.geom, u.geom)
        CROSS JOIN LATERAL ST_Dump(ST_CollectionExtract(ST_Intersection(c.geom, u.geom), 2)) d
        WHERE c.run_id = p_run AND ST_Length(d.geom) > 0;
    INSERT INTO result.pattern_crossing (run_id, element, element_id, unit_id, length_m, area_m2, share, first_at)
    SELECT p_run, 'corridor', coalesce(p.corridor_id, a.corridor_id), coalesce(p.unit_id, a.unit_id),
           coalesce(p.length_m, 0), coalesce(a.area_m2, 0),
           CASE WHEN c.length > 0 THEN least(coalesce(p.length_m, 0) / c.length, 1)
                WHEN ca.area > 0 THEN least(coalesce(a.area_m2, 0) / ca.area, 1) ELSE 0 END,
           p.first_at
    FROM (SELECT corridor_id, unit_id, sum(length_m ORDER BY at, length_m) AS length_m, least(min(at), 1) AS first_at
          FROM pattern_pieces GROUP BY corridor_id, unit_id) p
    FULL JOIN (SELECT ca.corridor_id, u.unit_id, ST_Area(ST_Intersection(ca.geom, u.geom)) AS area_m2
               FROM result.pattern_corridor_area ca JOIN pattern_units u ON ST_Intersects(ca.geom, u.geom)
               WHERE ca.run_id = p_run) a ON a.corridor_id = p.corridor_id AND a.unit_id = p.unit_id
    JOIN LATERAL (SELECT ST_Length(geom) AS length FROM result.pattern_corridor
                  WHERE run_id = p_run AND corridor_id = coalesce(p.corridor_id, a.corridor_id)) c ON true
    LEFT JOIN LATERAL (SELECT area_m2 AS area FROM result.pattern_corridor_area
                       WHERE run_id = p_run AND corridor_id = coalesce(p.corridor_id, a.corridor_id)) ca ON true
    WHERE coalesce(p.length_m, 0) > 0 OR coalesce(a.area_m2, 0) > 0;

    -- sources: area per county
    INSERT INTO result.pattern_crossing (run_id, element, element_id, unit_id, area_m2, share)
    SELECT p_run, 'source', s.source_id, u.unit_id, x.area_m2, least(x.area_m2 / ST_Area(s.geom), 1)
    FROM result.pattern_source s
    JOIN pattern_units u ON ST_Intersects(s.geom, u.geom)
    CROSS JOIN LATERAL (SELECT ST_Area(ST_Intersection(s.geom, u.geom)) AS area_m2) x
    WHERE s.run_id = p_run AND x.area_m2 > 0;

    -- nodes: the county holding the point, else the nearest within the tolerance plus one corridor cell
    UPDATE result.pattern_node n
    SET unit_id = (SELECT u.unit_id FROM pattern_units u
                   WHERE ST_DWithin(u.geom, n.geom, p_tolerance + nw.cell_m)
                   ORDER BY ST_Distance(u.geom, n.geom), u.unit_id LIMIT 1)
    FROM result.pattern_network nw
    WHERE n.run_id = p_run AND nw.run_id = p_run;

    -- links
    INSERT INTO result.pattern_county_link (run_id, unit_a, unit_b, shared_boundary_m, corridors, corridor_gravity,
                                            sources, shared_source_m2, complementary, services_compared)
    WITH adjacent AS (
        SELECT a.unit_id AS unit_a, b.unit_id AS unit_b,
               (SELECT coalesce(sum(greatest(ST_Length(d.geom) - 2 * p_tolerance, 0) ORDER BY d.path), 0)
                FROM ST_Dump(ST_LineMerge(ST_CollectionExtract(ST_Intersection(a.outline, b.grown), 2))) d) AS boundary_m
        FROM pattern_units a JOIN pattern_units b ON a.unit_id < b.unit_id AND ST_DWithin(a.geom, b.geom, p_tolerance)
    ), steps AS (
        SELECT corridor_id, unit_id, lag(unit_id) OVER (PARTITION BY corridor_id ORDER BY at, unit_id) AS before
        FROM pattern_pieces
    ), crossed AS (
        SELECT least(s.unit_id, s.before) AS unit_a, greatest(s.unit_id, s.before) AS unit_b,
               array_agg(DISTINCT s.corridor_id ORDER BY s.corridor_id) AS corridors
        FROM steps s WHERE s.before IS NOT NULL AND s.before <> s.unit_id
        GROUP BY 1, 2
    ), crossed_g AS (
        SELECT x.unit_a, x.unit_b, x.corridors,
               coalesce(sum(c.gravity ORDER BY c.corridor_id) FILTER (WHERE c.gravity < 'infinity'::float8), 0) AS gravity
        FROM crossed x JOIN result.pattern_corridor c ON c.run_id = p_run AND c.corridor_id = ANY (x.corridors)
        GROUP BY x.unit_a, x.unit_b, x.corridors
    ), shared AS (
        SELECT a.unit_id AS unit_a, b.unit_id AS unit_b,
               array_agg(a.element_id ORDER BY a.element_id) AS sources, sum(least(a.area_m2, b.area_m2) ORDER BY a.element_id) AS area_m2
        FROM result.pattern_crossing a
        JOIN result.pattern_crossing b ON b.run_id = a.run_id AND b.element = 'source'
                                       AND b.element_id = a.element_id AND a.unit_id < b.unit_id
        WHERE a.run_id = p_run AND a.element = 'source'
        GROUP BY 1, 2
    ), pairs AS (
        SELECT unit_a, unit_b FROM adjacent WHERE boundary_m > 0 AND boundary_m >= p_min_shared
        UNION SELECT unit_a, unit_b FROM crossed_g
    )
    SELECT p_run, p.unit_a, p.unit_b,
           CASE WHEN ad.boundary_m > 0 AND ad.boundary_m >= p_min_shared THEN ad.boundary_m ELSE 0 END,
           coalesce(cg.corridors, '{}'), coalesce(cg.gravity, 0),
           coalesce(sh.sources, '{}'), coalesce(sh.area_m2, 0),
           coalesce(cm.complementary, '{}'), coalesce(cm.compared, 0)
    FROM pairs p
    LEFT JOIN adjacent ad ON ad.unit_a = p.unit_a AND ad.unit_b = p.unit_b
    LEFT JOIN crossed_g cg ON cg.unit_a = p.unit_a AND cg.unit_b = p.unit_b
    LEFT JOIN shared sh ON sh.unit_a = p.unit_a AND sh.unit_b = p.unit_b
    LEFT JOIN LATERAL (
        SELECT coalesce(array_agg(ra.service ORDER BY ra.service)
                        FILTER (WHERE sign(ra.balance_rank) * sign(rb.balance_rank) < 0), '{}') AS complementary,
               count(*)::integer AS compared
        FROM result.county_ratio ra
        JOIN result.county_ratio rb ON rb.run_id = ra.run_id AND rb.service = ra.service AND rb.unit_id = p.unit_b
        WHERE ra.run_id = ratios AND ra.unit_id = p.unit_a AND ra.service <> 'combined'
          AND ra.balance_rank IS NOT NULL AND rb.balance_rank IS NOT NULL
          AND ad.boundary_m > 0 AND ad.boundary_m >= p_min_shared) cm ON true
    ORDER BY p.unit_a, p.unit_b;
    GET DIAGNOSTICS n = ROW_COUNT;
    DROP TABLE pattern_pieces;
    DROP TABLE pattern_units;
    RETURN n;
END $$;
COMMENT ON FUNCTION result.pattern_cross_boundary(integer, integer, double precision, double precision) IS 'Fill the county crossings of the sources and corridors of a pattern run, the county of its nodes and its county links (without terms and weight), over the counties of a zoning run; shared boundary = stretches of a''s boundary within p_tolerance (m) of b, each less 2 x p_tolerance, adjacent from p_min_shared (m) on; returns the number of links';

-- result.pattern_describe_units(run): the attributes of the collaboration units of
-- pattern run p_run from its members (result.pattern_collab_member, with
-- unit_no set) and crossings: provinces and cities (parent codes) of the
-- members, their restoration zones, the corridors and sources held by two
-- members or more, the path length of those corridors inside the unit, the
-- barrier nodes on them inside the unit, and the unit area. Returns the number
-- of units.
CREATE FUNCTION result.pattern_describe_units(p_run integer) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    n integer;
BEGIN
    UPDATE result.pattern_collab_unit cu
    SET counties = d.counties, provinces = d.provinces, cities = d.cities, zone_codes = d.zone_codes,
        corridors = d.corridors, sources = d.sources, corridor_length_m = d.corridor_length_m,
        barrier_nodes = d.barrier_nodes, area_m2 = d.area_m2
    FROM (
        SELECT m.unit_no, count(*)::integer AS counties,
               coalesce(array_agg(DISTINCT u.province_code ORDER BY u.province_code)
                            FILTER (WHERE u.province_code IS NOT NULL), '{}') AS provinces,
               coalesce(array_agg(DISTINCT u.parent_code ORDER BY u.parent_code)
                            FILTER (WHERE u.parent_code IS NOT NULL), '{}') AS cities,
               coalesce(array_agg(DISTINCT m.zone_code ORDER BY m.zone_code)
                            FILTER (WHERE m.zone_code IS NOT NULL), '{}') AS zone_codes,
               sum(u.area_m2 ORDER BY u.unit_id) AS area_m2,
               (SELECT coalesce(array_agg(e.element_id ORDER BY e.element_id), '{}') FROM (
                    SELECT x.element_id FROM result.pattern_crossing x
                    JOIN result.pattern_collab_member mm ON mm.run_id = x.run_id AND mm.unit_id = x.unit_id
                    WHERE x.run_id = p_run AND x.element = 'corridor' AND mm.unit_no = m.unit_no AND x.length_m > 0
                    GROUP BY x.element_id HAVING count(*) >= 2) e) AS corridors,
               (SELECT coalesce(array_agg(e.element_id ORDER BY e.element_id), '{}') FROM (
                    SELECT x.element_id FROM result.pattern_crossing x
                    JOIN result.pattern_collab_member mm ON mm.run_id = x.run_id AND mm.unit_id = x.unit_id
                    WHERE x.run_id = p_run AND x.element = 'source' AND mm.unit_no = m.unit_no
                    GROUP BY x.element_id HAVING count(*) >= 2) e) AS sources,
               0::double precision AS corridor_length_m, 0 AS barrier_nodes
        FROM result.pattern_collab_member m
        JOIN core.admin_unit_version u ON u.unit_id = m.unit_id
        WHERE m.run_id = p_run AND m.unit_no IS NOT NULL
        GROUP BY m.unit_no) d
    WHERE cu.run_id = p_run AND cu.unit_no = d.unit_no;
    UPDATE result.pattern_collab_unit cu
    SET corridor_length_m = coalesce((
            SELECT sum(x.length_m ORDER BY x.element_id, x.unit_id) FROM result.pattern_crossing x
            JOIN result.pattern_collab_member m ON m.run_id = x.run_id AND m.unit_id = x.unit_id
            WHERE x.run_id = p_run AND x.element = 'corridor' AND m.unit_no = cu.unit_no
              AND x.element_id = ANY (cu.corridors)), 0),
        barrier_nodes = (
            SELECT count(*) FROM result.pattern_node nd
            JOIN result.pattern_collab_member m ON m.run_id = nd.run_id AND m.unit_id = nd.unit_id
            WHERE nd.run_id = p_run AND nd.kind = 'barrier' AND m.unit_no = cu.unit_no
              AND nd.corridors && cu.corridors)
    WHERE cu.run_id = p_run;
    SELECT count(*) INTO n FROM result.pattern_collab_unit WHERE run_id = p_run;
    RETURN n;
END $$;
COMMENT ON FUNCTION result.pattern_describe_units(integer) IS 'Fill the attributes of the collaboration units of a pattern run from its members and crossings; returns the number of units';
