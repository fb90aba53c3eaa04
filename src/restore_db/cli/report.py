"""``restore-db report``: the HTML report of an analysis (read-only)."""

from __future__ import annotations

from pathlib import Path

import typer

from restore_db import config
from restore_db.cli._common import StudyAreaOption, err

LangOption = typer.Option("en", "--lang", help="Language of the report: en or zh.")


def reports_folder() -> Path:
    """Where reports go when no file is given: ``<restore-db home>/reports``."""
    return config.home() / "reports"


def report(
    run: int = typer.Option(None, "--run", help="Zoning run to report (default: the current analysis)."),
    out: Path = typer.Option(None, "--out", "-o", help="HTML file to write (default: "
                             "<home>/reports/<area>-zoning-<run>.<lang>.html, replaced when it exists)."),
    lang: str = LangOption,
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing --out file."),
    study_area: str = StudyAreaOption,
) -> None:
    """Write one self-contained HTML file: maps, charts, tables and the decision rules of an analysis."""
    from restore_db import db
    from restore_db.grid import studyarea
    from restore_db.publish.report import build_report

    with db.session(start=False) as conn, conn.transaction():  # never creates nor starts the embedded database
        area = studyarea.get(conn, study_area)
        info = build_report(conn, area, out, zoning_run=run, lang=lang.lower(), overwrite=overwrite,
                            folder=None if out is not None else reports_folder())
    err.print(info.summary(), highlight=False, soft_wrap=True)
    print(info.path)
