-- 050_kernels.sql
-- In-database tile kernels. The numpy modules of restore-db that compute the
-- services (kernels.wkb, kernels.formulas, kernels.catalog, kernels.tiles) are stored
-- in calc.kernel_module by the migrations and kept in step with the installed
-- package; calc.apply_kernel runs them in PL/Python next to the data, which
-- avoids shipping every tile to the client and back.
--
-- PL/Python is optional: on a server without plpython3u (or without numpy for
-- the server's python3) the table exists, the functions do not, and
-- restore-db runs the same modules on the client.

CREATE TABLE IF NOT EXISTS calc.kernel_module (
    name        text PRIMARY KEY,
    load_order  integer NOT NULL,
    source      text NOT NULL,
    sha256      text NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE calc.kernel_module IS 'Python modules executed by calc.apply_kernel (numpy + standard library), in load order';

DO $plpy$
BEGIN
    BEGIN
        CREATE EXTENSION IF NOT EXISTS plpython3u;
    EXCEPTION WHEN OTHERS THEN
        RAISE NOTICE 'plpython3u unavailable (%): kernels run on the client', SQLERRM;
        RETURN;
    END;

    -- calc.kernel_modules(): import the stored modules into the session (cached
    -- in GD, reloaded when a module's sha256 changes); returns numpy's version.
    EXECUTE $fn$
CREATE OR REPLACE FUNCTION calc.kernel_modules() RETURNS text
LANGUAGE plpython3u AS $body$
import sys, types
rows = plpy.execute("SELECT name, source, sha256 FROM calc.kernel_module ORDER BY load_order")
key = tuple(r["sha256"] for r in rows)
if GD.get("restore_db_key") != key:
    for name in [m for m in list(sys.modules) if m == "restore_db" or m.startswith("restore_db.")]:
        del sys.modules[name]
    for r in rows:
        parts = r["name"].split(".")
        for i in range(1, len(parts)):
            pkg = ".".join(parts[:i])
            if pkg not in sys.modules:
                mod = types.ModuleType(pkg)
                mod.__path__ = []
                sys.modules[pkg] = mod
                if i > 1:
                    setattr(sys.modules[".".join(parts[:i - 1])], parts[i - 1], mod)
        mod = types.ModuleType(r["name"])
        mod.__package__ = ".".join(parts[:-1])
        sys.modules[r["name"]] = mod
        exec(compile(r["source"], "<calc.kernel_module " + r["name"] + ">", "exec"), mod.__dict__)
        setattr(sys.modules[mod.__package__], parts[-1], mod)
    GD["restore_db_key"] = key
import numpy
return numpy.__version__
$body$;
$fn$;
    COMMENT ON FUNCTION calc.kernel_modules() IS 'Load the restore-db kernel modules into this session; returns the server numpy version';

    -- calc.server_cores(): the CPU cores the server may use (its affinity, within a
    -- cgroup CPU quota), the default number of tile workers of a command (restore_db.db.workers).
    EXECUTE $fn$
CREATE OR REPLACE FUNCTION calc.server_cores() RETURNS integer
LANGUAGE plpython3u AS $body$
import os
try:
    n = len(os.sched_getaffinity(0))
except (AttributeError, OSError):
    n = os.cpu_count() or 1
try:
    quota, period = open("/sys/fs/cgroup/cpu.max", encoding="ascii").read().split()[:2]
    if quota != "max":
        n = min(n, max(1, -(-int(quota) // int(period))))
except (OSError, ValueError):
    pass
return n
$body$;
$fn$;
    COMMENT ON FUNCTION calc.server_cores() IS 'CPU cores the server may use: the default number of restore-db tile workers';

    -- calc.apply_kernel(kernel, params, inputs, kernel_args, halo, tiles_x, outputs, targets,
    --                   first_row, end_row):
    -- stream the tiles of the input tables (joined on tile_id, ordered), run catalogue
    -- kernel `kernel` with `params` through restore_db.kernels.tiles.TileRunner, and
    -- insert each output tile into its target table. Inputs and targets are
    -- 'schema.table' names. With first_row and end_row, only the tiles of tile rows
    -- first_row <= row < end_row are computed (one band of a parallel run; a focal
    -- kernel also reads the rows around the band). Returns {"tiles", "cells",
    -- "seconds", "cpu_seconds" (of this backend), "outputs": {name: stats}}.
    DROP FUNCTION IF EXISTS calc.apply_kernel(text, jsonb, text[], text[], boolean, integer, text[], text[]);
    EXECUTE $fn$
CREATE OR REPLACE FUNCTION calc.apply_kernel(kernel text, params jsonb, inputs text[], kernel_args text[], halo boolean,
                                             tiles_x integer, outputs text[], targets text[],
                                             first_row integer DEFAULT NULL, end_row integer DEFAULT NULL)
RETURNS jsonb LANGUAGE plpython3u AS $body$
import json, sys, time
plpy.execute("SELECT calc.kernel_modules()")
tiles_mod = sys.modules["restore_db.kernels.tiles"]
started = time.perf_counter()
cpu = time.process_time()
band = None if first_row is None else (first_row, end_row)
runner = tiles_mod.TileRunner(kernel, json.loads(params), kernel_args, outputs, halo=halo, tiles_x=tiles_x, rows=band)
query = tiles_mod.tiles_query([t.split(".", 1) for t in inputs], id_range=runner.id_range())
plans = {o: plpy.prepare("INSERT INTO %s.%s (tile_id, rast) SELECT i, ST_RastFromWKB(b) FROM unnest($1, $2) AS u(i, b)"
                         % tuple(tiles_mod.quote_ident(p) for p in t.split(".", 1)), ["integer[]", "bytea[]"])
         for o, t in zip(outputs, targets)}

def write(items):
    by_output = {}
    for name, tile_id, blob in items:
        ids, blobs = by_output.setdefault(name, ([], []))
        ids.append(tile_id)
        blobs.append(blob)
    for name, (ids, blobs) in by_output.items():
        plpy.execute(plans[name], [ids, blobs])

n = len(inputs)
for rows in tiles_mod.batches(plpy.cursor(query).fetch):
    pending = []
    for row in rows:
        pending.extend(runner.feed(row["tile_id"], [row["b%d" % i] for i in range(n)]))
    write(pending)
write(runner.finish())
out = runner.summary()
out["seconds"] = time.perf_counter() - started
out["cpu_seconds"] = time.process_time() - cpu
return json.dumps(out)
$body$;
$fn$;
    COMMENT ON FUNCTION calc.apply_kernel(text, jsonb, text[], text[], boolean, integer, text[], text[], integer, integer)
        IS 'Run a restore-db catalogue kernel over aligned tile tables inside the server (PL/Python + numpy)';

    -- calc.zonal_stats(zones, names, tables): valid-pixel count and sum of each value
    -- table per zone id of the zone table (joined on tile_id), through
    -- restore_db.kernels.tiles.ZonalStats. Returns {name: {zone: [count, sum]}}.
    EXECUTE $fn$
CREATE OR REPLACE FUNCTION calc.zonal_stats(zones text, names text[], tables text[])
RETURNS jsonb LANGUAGE plpython3u AS $body$
import json, sys
plpy.execute("SELECT calc.kernel_modules()")
tiles_mod = sys.modules["restore_db.kernels.tiles"]
acc = tiles_mod.ZonalStats(names)
query = tiles_mod.tiles_query([t.split(".", 1) for t in [zones] + list(tables)], join="LEFT JOIN")
for rows in tiles_mod.batches(plpy.cursor(query).fetch):
    for row in rows:
        _, zarr = tiles_mod.decode_float(row["b0"])
        values = {}
        for i, name in enumerate(names):
            blob = row["b%d" % (i + 1)]
            values[name] = tiles_mod.decode_float(blob)[1] if blob is not None else zarr * float("nan")
        acc.add(zarr, values)
return json.dumps(acc.result())
$body$;
$fn$;
    COMMENT ON FUNCTION calc.zonal_stats(text, text[], text[])
        IS 'Count and sum of layers per zone id of an aligned zone layer (PL/Python + numpy)';
END
$plpy$;
