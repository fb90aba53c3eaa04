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

import datetime as dt
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

from restore_db.errors import InputError
from restore_db.grid.studyarea import StudyArea
from restore_db.publish import files
from restore_db.publish.report.i18n import LANGS



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


def check_lang(lang: str) -> None:
    """Refuse a language the report does not speak, or Chinese without a Chinese font for the maps.

    Raises:
        InputError: ``lang`` is not one of ``LANGS``; ``lang`` is 'zh' and no CJK font is installed.
    """
    if lang not in LANGS:
        raise InputError(f"report: unknown language {lang!r}; use one of {', '.join(LANGS)}")
    if lang == "zh":
        from restore_db.publish.report.figures import cjk_font

        if cjk_font() is None:
            raise InputError("report: no Chinese font for the maps of a report in Chinese: install one "
                             "(Debian: apt-get install fonts-wqy-microhei; scripts/setup.sh does)")


def render(conn: psycopg.Connection, area: StudyArea, zoning_run: int | None = None, lang: str = "en"):
    """The report's HTML text and counts: (html, data, figures, tables).

    Raises:
        InputError: ``lang`` is not 'en' or 'zh'; no succeeded zoning run; ``zoning_run`` not a zoning run of
            ``area`` (see :func:`.data.resolve_runs`).
    """
    check_lang(lang)
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
        InputError: as :func:`render` and :func:`restore_db.publish.files.check_target`; the reports folder cannot
            be made; the file cannot be written.
    """
    started = time.perf_counter()
    check_lang(lang)
    if path is None:
        if folder is None:
            raise InputError("report: give an output file (--out) or a folder")
        try:
            Path(folder).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"report: cannot make the reports folder {folder}: {exc.strerror or exc}") from exc
        from restore_db.publish.report.data import resolve_runs

        path, overwrite = default_path(folder, area, resolve_runs(conn, area, zoning_run).zoning, lang), True
    target = files.check_target(Path(path), overwrite, "report", "report.html")
    html, data, figures, tables = render(conn, area, zoning_run, lang)
    files.write_atomic(target, html.encode("utf-8"), "report")
    return ReportInfo(target, area.name, data.runs.zoning, data.runs.pattern, lang, figures, tables,
                      target.stat().st_size, time.perf_counter() - started)


def now_text() -> str:
    return dt.datetime.now(dt.timezone.utc).astimezone().strftime("%Y-%m-%d %H:%M %Z")
