"""``restore-db compute``: ecosystem services, ratios, resilience, zoning, or all of them.

The computation modules (and the study areas, which need pyproj and numpy) are imported by the commands that
run them, so that other commands (and errors in the settings) do not wait for numpy, scipy and pandas to load.
"""

from __future__ import annotations

import typer

from restore_db.errors import InputError
from restore_db.stages import settings
from restore_db.cli._common import StudyAreaOption, WorkersOption, err, session

ConfigOption = typer.Option(None, "--config", help="TOML file of analysis settings (only the keys that change; "
                            "see `restore-db compute settings`).")
ForceOption = typer.Option(False, "--force", help="Compute even when a run with the same inputs and settings exists.")
LabelOption = typer.Option(None, "--run-label", help="A label for the run(s).")
ServicesRunOption = typer.Option(None, "--services-run",
                                 help="Services run to read (default: newest complete).")
EngineOption = typer.Option(None, "--engine", help="auto (default), server (PL/Python) or client.",
                            envvar="RESTORE_DB_ENGINE")
# The parameter choice of the services, the same flags wherever land-use or scalar parameters are read.
ParamsOption = typer.Option(None, "--params", help="Land-use parameter set(s) to prefer, in order (repeatable; "
                            "default: the one table that holds the coefficients).")
ScalarsOption = typer.Option(None, "--scalars", help="Scalar parameter set (default: newest, then defaults).")
YearOption = typer.Option(None, "--year", help="Year of the county statistics (default: newest).")

app = typer.Typer(help="Run computations (each run is recorded in core.run).", no_args_is_help=True)


@app.command()
def services(
    service: list[str] = typer.Option(None, "--service", help="Service to compute (repeatable; default all five)."),
    run_label: str = LabelOption,
    params: list[str] = ParamsOption,
    scalars: str = ScalarsOption,
    year: int = YearOption,
    engine: str = EngineOption,
    workers: int = WorkersOption,
    side: list[str] = typer.Option(None, "--side", help="supply and/or demand (repeatable; default both)."),
    steps: bool = typer.Option(False, "--steps", help="Also print the time of every step."),
    study_area: str = StudyAreaOption,
) -> None:
    """Supply and demand of the ecosystem services per pixel and per county."""
    from restore_db.grid import studyarea
    from restore_db.stages.services.stage import compute_services

    with session(workers=workers) as conn, conn.transaction():
        area = studyarea.get(conn, study_area)
        with _progress() as progress:
            run_id, results = compute_services(conn, area, service or None, run_label, params or None, scalars,
                                               progress, engine, year, tuple(side or ("supply", "demand")))
        warnings = conn.execute("SELECT timings->'warnings', timings->>'engine' FROM core.run WHERE run_id = %s",
                                (run_id,)).fetchone()
        _param_sets(conn, run_id)
    for r in results:
        counties = ", ".join(f"{k} {v}" for k, v in r.counties.items())
        err.print(f"{r.service:11} {r.cells:>12,} cells {r.seconds:7.2f} s "
                  f"{r.cells_per_second / 1e6:7.1f} M cells/s  (counties: {counties})")
        if steps:
            for s in r.steps:
                _step_line(s)
    for w in warnings[0] or []:
        err.print(f"[yellow]warning:[/] {w}")
    err.print(f"run {run_id} succeeded ({warnings[1]} engine)")


def _step_line(s) -> None:
    """One step of a services run: time, speed, cores used (CPU seconds of this process and of the server's kernel
    functions per wall second) and the connections its tiles were computed on."""
    rate = f"{s.cells_per_second / 1e6:7.1f} M cells/s" if s.cells else " " * 17
    err.print(f"    {s.label:44} {s.seconds:7.2f} s {rate}  {s.cores:4.2f} cores  {s.workers} worker(s)",
              highlight=False)


class _progress:
    """A rich progress display on a terminal; the object is the ``progress(name, n, total)`` callback, which tile
    workers and the background grid step call from their threads. The display starts with the first step that
    reports, so a command that fails before computing prints nothing but its error line; when stderr is not a
    terminal there is no display (it would leave an empty line)."""

    def __enter__(self):
        import threading

        self.bar = None
        self.closed = False
        self.tasks = {}
        self.lock = threading.Lock()
        return self

    def __call__(self, name, n, total):
        if not err.is_terminal:
            return
        with self.lock:
            if self.closed:
                return
            if self.bar is None:
                from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

                self.bar = Progress(TextColumn("{task.description:28}"), BarColumn(),
                                    TextColumn("{task.completed}/{task.total}"),
                                    TimeElapsedColumn(), console=err, transient=True)
                self.bar.__enter__()
            if name not in self.tasks:
                self.tasks[name] = self.bar.add_task(name[:28], total=total)
            self.bar.advance(self.tasks[name], n)

    def __exit__(self, *exc):
        with self.lock:
            self.closed = True
            return self.bar.__exit__(*exc) if self.bar is not None else None


def _param_sets(conn, services_run: int) -> None:
    """Print the parameter sets each service of a services run read."""
    (used,) = conn.execute("SELECT timings->'param_sets' FROM core.run WHERE run_id = %s", (services_run,)).fetchone()
    if used:
        err.print("parameter sets: " + "; ".join(f"{s} {', '.join(sets) or 'defaults only'}"
                                                 for s, sets in used.items()), highlight=False)


def _report(conn, outcomes) -> None:
    """One line per stage, then the warnings its run recorded (a reused run's too)."""
    for o in outcomes:
        what = "reused (same inputs and settings)" if o.skipped else "computed"
        read = conn.execute("SELECT stage, input_run_id FROM core.run_input WHERE run_id = %s ORDER BY input_run_id",
                            (o.run_id,)).fetchall()
        reads = f"  reads {', '.join(f'{s} run {r}' for s, r in read)}" if read else ""
        err.print(f"{o.stage:11} run {o.run_id:<6} {what:34} {o.seconds:7.2f} s{reads}", highlight=False)
        (warnings,) = conn.execute("SELECT coalesce(timings->'warnings', '[]') FROM core.run WHERE run_id = %s",
                                   (o.run_id,)).fetchone()
        for w in warnings:
            err.print(f"  [yellow]warning:[/] {w}", highlight=False)


def _zone_table(conn, zoning_run: int) -> None:
    from rich.table import Table

    rows = conn.execute("""SELECT display_code, zone_code, name_en, counties, area_share FROM result.zone
                           WHERE run_id = %s ORDER BY display_code""", (zoning_run,)).fetchall()
    table = Table(title=f"Restoration zones (run {zoning_run})")
    for col, justify in (("zone", "left"), ("code", "left"), ("name", "left"), ("counties", "right"),
                         ("area share %", "right")):
        table.add_column(col, justify=justify)
    for display, code, name, counties, share in rows:
        table.add_row(display, code, name, str(counties), f"{share:.2f}")
    err.print(table)


@app.command("all")
def all_(
    config: str = ConfigOption,
    force: bool = ForceOption,
    run_label: str = LabelOption,
    engine: str = EngineOption,
    workers: int = WorkersOption,
    params: list[str] = ParamsOption,
    scalars: str = ScalarsOption,
    year: int = YearOption,
    report: bool = typer.Option(True, "--report/--no-report", help="End with the HTML report of the analysis "
                                "(<home>/reports/<area>-zoning-<run>.<lang>.html; `restore-db report` for more)."),
    report_lang: str = typer.Option("en", "--report-lang", help="Language of the report: en or zh."),
    steps: bool = typer.Option(False, "--steps", help="Also print every step of the services run: time, speed, "
                               "cores used and workers."),
    study_area: str = StudyAreaOption,
) -> None:
    """Services -> ratios -> resilience -> zoning -> pattern -> QGIS project -> report; a stage whose inputs and
    settings did not change is reused.

    Parameter sets are chosen as by `compute services`, with the same --params, --scalars and --year. The report is
    written after the stages' results are committed, so a report that cannot be written loses no result. The QGIS
    project of the analysis (`export qgis`) is stored in bi.qgis_projects under the study area's name.
    """
    from restore_db.publish.report.i18n import LANGS

    report_lang = report_lang.lower()
    if report_lang not in LANGS:
        raise InputError(f"--report-lang: unknown language {report_lang!r}; use one of {', '.join(LANGS)}")
    cfg = settings.load(config)
    from restore_db.grid import studyarea
    from restore_db.stages import pipeline

    with session(workers=workers) as conn, conn.transaction():
        area = studyarea.get(conn, study_area)
        with _progress() as progress:
            outcomes = pipeline.run_all(conn, area, cfg, force=force, label=run_label, engine=engine,
                                        progress=progress,
                                        services_options={"params": params or None, "scalars": scalars,
                                                          "stats_year": year})
        _param_sets(conn, outcomes[0].run_id)
        _report(conn, outcomes)
        if steps:
            for r in outcomes[0].detail or []:
                err.print(f"  {r.service}", highlight=False)
                for step in r.steps:
                    _step_line(step)
        for name, why in outcomes.skipped.items():
            err.print(f"{name:11} left out: {why}", highlight=False)
        zoning_run = next(o.run_id for o in outcomes if o.stage == "zoning")
        _zone_table(conn, zoning_run)
        _pattern_line(conn, next((o.run_id for o in outcomes if o.stage == "pattern"), None))
    err.print(f"zoning run {zoning_run} succeeded; all stages in {sum(o.seconds for o in outcomes):.2f} s")
    _publish(area.name, zoning_run, report, report_lang)


def _publish(area_name: str, zoning_run: int, report: bool, lang: str) -> None:
    """The last steps of `compute all`, after the results are committed: the QGIS project of the analysis in
    bi.qgis_projects (a project saved there from QGIS is kept: a warning says so), then the report."""
    from restore_db.errors import RestoreDbError
    from restore_db.grid import studyarea
    from restore_db.publish import qgis_project

    with session(start=False) as conn, conn.transaction():
        area = studyarea.get(conn, area_name)
        try:
            with conn.transaction():
                project = qgis_project.store_project(conn, area, zoning_run)
            err.print(project.summary(), highlight=False, soft_wrap=True)
        except InputError as exc:
            err.print(f"  warning: QGIS project not stored: {exc}", highlight=False, soft_wrap=True)
    if not report:
        return
    from restore_db.cli.report import reports_folder
    from restore_db.publish.report import build_report

    try:
        with session(start=False) as conn, conn.transaction():
            info = build_report(conn, studyarea.get(conn, area_name), zoning_run=zoning_run, lang=lang,
                                folder=reports_folder())
    except RestoreDbError as exc:
        exc.args = (f"zoning run {zoning_run} and its results are saved; the report was not written: {exc}",)
        raise
    err.print(info.summary(), highlight=False, soft_wrap=True)
    print(info.path)  # the one line on stdout: where the report is


@app.command()
def ratios(
    config: str = ConfigOption,
    services_run: int = ServicesRunOption,
    force: bool = ForceOption,
    run_label: str = LabelOption,
    engine: str = EngineOption,
    workers: int = WorkersOption,
    study_area: str = StudyAreaOption,
) -> None:
    """ESDR per service, CESD, deficit/surplus classes and matching types per county (and per pixel)."""
    cfg = settings.load(config)
    from restore_db.grid import studyarea
    from restore_db.stages import pipeline

    with session(workers=workers) as conn, conn.transaction():
        area = studyarea.get(conn, study_area)
        with _progress() as progress:
            out = pipeline.run_ratios(conn, area, cfg, services_run, force=force, label=run_label, engine=engine,
                                      progress=progress)
        _report(conn, [out])
        rows = conn.execute("""SELECT matching_type, count(*) FROM result.county_ratio WHERE run_id = %s
                               AND service = 'combined' GROUP BY 1 ORDER BY 1""", (out.run_id,)).fetchall()
    err.print("combined matching types: " + ", ".join(f"{t} {n}" for t, n in rows))


@app.command()
def resilience(
    config: str = ConfigOption,
    services_run: int = ServicesRunOption,
    force: bool = ForceOption,
    run_label: str = LabelOption,
    engine: str = EngineOption,
    workers: int = WorkersOption,
    params: list[str] = ParamsOption,
    study_area: str = StudyAreaOption,
) -> None:
    """Resilience indicators, weights and index per county."""
    cfg = settings.load(config)
    from restore_db.grid import studyarea
    from restore_db.stages import pipeline

    with session(workers=workers) as conn, conn.transaction():
        area = studyarea.get(conn, study_area)
        out = pipeline.run_resilience(conn, area, cfg, services_run, force=force, label=run_label, engine=engine,
                                      params=params or None)
        _report(conn, [out])
        rows = conn.execute("""SELECT indicator, round(weight::numeric, 4) FROM result.run_indicator
                               WHERE run_id = %s ORDER BY position""", (out.run_id,)).fetchall()
    err.print("weights: " + ", ".join(f"{i} {w}" for i, w in rows))


@app.command()
def zoning(
    config: str = ConfigOption,
    ratios_run: int = typer.Option(None, "--ratios-run", help="Ratios run (default: newest)."),
    resilience_run: int = typer.Option(None, "--resilience-run",
                                       help="Resilience run (default: newest of the same services run)."),
    force: bool = ForceOption,
    run_label: str = LabelOption,
    study_area: str = StudyAreaOption,
) -> None:
    """Restoration zones: combined matching type x resilience class, with names and strategies."""
    cfg = settings.load(config)
    from restore_db.grid import studyarea
    from restore_db.stages import pipeline

    with session() as conn, conn.transaction():
        area = studyarea.get(conn, study_area)
        out = pipeline.run_zoning(conn, area, cfg, ratios_run, resilience_run, force=force, label=run_label)
        _report(conn, [out])
        _zone_table(conn, out.run_id)


def _pattern_line(conn, pattern_run: int | None) -> None:
    if pattern_run is None:
        return
    row = conn.execute("""SELECT sources, corridors, important_corridors, pc, alpha, beta, gamma, cell_m
                          FROM result.pattern_network WHERE run_id = %s""", (pattern_run,)).fetchone()
    nodes = dict(conn.execute("SELECT kind, count(*) FROM result.pattern_node WHERE run_id = %s GROUP BY kind",
                              (pattern_run,)).fetchall())

    def fmt(x):
        return "-" if x is None else f"{x:.3g}"

    err.print(f"pattern run {pattern_run} ({row[7]:g} m corridor grid): {row[0]} sources, {row[1]} corridors "
              f"({row[2]} important), nodes: " + ", ".join(f"{k} {nodes.get(k, 0)}" for k in
                                                            ("intersection", "ridge", "barrier", "pinch"))
              + f"; PC {fmt(row[3])}, alpha {fmt(row[4])}, beta {fmt(row[5])}, gamma {fmt(row[6])}",
              highlight=False)
    (together,) = conn.execute("SELECT timings #> '{summary,collaboration}' FROM core.run WHERE run_id = %s",
                               (pattern_run,)).fetchone()
    if together:
        err.print(f"collaboration: {together['cross_county_corridors']} corridors cross county boundaries "
                  f"({together['cross_province_corridors']} province), {together['cross_county_sources']} sources "
                  f"({together['cross_province_sources']}); {together['strong_links']} of {together['links']} county "
                  f"links strong; {together['units']} collaboration units of {together['counties_in_units']} "
                  f"counties, {together['counties_alone']} counties in none (bi.pattern_*)", highlight=False)
    (circuit,) = conn.execute("SELECT timings #> '{summary,circuit}' FROM core.run WHERE run_id = %s",
                              (pattern_run,)).fetchone()
    if circuit:
        err.print(f"circuit ({circuit['mode']}, {circuit['solver']} solver, current map at "
                  f"{circuit['current_cell_m']:g} m): {circuit['pinch_areas']} pinch areas, {circuit['barrier_areas']} "
                  f"barrier areas, {circuit['segments']} corridor segments: {circuit['tasks']} restoration tasks, "
                  f"{circuit['joint_tasks']} joint (bi.pattern_task)", highlight=False)


@app.command()
def pattern(
    config: str = ConfigOption,
    zoning_run: int = typer.Option(None, "--zoning-run", help="Zoning run whose counties collaborate (default: "
                                   "newest of a services run with the importance layers)."),
    services_run: int = ServicesRunOption,
    force: bool = ForceOption,
    run_label: str = LabelOption,
    params: list[str] = ParamsOption,
    workers: int = WorkersOption,
    study_area: str = StudyAreaOption,
) -> None:
    """Ecological security pattern: sources, resistance, least-cost corridors, nodes, network measures, and the
    collaboration of the counties of a zoning run."""
    cfg = settings.load(config)
    from restore_db.grid import studyarea
    from restore_db.stages import base, registry

    with session(workers=workers) as conn, conn.transaction():
        area = studyarea.get(conn, study_area)
        ctx = base.Context(conn, area, cfg, {"params": params or None}, label=run_label, force=force)
        out = base.run(registry.get("pattern"), ctx, {"zoning": zoning_run, "services": services_run})
        _report(conn, [out])
        _pattern_line(conn, out.run_id)


@app.command("stages")
def stages() -> None:
    """List the stages `compute all` runs, in order: the runs each reads, its inputs, outputs (with units) and
    settings."""
    from rich.markup import escape
    from rich.table import Table

    from restore_db.stages import registry

    table = Table(title="Stages of `compute all`, in order", show_lines=True)
    for col in ("stage", "reads runs of", "reads", "writes", "settings"):
        table.add_column(col)
    for stage in registry.stages().values():
        reads = "\n".join(f"{i.kind}: {i.name}" for i in stage.inputs) or "-"
        writes = "\n".join(f"{o.kind} {o.name}" + (f" [{o.unit}]" if o.unit else "") for o in stage.outputs)
        cells = (f"{stage.name}\n({stage.title})", ", ".join(stage.upstream) or "-", reads, writes,
                 f"[{stage.settings_key}]" if stage.settings_key else "-")
        table.add_row(*map(escape, cells))
    err.print(table)


@app.command("settings")
def show_settings() -> None:
    """Print the default analysis settings (a commented TOML file to copy and edit)."""
    from restore_db.resources import package_data

    print(package_data("analysis.toml").read_text(encoding="utf-8"), end="")
