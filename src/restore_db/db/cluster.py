"""The embedded PostgreSQL cluster: a private server whose state lives in one folder.

``restore-db db up`` runs ``initdb`` + ``pg_ctl`` with the machine's PostgreSQL
binaries. PostgreSQL refuses to run as root, so when we are root every server
command runs as the ``postgres`` system user (``runuser -u postgres --``), and
the data folder must be reachable by that user. When the state folder is not
(e.g. it lives below a mode-0700 home or temporary folder), the data goes to
``/var/lib/restore-db/<hash>`` and ``cluster.json`` says so.

What restore-db creates, and all that :meth:`Cluster.destroy` deletes:

* in the state folder: ``cluster.json`` (data folder, port, binaries), ``secret``
  (the superuser password, mode 0600) and ``demo-data`` (files ``restore-db demo``
  generated);
* in the data folder (the state folder, or the one ``cluster.json`` names):
  ``pgdata``, ``log`` and ``sock``.

Authentication: TCP (127.0.0.1 and ::1) requires a password (scram-sha-256) for
every role; the superuser ``postgres`` has a generated password, kept in
``secret`` and put into the URL the CLI uses. The Unix socket lives in a 0700
folder that only the server's OS user (and root) can enter; there the server's
OS user connects as ``postgres`` by peer authentication, which gives it nothing
it does not already have (it owns the data files). A cluster made with
``trust`` by an older restore-db is switched to passwords by :meth:`Cluster.secure`.

The port is chosen once, at ``initdb``, and written both to ``postgresql.conf``
and ``cluster.json``; it never moves, so saved QGIS or BI connections keep
working. When another process holds it, :meth:`Cluster.start` says which.

No command goes through a shell: paths with spaces, quotes or ``$(...)`` are
passed as arguments or written into configuration files with PostgreSQL's
quoting. ``pg_ctl start`` itself builds a shell command from its ``-D`` and
``-l`` arguments, so the data folder is given in ``PGDATA`` and the log file as
an open file instead.

The server listens on 127.0.0.1 only and is tuned for raster work: lz4 TOAST
compression (pglz costs ~60 MB/s on float tiles), large work_mem, GDAL drivers
enabled for ST_AsGDALRaster/ST_FromGDALRaster.
"""

from __future__ import annotations

import hashlib
import json
import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from restore_db.errors import DatabaseError

SERVER_USER = "postgres"
"""The OS user the server runs as when restore-db runs as root."""
SUPERUSER = "postgres"
"""The database superuser restore-db connects as."""
DATA_FALLBACK = Path("/var/lib/restore-db")
"""Parent of the data folders of state folders the server user cannot reach (root only)."""
SOCKET_PATH_MAX = 107
STATE_FILE = "cluster.json"
SECRET_FILE = "secret"
DEMO_DATA = "demo-data"
DATA_PARTS = ("pgdata", "log", "sock")

SERVER_SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "password_encryption": "'scram-sha-256'",
    "unix_socket_permissions": "0700",
    "shared_buffers": "'1GB'",
    "work_mem": "'256MB'",
    "maintenance_work_mem": "'1GB'",
    "max_wal_size": "'4GB'",
    # A single-user analysis database: no replication, so tables created and
    # filled in one transaction (every loaded or computed layer) skip the WAL.
    "wal_level": "minimal",
    "max_wal_senders": "0",
    "default_toast_compression": "'lz4'",
    "synchronous_commit": "off",
    "jit": "off",
    "max_parallel_workers_per_gather": "2",
    "postgis.gdal_enabled_drivers": "'GTiff PNG JPEG'",
    "postgis.enable_outdb_rasters": "off",
    "log_min_messages": "warning",
}

# A throw-away cluster (tests, benchmarks) may also skip durability.
THROWAWAY_SETTINGS = {"fsync": "off", "full_page_writes": "off"}

HBA_CONF = """\
# Written by restore-db. TCP needs a password (scram-sha-256) for every role;
# the Unix socket, in a folder only the server's OS user can enter, admits that
# user as the superuser (peer authentication, map in pg_ident.conf).
# TYPE  DATABASE  USER  ADDRESS        METHOD
local   all       all                  peer map=restore-db
host    all       all   127.0.0.1/32   scram-sha-256
host    all       all   ::1/128        scram-sha-256
"""
IDENT_MAP = "restore-db"


def find_bindir() -> Path:
    """The PostgreSQL server binaries (``initdb``, ``pg_ctl``).

    ``RESTORE_DB_PG_BIN`` wins; otherwise the newest ``/usr/lib/postgresql/*/bin``
    (Debian/Ubuntu), then ``pg_config --bindir``, then ``PATH``.

    Raises:
        DatabaseError: no binaries found.
    """
    env = os.environ.get("RESTORE_DB_PG_BIN")
    if env:
        return Path(env)
    debian = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if debian:
        return debian[-1].parent
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True)
        if out.returncode == 0 and (Path(out.stdout.strip()) / "initdb").exists():
            return Path(out.stdout.strip())
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    raise DatabaseError(
        "PostgreSQL server binaries (initdb, pg_ctl) not found: install them "
        "(apt-get install postgresql-15 postgresql-15-postgis-3 postgresql-plpython3-15), "
        "name their folder in RESTORE_DB_PG_BIN, or set RESTORE_DB_URL to an existing PostGIS server"
    )


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def server_os_user() -> str:
    """The OS user the server runs as: ``postgres`` when we are root, else ourselves."""
    return SERVER_USER if _is_root() else pwd.getpwuid(os.geteuid()).pw_name   # not $USER: the real account


def conf_quote(text: str) -> str:
    """``text`` as a quoted string of postgresql.conf (backslash, quote and line breaks escaped)."""
    escaped = text.replace("\\", "\\\\").replace("'", "''").replace("\n", "\\n").replace("\r", "\\r")
    return f"'{escaped}'"


def _port_taken(port: int) -> bool:
    """True when a server could not listen on 127.0.0.1:``port`` (PostgreSQL sets SO_REUSEADDR too,
    so connections of a stopped server in TIME_WAIT do not count)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def _free_port(preferred: int) -> int:
    for port in [preferred, *range(preferred + 1, preferred + 200)]:
        if not _port_taken(port):
            return port
    raise DatabaseError(f"no free TCP port in {preferred}-{preferred + 199} on 127.0.0.1")


def _process_name(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return None


def port_holder(port: int) -> str | None:
    """The processes listening on TCP ``port``, as ``"PID 1234 (python3)"``; None when not visible.

    Reads /proc/net/tcp{,6} for the listening sockets and /proc/*/fd for their
    owners (all processes when root, else our own).
    """
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 9 and fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(f"socket:[{fields[9]}]")
    if not inodes:
        return None
    holders = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            fds = list((proc / "fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(fd) in inodes:
                    holders.append(f"PID {proc.name} ({_process_name(int(proc.name)) or '?'})")
                    break
            except OSError:
                continue
    return ", ".join(sorted(holders, key=lambda h: int(h.split()[1]))) or None


def _fchown(fd: int, user: str) -> None:
    entry = pwd.getpwnam(user)
    os.fchown(fd, entry.pw_uid, entry.pw_gid)


def _one_line(text: str) -> str:
    """The most telling line of a tool's output: its first FATAL/ERROR/PANIC line, else its last line."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in lines:
        if re.search(r"\b(FATAL|PANIC|ERROR|error)\b:", line):
            return line
    return lines[-1] if lines else "no output"


@dataclass
class Cluster:
    """A private cluster whose state lives in ``state_dir`` (``cluster.json``, ``secret``).

    ``throwaway`` clusters (tests, benchmarks) run without fsync.
    """

    state_dir: Path
    throwaway: bool = False

    # -- locations -------------------------------------------------------------
    @property
    def state_file(self) -> Path:
        return self.state_dir / STATE_FILE

    @property
    def secret_file(self) -> Path:
        return self.state_dir / SECRET_FILE

    @property
    def demo_dir(self) -> Path:
        return self.state_dir / DEMO_DATA

    def _state(self) -> dict:
        try:
            return json.loads(self.state_file.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise DatabaseError(f"cannot read {self.state_file}: {exc}") from exc

    def _write_state(self, state: dict) -> None:
        tmp = self.state_file.with_name(STATE_FILE + ".tmp")
        tmp.write_text(json.dumps(state, indent=2))
        os.replace(tmp, self.state_file)

    @property
    def data_root(self) -> Path:
        state = self._state()
        if "data_root" in state:
            return Path(state["data_root"])
        return self._choose_data_root()

    @property
    def pgdata(self) -> Path:
        return self.data_root / "pgdata"

    @property
    def logfile(self) -> Path:
        return self.data_root / "log" / "postgres.log"

    @property
    def socket_dir(self) -> Path:
        return self.data_root / "sock"

    @property
    def port(self) -> int:
        """The port the server listens on: that of the running server, else of postgresql.conf, else
        of cluster.json (0 when the cluster does not exist)."""
        return self._running_port() or self._conf_port() or int(self._state().get("port", 0))

    def _bindir(self) -> Path:
        """The server binaries to run for this cluster: those of its PostgreSQL major version in the system's
        folder when they are there, else :func:`find_bindir`. Never a folder named in ``cluster.json``: a file
        must not decide which programs run."""
        try:
            major = (self.pgdata / "PG_VERSION").read_text().strip()
        except OSError:
            major = ""
        system = Path("/usr/lib/postgresql") / major / "bin"
        if major.isdigit() and (system / "pg_ctl").is_file():
            return system
        return find_bindir()

    def password(self) -> str | None:
        """The superuser password (None for a cluster made with trust authentication).

        Raises:
            DatabaseError: the secret file exists but cannot be read.
        """
        try:
            return self.secret_file.read_text().strip() or None
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise DatabaseError(f"cannot read the database password in {self.secret_file}: {exc.strerror}") from exc

    def url(self, dbname: str = "restore", with_password: bool = True) -> str:
        """``postgresql://postgres:PASSWORD@127.0.0.1:PORT/dbname`` (password percent-encoded)."""
        password = self.password() if with_password else None
        auth = SUPERUSER + (":" + quote(password, safe="") if password else "")
        return f"postgresql://{auth}@127.0.0.1:{self.port}/{quote(dbname, safe='')}"

    # -- running commands as the server user ------------------------------------
    def _as_server(self, argv: list[str]) -> list[str]:
        if _is_root():
            return ["runuser", "-u", SERVER_USER, "--", *argv]
        return argv

    def _run(self, argv: list[str], check: bool = True, **kwargs) -> subprocess.CompletedProcess:
        """Run ``argv`` (a list, never through a shell) as the server user.

        Raises:
            DatabaseError: the command failed (one line: the tool and its most telling message).
        """
        kwargs.setdefault("capture_output", True)
        proc = subprocess.run(self._as_server(argv), text=True, **kwargs)
        if check and proc.returncode != 0:
            raise DatabaseError(
                f"{Path(argv[0]).name} failed for the embedded database in {self.state_dir}: "
                f"{_one_line((proc.stderr or '') + (proc.stdout or ''))}"
            )
        return proc

    def _write_server_file(self, path: Path, text: str, append: bool = False) -> None:
        """Write (or append to) a file the server user owns, as that user (no shell, no symlink games)."""
        if _is_root():
            argv = ["runuser", "-u", SERVER_USER, "--", "tee", *(["-a"] if append else []), "--", str(path)]
            proc = subprocess.run(argv, input=text, text=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            if proc.returncode != 0:
                raise DatabaseError(f"cannot write {path}: {_one_line(proc.stderr)}")
        else:
            with path.open("a" if append else "w") as fh:
                fh.write(text)

    def _server_can_use(self, path: Path) -> bool:
        """True when the server user can enter ``path`` (or its nearest existing parent)."""
        if not _is_root():
            return True
        probe = path
        while not probe.exists():
            probe = probe.parent
        proc = subprocess.run(["runuser", "-u", SERVER_USER, "--", "test", "-x", str(probe)], capture_output=True)
        return proc.returncode == 0

    def _choose_data_root(self) -> Path:
        if self._server_can_use(self.state_dir):
            return self.state_dir
        digest = hashlib.sha1(str(self.state_dir).encode()).hexdigest()[:12]
        return DATA_FALLBACK / digest

    def _make_dir(self, path: Path, mode: int) -> None:
        path.mkdir(parents=True, exist_ok=True)
        os.chmod(path, mode)
        if _is_root():
            shutil.chown(path, SERVER_USER, SERVER_USER)

    def _write_private(self, path: Path, text: str, owner: str | None = None) -> None:
        """Create ``path`` afresh with mode 0600 (owned by ``owner``, default: us), never through a symlink."""
        path.unlink(missing_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            os.fchmod(fd, 0o600)
            if owner and _is_root():
                _fchown(fd, owner)
            os.write(fd, text.encode())
        finally:
            os.close(fd)

    # -- lifecycle ----------------------------------------------------------------
    def initialised(self) -> bool:
        return (self.pgdata / "PG_VERSION").exists()

    def exists(self) -> bool:
        """True when restore-db made a cluster here (its state file or its data is present)."""
        return self.state_file.exists() or self.initialised()

    def init(self) -> None:
        """Create the cluster once: data folders, ``initdb`` with a generated superuser password,
        settings, pg_hba.conf, the secret file, then ``cluster.json``. Idempotent. A failed
        init removes what it made.

        Raises:
            DatabaseError: binaries missing, ``initdb`` failed, no free port, the socket path is too
                long, or ``cluster.json`` names a data folder that has gone.
        """
        if self.initialised():
            return
        if self.state_file.exists():
            raise DatabaseError(
                f"the data folder {self.pgdata} of the embedded database in {self.state_dir} is missing: "
                "restore it from a backup, or run `restore-db db destroy --yes` then `restore-db db up` "
                "to start an empty database"
            )
        bindir = find_bindir()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        data_root = self._choose_data_root()
        digest = int(hashlib.sha1(str(self.state_dir).encode()).hexdigest(), 16)
        port = _free_port(55432 + digest % 500)
        sock = data_root / "sock"
        if len(str(sock / f".s.PGSQL.{port}").encode()) > SOCKET_PATH_MAX:
            raise DatabaseError(
                f"the embedded database's socket path {sock}/.s.PGSQL.{port} is longer than {SOCKET_PATH_MAX} "
                "bytes: set RESTORE_DB_HOME to a shorter folder"
            )
        made_root = not data_root.exists()
        made = [data_root / part for part in DATA_PARTS if not (data_root / part).exists()]
        try:
            if made_root:
                missing = [p for p in (data_root, *data_root.parents) if not p.exists()]
                data_root.mkdir(parents=True)
                for path in missing:  # whatever the umask, the server user must be able to enter them
                    os.chmod(path, 0o755)
            for part in DATA_PARTS:
                self._make_dir(data_root / part, 0o700)
            password = secrets.token_urlsafe(32)
            pwfile = data_root / "log" / ".initdb-password"
            self._write_private(pwfile, password + "\n", owner=server_os_user())
            try:
                self._run([str(bindir / "initdb"), "-D", str(data_root / "pgdata"), "-U", SUPERUSER,
                           f"--pwfile={pwfile}", "--auth=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8"])
            finally:
                pwfile.unlink(missing_ok=True)
            settings = dict(SERVER_SETTINGS)
            settings["port"] = str(port)
            settings["unix_socket_directories"] = conf_quote('"' + str(sock).replace('"', '""') + '"')
            if self.throwaway:
                settings.update(THROWAWAY_SETTINGS)
            conf = "\n# restore-db settings\n" + "".join(f"{k} = {v}\n" for k, v in settings.items())
            pgdata = data_root / "pgdata"
            self._write_server_file(pgdata / "postgresql.conf", conf, append=True)
            self._write_auth_files(pgdata)
            self._write_private(self.secret_file, password + "\n")
            self._write_state({"data_root": str(data_root), "port": port, "bindir": str(bindir)})
        except BaseException:
            for path in made:
                shutil.rmtree(path, ignore_errors=True)
            if made_root:
                shutil.rmtree(data_root, ignore_errors=True)
            self.secret_file.unlink(missing_ok=True)
            self.state_file.unlink(missing_ok=True)
            raise

    def _write_auth_files(self, pgdata: Path) -> None:
        self._write_server_file(pgdata / "pg_hba.conf", HBA_CONF)
        self._write_server_file(
            pgdata / "pg_ident.conf",
            "# Written by restore-db: the server's OS user may connect as the superuser over the socket.\n"
            f"# MAPNAME  SYSTEM-USERNAME  PG-USERNAME\n{IDENT_MAP}  {server_os_user()}  {SUPERUSER}\n",
        )

    def _read_server_file(self, path: Path) -> str | None:
        try:
            return path.read_text(errors="replace")
        except OSError:
            return None

    def _conf_port(self) -> int | None:
        port = None
        for name in ("postgresql.conf", "postgresql.auto.conf"):
            text = self._read_server_file(self.pgdata / name) or ""
            for match in re.finditer(r"^\s*port\s*=\s*'?(\d+)'?", text, re.MULTILINE):
                port = int(match.group(1))
        return port

    def _pidfile(self) -> list[str] | None:
        text = self._read_server_file(self.pgdata / "postmaster.pid")
        return text.splitlines() if text else None

    def _running_port(self) -> int | None:
        """The port in postmaster.pid while its server process lives."""
        lines = self._pidfile()
        if not (lines and len(lines) > 3 and lines[0].strip().isdigit() and lines[3].strip().isdigit()):
            return None
        try:
            os.kill(int(lines[0]), 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return int(lines[3])

    def auth_method(self) -> str | None:
        """``"scram-sha-256"`` for a cluster that needs passwords, ``"trust"`` for one made by an older
        restore-db that lets every local user in, None when there is no cluster."""
        if not self.initialised():
            return None
        hba = self._read_server_file(self.pgdata / "pg_hba.conf") or ""
        trust = any("trust" in line.split("#", 1)[0].split() for line in hba.splitlines())
        if trust or self.password() is None:
            return "trust"
        return "scram-sha-256"

    def secured(self) -> bool:
        """True when the cluster needs passwords (see :meth:`auth_method`)."""
        return self.auth_method() == "scram-sha-256"

    def secure(self) -> list[str]:
        """Switch a running cluster made with ``trust`` authentication to passwords: a generated
        superuser password (kept in the secret file), pg_hba.conf rewritten, configuration reloaded.
        No data changes. Returns the notes to show the user (empty when already secured).

        Raises:
            DatabaseError: the server is not running or refuses the change.
        """
        if self.secured():
            return []
        import psycopg
        from psycopg import sql

        if not self.running():
            raise DatabaseError(f"the embedded database in {self.state_dir} must run to be secured: "
                                "run `restore-db db up`")
        password = self.password() or secrets.token_urlsafe(32)
        try:
            with psycopg.connect(host="127.0.0.1", port=self.port, user=SUPERUSER, dbname="postgres",
                                 password=password, autocommit=True, connect_timeout=10) as conn:
                verifier = conn.pgconn.encrypt_password(password.encode(), SUPERUSER.encode(), b"scram-sha-256")
                conn.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                    sql.Identifier(SUPERUSER), sql.Literal(verifier.decode())))
                no_password = [row[0] for row in conn.execute(
                    "SELECT rolname FROM pg_authid WHERE rolcanlogin AND rolpassword IS NULL AND rolname <> %s "
                    "ORDER BY 1", (SUPERUSER,))]
                self._write_private(self.secret_file, password + "\n")
                self._write_auth_files(self.pgdata)
                if self.socket_dir.is_dir():
                    os.chmod(self.socket_dir, 0o700)
                conn.execute("SELECT pg_reload_conf()")
        except psycopg.Error as exc:
            raise DatabaseError(f"cannot switch the embedded database in {self.state_dir} to passwords: "
                                f"{_one_line(str(exc))}") from exc
        notes = [f"the embedded database in {self.state_dir} was made with trust authentication (every local user "
                 f"was let in): it now needs passwords; the superuser's is in {self.secret_file}"]
        if no_password:
            notes.append("these login roles have no password and can no longer log in: " + ", ".join(no_password)
                         + " (give one with ALTER ROLE ... PASSWORD)")
        return notes

    def running(self) -> bool:
        """True when a server runs on this cluster's data folder."""
        if not self.initialised():
            return False
        proc = self._run([str(self._bindir() / "pg_ctl"), "-D", str(self.pgdata), "status"], check=False)
        if proc.returncode != 0:
            return False
        lines = self._pidfile()
        pid = int(lines[0]) if lines and lines[0].strip().isdigit() else None
        if pid is not None:
            # pg_ctl only checks that the PID is alive: after a kill -9 it may belong to another program
            cwd = self._cwd_of(pid)
            return cwd is None or cwd == self._real(self.pgdata)
        return True

    @staticmethod
    def _real(path: Path) -> str:
        return os.path.realpath(path)

    @staticmethod
    def _cwd_of(pid: int) -> str | None:
        try:
            return os.readlink(f"/proc/{pid}/cwd")
        except OSError:
            return None

    def _orphans(self) -> list[int]:
        """PIDs of processes still working in the data folder (children of a killed server)."""
        if not Path("/proc/self").exists():
            return []
        target = self._real(self.pgdata)
        pids = []
        for proc in Path("/proc").iterdir():
            if (proc.name.isdigit() and self._cwd_of(int(proc.name)) == target
                    and _process_name(int(proc.name)) == "postgres"):
                pids.append(int(proc.name))
        return sorted(pids)

    def _clear_after_kill(self, timeout: float = 30.0) -> None:
        """After a killed server: wait for its children to exit, then drop a postmaster.pid whose PID
        now belongs to another program (PostgreSQL itself handles a PID that is gone)."""
        if self._pidfile() is None:
            return
        deadline = time.monotonic() + timeout
        orphans = self._orphans()
        while orphans and time.monotonic() < deadline:
            time.sleep(0.2)
            orphans = self._orphans()
        if orphans:
            raise DatabaseError(
                f"processes of a stopped server still use {self.pgdata}: PIDs {', '.join(map(str, orphans))}; "
                "stop them, then run `restore-db db up` again"
            )
        lines = self._pidfile()
        if lines and lines[0].strip().isdigit():
            cwd = self._cwd_of(int(lines[0]))
            if cwd is not None and cwd != self._real(self.pgdata):
                (self.pgdata / "postmaster.pid").unlink(missing_ok=True)

    def _port_message(self, port: int) -> str:
        holder = port_holder(port)
        return (f"port {port} of the embedded database in {self.state_dir} is taken by "
                f"{holder or 'another process'}: stop it, then run `restore-db db up` again "
                "(the port stays fixed so saved connections keep working)")

    def start(self) -> None:
        """Initialise if needed, then start on the cluster's own port (no-op when already running).

        Raises:
            DatabaseError: the port is taken (naming the process that holds it), processes of a
                killed server still use the data folder, or the server does not start (its log's
                FATAL line).
        """
        self.init()
        if self.running():
            self._sync_state_port()
            return
        port = self._conf_port() or int(self._state()["port"])
        self._sync_state_port(port)
        for part in ("log", "sock"):  # e.g. removed by hand; the server needs them
            if not (self.data_root / part).exists():
                self._make_dir(self.data_root / part, 0o700)
        self._clear_after_kill()
        if _port_taken(port):
            raise DatabaseError(self._port_message(port))
        deadline = time.monotonic() + 30
        while True:
            log = self._pg_ctl_start(port)
            if log is None:
                break
            # children of a killed server may still hold its shared memory for a moment
            if "shared memory block" not in log or time.monotonic() > deadline:
                raise DatabaseError(f"the embedded database in {self.state_dir} did not start: "
                                    f"{_one_line(log)} (server log: {self.logfile})")
            time.sleep(0.5)
        self._wait_ready(port)

    def _sync_state_port(self, port: int | None = None) -> None:
        """Make cluster.json record the port the server uses (older versions could leave them apart)."""
        port = port or self.port
        state = self._state()
        if port and state.get("port") != port:
            state["port"] = port
            self._write_state(state)

    def _pg_ctl_start(self, port: int) -> str | None:
        """``pg_ctl start``; None when the server started, else what it logged.

        Raises:
            DatabaseError: the port was taken meanwhile.
        """
        logfile = self.logfile
        fd = os.open(logfile, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        try:
            if _is_root() and os.fstat(fd).st_uid == 0:
                _fchown(fd, SERVER_USER)
            offset = os.lseek(fd, 0, os.SEEK_END)
            argv = [str(self._bindir() / "pg_ctl"), "start", "-w", "-t", "60", "-s"]
            proc = self._run(argv, check=False, capture_output=False, stdin=subprocess.DEVNULL,
                             stdout=fd, stderr=subprocess.PIPE, env={**os.environ, "PGDATA": str(self.pgdata)})
        finally:
            os.close(fd)
        if proc.returncode == 0:
            return None
        if _port_taken(port) and not self.running():
            raise DatabaseError(self._port_message(port))
        try:
            with logfile.open("rb") as fh:
                fh.seek(offset)
                log = fh.read().decode(errors="replace")
        except OSError:
            log = ""
        return log or proc.stderr or "no output"

    def _wait_ready(self, port: int, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    return
            time.sleep(0.1)
        raise DatabaseError(f"the embedded database in {self.state_dir} did not accept connections on port {port} "
                            f"(server log: {self.logfile})")

    def stop(self) -> None:
        """Stop the server (fast shutdown); no-op when it is not running.

        Raises:
            DatabaseError: ``pg_ctl stop`` failed.
        """
        if not self.running():
            return
        self._run([str(self._bindir() / "pg_ctl"), "-D", str(self.pgdata), "-m", "fast", "-w", "stop"])

    def destroy(self) -> list[Path]:
        """Stop the cluster and delete what restore-db created, nothing else: the data folders (pgdata,
        log, sock, and the data folder itself when it is not the state folder and is left empty),
        ``cluster.json``, ``secret`` and ``demo-data``. Other files in the state folder stay.
        Returns the paths deleted.

        Raises:
            DatabaseError: the server does not stop, or a path cannot be deleted.
        """
        self.stop()
        data_root = self.data_root
        if data_root.resolve() != self.state_dir.resolve() and DATA_FALLBACK.resolve() not in data_root.resolve().parents:
            raise DatabaseError(f"{self.state_file} names data folder {data_root}, neither {self.state_dir} nor below "
                                f"{DATA_FALLBACK}: not deleting it")
        targets = []
        if self.exists():
            targets += [data_root / part for part in DATA_PARTS] + [self.state_file, self.secret_file]
        targets.append(self.demo_dir)
        deleted = []
        for path in targets:
            if not (path.exists() or path.is_symlink()):
                continue
            try:
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path)
                else:
                    path.unlink()
            except OSError as exc:
                raise DatabaseError(f"cannot delete {path}: {exc.strerror}") from exc
            deleted.append(path)
        if data_root != self.state_dir and data_root.is_dir():
            try:
                data_root.rmdir()
                deleted.append(data_root)
            except OSError:
                pass  # something else lives there: leave it
        return deleted
