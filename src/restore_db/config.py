"""Where the database is: one URL, from the environment or the embedded cluster.

``RESTORE_DB_URL``   any PostgreSQL URL (``postgresql://user:pw@host:port/db``).
                     When unset, the embedded cluster of this project folder is used.
``RESTORE_DB_HOME``  folder of the embedded cluster's state (default ``./.restore-db``).
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_URL = "RESTORE_DB_URL"
ENV_HOME = "RESTORE_DB_HOME"
DEFAULT_DBNAME = "restore"


def home() -> Path:
    """The embedded cluster's state folder."""
    return Path(os.environ.get(ENV_HOME) or (Path.cwd() / ".restore-db")).absolute()


def external_url() -> str | None:
    """The user's database URL, or None when the embedded cluster is meant."""
    url = os.environ.get(ENV_URL, "").strip()
    return url or None


def sqlalchemy_url(url: str) -> str:
    """The same URL spelled for SQLAlchemy with the psycopg 3 driver."""
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def with_dbname(url: str, dbname: str) -> str:
    """The same server URL pointing at another database."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + dbname, parts.query, parts.fragment))
