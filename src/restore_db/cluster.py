"""The embedded PostgreSQL cluster: a private server inside the project folder.

``restore-db db up`` runs ``initdb`` + ``pg_ctl`` with the machine's PostgreSQL
binaries. PostgreSQL refuses to run as root, so when we are root every server
command runs as the ``postgres`` system user (``runuser -u postgres --``), and
the data folder must be reachable by that user. When the project folder is not
(e.g. it lives below a mode-0700 temporary folder), the data goes to
``/var/tmp/restore-db-<hash>`` and ``cluster.json`` in the project folder says so.

The server listens on 127.0.0.1 only, with trust authentication, and is tuned
for raster work: lz4 TOAST compression (pglz costs ~60 MB/s on float tiles),
large work_mem, GDAL drivers enabled for ST_AsGDALRaster/ST_FromGDALRaster.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from .errors import DatabaseError

SERVER_USER = "postgres"

SERVER_SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
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


def find_bindir() -> Path:
    """The PostgreSQL server binaries (``initdb``, ``pg_ctl``).

    ``RESTORE_DB_PG_BIN`` wins; otherwise the newest ``/usr/lib/postgresql/*/bin``
    (Debian/Ubuntu), then ``pg_config --bindir``, then ``PATH``.
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
        "PostgreSQL server binaries (initdb, pg_ctl) not found. Install them with\n"
        "  apt-get install postgresql-15 postgresql-15-postgis-3 postgresql-plpython3-15\n"
        "or set RESTORE_DB_URL to an existing PostGIS server."
    )


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _free_port(preferred: int) -> int:
    for port in [preferred, *range(preferred + 1, preferred + 200)]:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise DatabaseError(f"no free TCP port near {preferred} on 127.0.0.1")


@dataclass
class Cluster:
    """A private cluster whose state lives in ``state_dir`` (``cluster.json``)."""

    state_dir: Path
    throwaway: bool = False

    # -- locations -------------------------------------------------------------
    @property
    def state_file(self) -> Path:
        return self.state_dir / "cluster.json"

    def _state(self) -> dict:
        if self.state_file.exists():
            return json.loads(self.state_file.read_text())
        return {}

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
    def port(self) -> int:
        return int(self._state().get("port", 0))

    def url(self, dbname: str = "restore") -> str:
        return f"postgresql://{SERVER_USER}@127.0.0.1:{self.port}/{dbname}"

    # -- running commands as the server user ------------------------------------
    def _as_server(self, argv: list[str]) -> list[str]:
        if _is_root():
            return ["runuser", "-u", SERVER_USER, "--", *argv]
        return argv

    def _run(self, argv: list[str], check: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run(self._as_server(argv), capture_output=True, text=True)
        if check and proc.returncode != 0:
            raise DatabaseError(
                f"{Path(argv[0]).name} failed ({proc.returncode}):\n{proc.stderr or proc.stdout}"
                + self._log_tail()
            )
        return proc

    def _log_tail(self) -> str:
        try:
            lines = self.logfile.read_text(errors="replace").splitlines()[-15:]
        except OSError:
            return ""
        return "\nserver log (" + str(self.logfile) + "):\n" + "\n".join(lines)

    def _server_can_use(self, path: Path) -> bool:
        """True when the server user can create files below ``path``."""
        if not _is_root():
            return True
        probe = path
        while not probe.exists():
            probe = probe.parent
        proc = subprocess.run(
            ["runuser", "-u", SERVER_USER, "--", "test", "-x", str(probe)], capture_output=True
        )
        return proc.returncode == 0

    def _choose_data_root(self) -> Path:
        if self._server_can_use(self.state_dir.parent):
            return self.state_dir
        digest = hashlib.sha1(str(self.state_dir).encode()).hexdigest()[:12]
        return Path("/var/tmp") / f"restore-db-{digest}"

    def _make_dir(self, path: Path, mode: int) -> None:
        path.mkdir(parents=True, exist_ok=True)
        os.chmod(path, mode)
        if _is_root():
            shutil.chown(path, SERVER_USER, SERVER_USER)

    # -- lifecycle ----------------------------------------------------------------
    def initialised(self) -> bool:
        return (self.pgdata / "PG_VERSION").exists()

    def init(self) -> None:
        """Create the cluster (once). Idempotent."""
        if self.initialised():
            return
        bindir = find_bindir()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        data_root = self._choose_data_root()
        self._make_dir(data_root, 0o755)
        for sub in ("log", "sock"):
            self._make_dir(data_root / sub, 0o775)
        self._make_dir(data_root / "pgdata", 0o700)
        digest = int(hashlib.sha1(str(self.state_dir).encode()).hexdigest(), 16)
        port = _free_port(55432 + digest % 500)
        self.state_file.write_text(
            json.dumps({"data_root": str(data_root), "port": port, "bindir": str(bindir)}, indent=2)
        )
        self._run(
            [str(bindir / "initdb"), "-D", str(data_root / "pgdata"), "-U", SERVER_USER,
             "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8"]
        )
        settings = dict(SERVER_SETTINGS)
        settings["port"] = str(port)
        settings["unix_socket_directories"] = f"'{data_root / 'sock'}'"
        if self.throwaway:
            settings.update(THROWAWAY_SETTINGS)
        conf = "\n# restore-db settings\n" + "".join(f"{k} = {v}\n" for k, v in settings.items())
        conf_path = data_root / "pgdata" / "postgresql.conf"
        if _is_root():
            # the file is owned by the server user; append through it
            subprocess.run(
                ["runuser", "-u", SERVER_USER, "--", "sh", "-c", f"cat >> '{conf_path}'"],
                input=conf, text=True, check=True,
            )
        else:
            with conf_path.open("a") as fh:
                fh.write(conf)

    def running(self) -> bool:
        if not self.initialised():
            return False
        bindir = Path(self._state().get("bindir") or find_bindir())
        proc = self._run([str(bindir / "pg_ctl"), "-D", str(self.pgdata), "status"], check=False)
        return proc.returncode == 0

    def start(self) -> None:
        """Initialise if needed, then start (no-op when already running)."""
        self.init()
        if self.running():
            return
        state = self._state()
        bindir = Path(state.get("bindir") or find_bindir())
        port = int(state["port"])
        opts = ""
        if _free_port(port) != port:
            # another process took our port since initdb: move to a free one
            port = _free_port(port + 1)
            state["port"] = port
            self.state_file.write_text(json.dumps(state, indent=2))
            opts = f"-p {port}"
        argv = [str(bindir / "pg_ctl"), "-D", str(self.pgdata), "-l", str(self.logfile), "-w", "-t", "60"]
        if opts:
            argv += ["-o", opts]
        self._run(argv + ["start"])
        self._wait_ready()

    def _wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.1)
        raise DatabaseError("embedded server did not accept connections" + self._log_tail())

    def stop(self) -> None:
        if not self.running():
            return
        bindir = Path(self._state().get("bindir") or find_bindir())
        self._run([str(bindir / "pg_ctl"), "-D", str(self.pgdata), "-m", "fast", "-w", "stop"])

    def destroy(self) -> None:
        """Stop and delete the cluster and its data."""
        self.stop()
        if self.initialised() or self.data_root.exists():
            shutil.rmtree(self.data_root, ignore_errors=True)
        if self.state_file.exists():
            self.state_file.unlink()
