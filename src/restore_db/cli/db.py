"""``restore-db db``: the embedded cluster and schema migrations."""

from __future__ import annotations

import json

import typer

from .. import bi, config, db, migrate
from ._common import err, session

app = typer.Typer(help="Start, stop and migrate the database.", no_args_is_help=True)


@app.command()
def up() -> None:
    """Start the embedded PostGIS cluster (created on first use) and migrate the schema.

    With RESTORE_DB_URL set, only migrates that database.
    """
    url = db.database_url(start=True)
    db.prepare(url)
    where = "RESTORE_DB_URL" if config.external_url() else str(db.embedded_cluster().pgdata)
    err.print(f"database ready at {url} ({where}), schema {migrate.current(url)}")


@app.command()
def down() -> None:
    """Stop the embedded cluster (its data is kept)."""
    if config.external_url():
        err.print("RESTORE_DB_URL is set: restore-db does not stop external servers")
        return
    db.embedded_cluster().stop()
    err.print("embedded database stopped")


@app.command()
def status(as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """Is the database up, where, and at which schema version."""
    external = config.external_url()
    info: dict = {"mode": "external" if external else "embedded"}
    if external:
        info["url"] = external
        info["running"] = True
    else:
        cluster = db.embedded_cluster()
        info.update(running=cluster.running(), initialised=cluster.initialised(), data=str(cluster.pgdata))
        if cluster.initialised():
            info["url"] = cluster.url()
    if info.get("running"):
        try:
            info["schema_version"] = migrate.current(info["url"])
        except Exception as exc:  # the database may not exist yet
            info["schema_version"] = None
            info["error"] = str(exc).splitlines()[0]
    info["schema_head"] = migrate.head()
    if as_json:
        typer.echo(json.dumps(info, indent=2))
    else:
        for key, value in info.items():
            err.print(f"{key:15} {value}")


@app.command()
def url() -> None:
    """Print the database URL (for psql, QGIS, BI tools)."""
    typer.echo(db.database_url(start=False) if not config.external_url() else config.external_url())


@app.command("migrate")
def migrate_cmd() -> None:
    """Apply pending schema migrations."""
    url_ = db.database_url()
    db.prepare(url_)
    err.print(f"schema at {migrate.current(url_)}")


@app.command()
def destroy(yes: bool = typer.Option(False, "--yes", help="Do not ask.")) -> None:
    """Stop the embedded cluster and delete its data."""
    if config.external_url():
        err.print("RESTORE_DB_URL is set: restore-db does not delete external databases")
        raise typer.Exit(1)
    if not yes:
        typer.confirm("Delete the embedded database and all its data?", abort=True)
    db.embedded_cluster().destroy()
    err.print("embedded database deleted")


@app.command("bi-user")
def bi_user(
    name: str = typer.Argument(..., help="Name of the new login role."),
    password: str = typer.Option(None, "--password", help="Its password (not needed with trust authentication)."),
) -> None:
    """Create a login role for a BI tool: read-only access to the bi views, nothing else.

    The role is a member of restore_bi; its defaults are search_path bi, public
    and read-only transactions.
    """
    with session() as conn:
        bi.create_user(conn, name, password)
    err.print(f"role {name} created (member of {bi.BI_ROLE}: reads schema bi only)")


@app.command("refresh-views")
def refresh_views() -> None:
    """Bring the bi relations up to date: county shapes, zoning runs not yet published, the current analysis."""
    with session() as conn:
        for relation, rows, concurrent in bi.refresh(conn):
            err.print(f"{relation}: {rows} rows{' (refreshed concurrently)' if concurrent else ''}")
