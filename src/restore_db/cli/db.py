"""``restore-db db``: the embedded cluster and schema migrations."""

from __future__ import annotations

import json
import secrets

from typing import TYPE_CHECKING

import typer

from restore_db import config
from restore_db.cli._common import confirm, err, session

if TYPE_CHECKING:
    from restore_db.db.cluster import Cluster

WHERE = (
    "The embedded database lives in RESTORE_DB_HOME when set, else in the nearest .restore-db folder of the "
    "current folder or its parents, else in $XDG_DATA_HOME/restore-db (~/.local/share/restore-db)."
)

app = typer.Typer(help="Start, stop and migrate the database. " + WHERE, no_args_is_help=True)


def _embedded() -> tuple[config.Home, Cluster]:
    from restore_db.db.cluster import Cluster

    home = config.locate()
    return home, Cluster(home.path)


@app.command()
def up() -> None:
    """Create (the first time) and start the embedded PostGIS cluster, then migrate the schema.

    The only command that creates the embedded database.

    A cluster made by an older restore-db with trust authentication is switched to passwords.

    With RESTORE_DB_URL set, only migrates that database.
    """
    from restore_db import db
    from restore_db.db import migrate

    external = config.external_url()
    if external:
        db.prepare(external)
        err.print(f"database ready at {config.without_password(external)} ({config.ENV_URL}), "
                  f"schema {migrate.current(external)}", highlight=False, soft_wrap=True, markup=False)
        return
    home, cluster = _embedded()
    created = not cluster.exists()
    cluster.start()
    for note in cluster.secure():
        err.print(note, highlight=False, soft_wrap=True, markup=False)
    url_ = db.database_url(start=False)
    db.prepare(url_)
    err.print(f"database {'created and ' if created else ''}ready at {cluster.url(with_password=False)} in "
              f"{home.path} ({home.reason()}), schema {migrate.current(url_)}; `restore-db db url` prints the "
              "URL with its password", highlight=False, soft_wrap=True, markup=False)


@app.command()
def down() -> None:
    """Stop the embedded cluster (its data is kept)."""
    if config.external_url():
        err.print(f"{config.ENV_URL} is set: restore-db does not stop external servers")
        return
    home, cluster = _embedded()
    if not cluster.exists():
        err.print(f"no embedded database in {home.path} ({home.reason()}): nothing to stop",
                  highlight=False, soft_wrap=True, markup=False)
        return
    cluster.stop()
    err.print(f"embedded database in {home.path} stopped", highlight=False, soft_wrap=True, markup=False)


@app.command()
def status(as_json: bool = typer.Option(False, "--json", help="Machine-readable output on stdout.")) -> None:
    """Which database is in use and why, is it up, and at which schema version. Never starts or creates one."""
    from restore_db.db import migrate

    external = config.external_url()
    info: dict = {}
    url_ = None
    if external:
        info.update(database="external", why=f"{config.ENV_URL} is set", url=config.without_password(external))
        url_ = external
    else:
        home, cluster = _embedded()
        info.update(database="embedded", folder=str(home.path), why=home.reason(), source=home.source)
        if not cluster.exists():
            info.update(exists=False, running=False, hint="`restore-db db up` creates it")
        else:
            running = cluster.running()
            auth = cluster.auth_method()
            info.update(exists=True, running=running, data=str(cluster.pgdata), port=cluster.port,
                        authentication=auth, url=cluster.url(with_password=False))
            if auth == "scram-sha-256":
                info["password_file"] = str(cluster.secret_file)
            elif auth is None:
                info["hint"] = f"its data folder {cluster.pgdata} is missing: restore it from a backup"
            else:
                info["hint"] = "`restore-db db up` switches it to passwords"
            if running and auth == "scram-sha-256":
                url_ = cluster.url(config.DEFAULT_DBNAME)
    if url_:
        try:
            info["schema_version"] = migrate.current(url_)
        except Exception as exc:  # the database may not exist yet, or refuse us
            info["schema_version"] = None
            info["error"] = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    info["schema_head"] = migrate.head()
    if as_json:
        typer.echo(json.dumps(info, indent=2))
    else:
        for key, value in info.items():
            err.print(f"{key:15} {value}", highlight=False, soft_wrap=True, markup=False)


@app.command()
def url(
    no_password: bool = typer.Option(False, "--no-password",
                                      help="Leave the password out (psql then asks for it, or reads ~/.pgpass)."),
) -> None:
    """Print the database URL for psql, QGIS or a BI tool.

    The URL holds the superuser's password: whoever reads it can change or delete every database of the server.

    Keep it out of shared files and screenshots; --no-password leaves it out. Never starts or creates a database.
    """
    from restore_db import db

    url_ = config.external_url() or db.database_url(start=False)
    typer.echo(config.without_password(url_) if no_password else url_)


@app.command("migrate")
def migrate_cmd() -> None:
    """Apply pending schema migrations."""
    from restore_db import db
    from restore_db.db import migrate

    url_ = db.database_url()
    db.prepare(url_)
    err.print(f"schema at {migrate.current(url_)}")


@app.command()
def destroy(yes: bool = typer.Option(False, "--yes", help="Do not ask.")) -> None:
    """Stop the embedded cluster and delete what restore-db made: pgdata, log, sock, cluster.json, secret, demo-data.

    Other files in the folder are kept.
    """
    if config.external_url():
        err.print(f"{config.ENV_URL} is set: restore-db does not delete external databases")
        raise typer.Exit(1)
    home, cluster = _embedded()
    if not cluster.exists() and not cluster.demo_dir.exists():
        err.print(f"no embedded database in {home.path} ({home.reason()}): nothing to delete",
                  highlight=False, soft_wrap=True, markup=False)
        return
    if not yes:
        confirm("db destroy", f"Delete the embedded database in {home.path} and all its data?", "nothing deleted")
    deleted = cluster.destroy()
    names = ", ".join(p.name if p.parent in (home.path, cluster.data_root) else str(p) for p in deleted)
    err.print(f"embedded database in {home.path} deleted ({names or 'nothing left'}); other files there are kept",
              highlight=False, soft_wrap=True, markup=False)


@app.command("bi-user")
def bi_user(
    name: str = typer.Argument(..., help="Name of the new login role."),
    password: str = typer.Option(None, "--password",
                                 help="Its password (default: a generated one, printed once on stdout)."),
) -> None:
    """Create a login role for a BI tool: read-only access to the bi views, nothing else.

    The role is a member of restore_bi; its defaults are search_path bi, public
    and read-only transactions. It logs in with its password.
    """
    from restore_db.publish import bi

    generated = password is None
    if generated:
        password = secrets.token_urlsafe(18)
    with session() as conn:
        bi.create_user(conn, name, password)
    err.print(f"role {name} created (member of {bi.BI_ROLE}: reads schema bi only)"
              + ("; its generated password follows on stdout (shown once)" if generated else ""))
    if generated:
        typer.echo(password)


@app.command("refresh-views")
def refresh_views() -> None:
    """Bring the bi relations up to date: county shapes, zoning runs not yet published, the current analysis."""
    from restore_db.publish import bi

    with session() as conn:
        for relation, rows, concurrent in bi.refresh(conn):
            err.print(f"{relation}: {rows} rows{' (refreshed concurrently)' if concurrent else ''}")
