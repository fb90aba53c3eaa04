"""The report: one self-contained HTML file per analysis, for planners.

:func:`build_report` reads one zoning run (default: the study area's current analysis) and the pattern run that
read it (:mod:`.data`), draws the maps and charts (:mod:`.figures`), builds the tables (:mod:`.tables`) and the
decision rules (:mod:`.rules`), and renders ``template.html`` with Jinja2. Images are embedded as PNG data URIs
and the page carries its own CSS and sorting script, so it opens offline in any browser and can be mailed as one
file. ``lang`` is ``"en"`` or ``"zh"`` (:mod:`.i18n`; zone names from ``param.zone_type``).

The report only reads the database. The file is written to a temporary name in the target folder and renamed,
so a failure leaves no partial file; an existing file is replaced only with ``overwrite``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import psycopg

from restore_db.errors import InputError
from restore_db.grid.studyarea import StudyArea

LANGS = ("en", "zh")


@dataclass
class ReportInfo:
    """What :func:`build_report` wrote: path, size, counts of maps/charts/tables and seconds."""
    path: Path
    study_area: str
    zoning_run: int
    pattern_run: int | None
    lang: str
    figures: int
    tables: int
    bytes: int
    seconds: float

    def summary(self) -> str:
        pattern = f", pattern run {self.pattern_run}" if self.pattern_run is not None else ", no pattern run"
        return (f"report {self.path}: study area {self.study_area!r}, zoning run {self.zoning_run}{pattern}, "
                f"{self.lang}, {self.figures} maps and charts, {self.tables} tables, "
                f"{self.bytes / 1e6:.1f} MB, {self.seconds:.1f} s")


def default_path(folder: Path, area: StudyArea, zoning_run: int, lang: str) -> Path:
    """``<folder>/<area>-zoning-<run>.<lang>.html``: one file per analysis and language."""
    return Path(folder) / f"{area.name}-zoning-{zoning_run}.{lang}.html"


def check_target(path: Path, overwrite: bool) -> Path:
    """The absolute target path, after checking it can be written.

    Raises:
        InputError: ``path`` is a folder, exists without ``overwrite``, or its folder is missing or not writable.
    """
    path = Path(path).expanduser().absolute()
    if path.is_dir():
        raise InputError(f"report: output {path} is a directory; give a file name such as {path / 'report.html'}")
    if path.exists() and not overwrite:
        raise InputError(f"report: output {path} already exists; use --overwrite to replace it")
    if not path.parent.is_dir():
        raise InputError(f"report: cannot write {path}: folder {path.parent} does not exist")
    if not os.access(path.parent, os.W_OK | os.X_OK):
        raise InputError(f"report: cannot write {path}: folder {path.parent} is not writable")
    return path


def render(conn: psycopg.Connection, area: StudyArea, zoning_run: int | None = None, lang: str = "en"):
    """The report's HTML text and counts: (html, data, figures, tables).

    Raises:
        InputError: ``lang`` is not 'en' or 'zh'; no succeeded zoning run; ``zoning_run`` not a zoning run of
            ``area`` (see :func:`.data.resolve_runs`).
    """
    if lang not in LANGS:
        raise InputError(f"report: unknown language {lang!r}; use one of {', '.join(LANGS)}")
    from restore_db.publish.report import content, data as data_mod

    data = data_mod.read(conn, area, zoning_run)
    page = content.build(data, lang)
    return content.html(page), data, page.figure_count, page.table_count


def build_report(conn: psycopg.Connection, area: StudyArea, path: str | Path | None = None, *,
                 zoning_run: int | None = None, lang: str = "en", overwrite: bool = False,
                 folder: Path | None = None) -> ReportInfo:
    """Write the HTML report of ``area``'s analysis (``zoning_run`` or the current one) to ``path``.

    Args:
        path: the HTML file; None: :func:`default_path` in ``folder`` (then an existing file of the same run and
            language is replaced: it holds the same analysis).
    Raises:
        InputError: as :func:`render` and :func:`check_target`; or the file cannot be written.
    """
    started = time.perf_counter()
    if lang not in LANGS:
        raise InputError(f"report: unknown language {lang!r}; use one of {', '.join(LANGS)}")
    if path is None:
        if folder is None:
            raise InputError("report: give an output file (--out) or a folder")
        Path(folder).mkdir(parents=True, exist_ok=True)
        from restore_db.publish.report.data import resolve_runs

        path, overwrite = default_path(folder, area, resolve_runs(conn, area, zoning_run).zoning, lang), True
    target = check_target(Path(path), overwrite)
    html, data, figures, tables = render(conn, area, zoning_run, lang)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        tmp.write_text(html, encoding="utf-8")
        os.replace(tmp, target)
    except OSError as exc:
        raise InputError(f"report: cannot write {target}: {exc}") from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return ReportInfo(target, area.name, data.runs.zoning, data.runs.pattern, lang, figures, tables,
                      target.stat().st_size, time.perf_counter() - started)


def now_text() -> str:
    return dt.datetime.now(dt.timezone.utc).astimezone().strftime("%Y-%m-%d %H:%M %Z")
