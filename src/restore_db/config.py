"""Where the database is: one URL, from the environment or the embedded cluster.

``RESTORE_DB_URL``   any PostgreSQL URL (``postgresql://user:pw@host:port/db``).
                     When unset, restore-db uses its embedded cluster.
``RESTORE_DB_HOME``  folder of the embedded cluster's state.

The embedded cluster's folder is found by one rule (:func:`locate`), wherever
the user stands:

1. ``RESTORE_DB_HOME`` when set;
2. else the nearest folder named ``.restore-db`` in the current folder or one
   of its parents (as git finds ``.git``), so a project keeps its own database
   and every subfolder of the project finds it. Only a folder of your own is
   taken (owned by you, writable by nobody else: another user's folder could
   name the programs restore-db runs), and the search stops at your home
   folder and at the edge of the file system;
3. else the per-user default ``$XDG_DATA_HOME/restore-db`` (by default
   ``~/.local/share/restore-db``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

ENV_URL = "RESTORE_DB_URL"
ENV_HOME = "RESTORE_DB_HOME"
MARKER = ".restore-db"
DEFAULT_DBNAME = "restore"


@dataclass(frozen=True)
class Home:
    """The embedded cluster's state folder and why it was chosen.

    ``source`` is ``"env"`` (``RESTORE_DB_HOME``), ``"parent"`` (a ``.restore-db``
    folder found in the current folder or a parent) or ``"default"`` (the
    per-user location).
    """

    path: Path
    source: str

    def reason(self) -> str:
        """Why this folder: one phrase for messages and ``db status``."""
        if self.source == "env":
            return f"{ENV_HOME} is set"
        if self.source == "parent":
            return f"the nearest {MARKER} folder above the current folder"
        return f"the per-user default: {ENV_HOME} is unset and no {MARKER} folder is in the current folder or its parents"


def default_home() -> Path:
    """The per-user location: ``$XDG_DATA_HOME/restore-db``, else ``~/.local/share/restore-db``."""
    xdg = os.environ.get("XDG_DATA_HOME", "")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".local" / "share"
    return base / "restore-db"


def locate() -> Home:
    """The embedded cluster's state folder by the rule of this module's docstring."""
    env = os.environ.get(ENV_HOME, "")
    if env:
        return Home(Path(env).expanduser().absolute(), "env")
    try:
        here = Path.cwd()
    except OSError:  # the current folder was deleted
        here = None
    if here is not None:
        for candidate in _candidates(here):
            if _own_folder(candidate):
                return Home(candidate, "parent")
    return Home(default_home().absolute(), "default")


def _candidates(here: Path):
    """``.restore-db`` of ``here`` and of its parents, up to the home folder and within one file system."""
    try:
        home, device = Path.home().resolve(), here.stat().st_dev
    except (OSError, RuntimeError):
        home, device = None, None
    for folder in (here, *here.parents):
        try:
            if device is not None and folder.stat().st_dev != device:
                return
        except OSError:
            return
        yield folder / MARKER
        if home is not None and folder == home:
            return


def _own_folder(path: Path) -> bool:
    """True when ``path`` is a real folder owned by the current user (root's when root) that no other user
    may write to."""
    import stat

    try:
        st = path.lstat()
    except OSError:
        return False
    return (stat.S_ISDIR(st.st_mode) and st.st_uid == os.geteuid()
            and not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH))


def home() -> Path:
    """The embedded cluster's state folder (see :func:`locate`)."""
    return locate().path


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


def without_password(url: str) -> str:
    """The same URL with any password left out of it (for messages and ``db url --no-password``)."""
    from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.password is not None:
        userinfo, _, hostport = netloc.rpartition("@")
        netloc = userinfo.split(":", 1)[0] + "@" + hostport
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "password"])
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
