"""The self-managed local PostGIS: initdb / pg_ctl under a data folder.

Without ``GISGRID_DATABASE_URL`` gisgrid runs its own PostgreSQL cluster: ``initdb`` into
``<data_dir>/pgdata``, a Unix socket in ``<data_dir>/run``, the log in ``<data_dir>/log``.
PostgreSQL refuses to run as root, so when gisgrid itself runs as root the server runs as the
``postgres`` system user, who is given the folder. If that user cannot reach the folder (a
checkout under ``/root``), the cluster goes to ``/var/tmp/gisgrid-<hash>`` and says so.

The binaries come from the PostgreSQL major version that has PostGIS installed (a
``postgis.control`` under its extension folder), newest first, not from a fixed version.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pwd
import shutil
import signal
import stat
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from gisgrid.errors import ClusterError
from gisgrid.settings import Settings

# A Unix socket path must fit in sun_path (108 bytes with the NUL).
_MAX_SOCKET_PATH = 100
_SHARE_ROOTS = (Path("/usr/share/postgresql"), Path("/usr/local/share/postgresql"))
_LIB_ROOT = Path("/usr/lib/postgresql")


def find_pg_bin_dir(explicit: Path | None = None) -> Path:
    """Folder with initdb and pg_ctl of a PostgreSQL that has PostGIS installed."""
    if explicit is not None:
        if not (explicit / "pg_ctl").exists():
            raise ClusterError(f"no pg_ctl in {explicit}", field="pg_bin_dir")
        return explicit
    majors: list[int] = []
    for root in _SHARE_ROOTS:
        for control in root.glob("*/extension/postgis.control"):
            name = control.parent.parent.name
            if name.isdigit():
                majors.append(int(name))
    for major in sorted(set(majors), reverse=True):
        bin_dir = _LIB_ROOT / str(major) / "bin"
        if (bin_dir / "pg_ctl").exists():
            return bin_dir
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--sharedir", "--bindir"], capture_output=True, text=True)
        lines = out.stdout.split()
        if len(lines) == 2 and (Path(lines[0]) / "extension" / "postgis.control").exists():
            return Path(lines[1])
    raise ClusterError(
        "no PostgreSQL with PostGIS found (looked for */extension/postgis.control under "
        f"{', '.join(map(str, _SHARE_ROOTS))}); install it, e.g. "
        "`sudo apt-get install postgresql postgis` (Debian), or set GISGRID_DATABASE_URL",
        field="pg_bin_dir",
    )


def _can_reach(path: Path, uid: int, gids: Sequence[int]) -> bool:
    """Whether uid can traverse every ancestor of path (x bit), as the kernel would check."""
    for parent in reversed(path.parents):
        st = parent.stat()
        if st.st_uid == uid:
            ok = bool(st.st_mode & stat.S_IXUSR)
        elif st.st_gid in gids:
            ok = bool(st.st_mode & stat.S_IXGRP)
        else:
            ok = bool(st.st_mode & stat.S_IXOTH)
        if not ok:
            return False
    return True


def _pid_alive_postgres(pid: int) -> bool:
    """Whether pid is a live (not zombie) postgres process."""
    try:
        stat_line = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    state = stat_line.rsplit(")", 1)[-1].split()[0]
    if state in ("Z", "X"):
        return False
    return b"postgres" in cmdline or b"postmaster" in cmdline


def _children(pid: int) -> list[int]:
    """The pids whose parent is ``pid`` (a postmaster's backends and helpers)."""
    found = []
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat_file.read_text().rsplit(")", 1)[-1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat_file.parent.name))
    return found


def _signal(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # it ended on its own meanwhile
        os.kill(pid, sig)


def _pid_from_lockfile(lockfile: Path) -> int | None:
    """The live postgres pid a lock file names, or None when it names nothing alive."""
    try:
        pid = int(lockfile.read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if _pid_alive_postgres(abs(pid)) else None


@dataclass
class Cluster:
    """A local PostgreSQL cluster under ``base``.

    Examples
    --------
    >>> c = Cluster(Path("/tmp/gg-doc"), port=5499)
    >>> c.pgdata
    PosixPath('/tmp/gg-doc/pgdata')
    """

    base: Path
    port: int = 5432
    db_name: str = "gisgrid"
    db_user: str = "postgres"
    listen_tcp: bool = False
    bin_dir: Path | None = None
    server_user: str = "postgres"

    @classmethod
    def from_settings(cls, settings: Settings) -> Cluster:
        cluster = cls(
            base=settings.data_path,
            port=settings.db_port,
            db_name=settings.db_name,
            db_user=settings.db_user,
            listen_tcp=settings.db_listen_tcp,
            bin_dir=settings.pg_bin_dir,
            server_user=settings.server_user,
        )
        cluster.base = cluster._placed_base()
        return cluster

    # -- where things are -------------------------------------------------------------
    @property
    def pgdata(self) -> Path:
        return self.base / "pgdata"

    @property
    def socket_dir(self) -> Path:
        return self.base / "run"

    @property
    def logfile(self) -> Path:
        return self.base / "log" / "postgresql.log"

    @property
    def as_root(self) -> bool:
        return os.geteuid() == 0

    def _server_pw(self) -> pwd.struct_passwd | None:
        if not self.as_root:
            return None
        try:
            return pwd.getpwnam(self.server_user)
        except KeyError as exc:
            raise ClusterError(
                f"running as root, and PostgreSQL refuses root; the system user "
                f"{self.server_user!r} does not exist (install postgresql, which creates it)",
                field="server_user",
            ) from exc

    def _placed_base(self) -> Path:
        """The base folder, moved to /var/tmp when the server user cannot reach it."""
        pw = self._server_pw()
        base = self.base.absolute()
        if pw is None:
            return base
        gids = [pw.pw_gid, *os.getgrouplist(pw.pw_name, pw.pw_gid)]
        probe = base if base.exists() else base.parent
        while not probe.exists():
            probe = probe.parent
        if _can_reach(probe / "x", pw.pw_uid, gids) and len(str(base)) < _MAX_SOCKET_PATH - 20:
            return base
        digest = hashlib.sha1(str(base).encode()).hexdigest()[:12]
        moved = Path("/var/tmp") / f"gisgrid-{digest}"
        return moved

    @property
    def moved(self) -> bool:
        return self.base.name.startswith("gisgrid-") and str(self.base).startswith("/var/tmp/")

    # -- running commands ---------------------------------------------------------------
    def _bin(self, name: str) -> str:
        if self.bin_dir is None:
            self.bin_dir = find_pg_bin_dir()
        return str(self.bin_dir / name)

    def _run(self, args: list[str], check: bool = True) -> subprocess.CompletedProcess[str]:
        pw = self._server_pw()
        kwargs: dict[str, object] = {}
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["LC_ALL"] = "C.UTF-8"
        if pw is not None:
            kwargs.update(user=pw.pw_uid, group=pw.pw_gid, extra_groups=[])
            env["HOME"] = pw.pw_dir
            env["USER"] = pw.pw_name
        proc = subprocess.run(
            args,
            capture_output=True,
            text=True,
            env=env,
            cwd=str(self.base),
            **kwargs,  # type: ignore[call-overload]
        )
        if check and proc.returncode != 0:
            raise ClusterError(
                f"{Path(args[0]).name} failed ({proc.returncode}): "
                f"{(proc.stderr or proc.stdout).strip()[-1500:]}"
            )
        return proc

    def _prepare_dirs(self) -> None:
        pw = self._server_pw()
        for d in (self.base, self.socket_dir, self.logfile.parent):
            d.mkdir(parents=True, exist_ok=True)
        if pw is not None:
            for d in (self.base, self.socket_dir, self.logfile.parent):
                os.chown(d, pw.pw_uid, pw.pw_gid)
            if self.pgdata.exists():
                os.chown(self.pgdata, pw.pw_uid, pw.pw_gid)
        os.chmod(self.base, 0o755)
        os.chmod(self.socket_dir, 0o755)

    # -- state ---------------------------------------------------------------------------
    @property
    def initialised(self) -> bool:
        return (self.pgdata / "PG_VERSION").exists()

    def running_pid(self) -> int | None:
        """PID of the postmaster if it is alive, else None (a stale pid file is not alive)."""
        return _pid_from_lockfile(self.pgdata / "postmaster.pid")

    def url(self, driver: str = "postgresql+psycopg", dbname: str | None = None) -> str:
        """SQLAlchemy URL (or a libpq URL with driver='postgresql') over the Unix socket."""
        db = dbname or self.db_name
        host = quote(str(self.socket_dir), safe="")
        return f"{driver}://{self.db_user}@/{db}?host={host}&port={self.port}"

    def libpq_url(self, dbname: str | None = None) -> str:
        return self.url(driver="postgresql", dbname=dbname)

    # -- lifecycle -----------------------------------------------------------------------
    def init(self) -> bool:
        """initdb if needed; returns whether a new cluster was made."""
        self._prepare_dirs()
        if self.initialised:
            return False
        self._run(
            [
                self._bin("initdb"),
                "-D",
                str(self.pgdata),
                "-U",
                self.db_user,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
            ]
        )
        conf = self.pgdata / "postgresql.auto.conf"
        with conf.open("a") as fh:
            fh.write(
                "\n# written by gisgrid.store.cluster\n"
                f"unix_socket_directories = '{self.socket_dir}'\n"
                f"port = {self.port}\n"
                f"listen_addresses = '{'127.0.0.1' if self.listen_tcp else ''}'\n"
                "fsync = on\n"
                "shared_buffers = '512MB'\n"
                "work_mem = '64MB'\n"
                "maintenance_work_mem = '512MB'\n"
                "max_wal_size = '4GB'\n"
                "jit = off\n"
                "max_connections = 100\n"
            )
        if self.listen_tcp:
            with (self.pgdata / "pg_hba.conf").open("a") as fh:
                fh.write("host all all 127.0.0.1/32 trust\n")
        return True

    def start(self, timeout_s: float = 60) -> None:
        if self.running_pid() is not None:
            return
        # A crash leaves lock files naming a postmaster that is gone (or a zombie nobody
        # reaped, which PostgreSQL's own check takes for alive): remove them.
        for lock in (
            self.pgdata / "postmaster.pid",
            self.socket_dir / f".s.PGSQL.{self.port}.lock",
        ):
            if lock.exists() and _pid_from_lockfile(lock) is None:
                lock.unlink()
                sock = self.socket_dir / f".s.PGSQL.{self.port}"
                if lock.parent == self.socket_dir and sock.exists():
                    sock.unlink()
        opts = f"-p {self.port} -k {self.socket_dir}"
        opts += " -c listen_addresses=127.0.0.1" if self.listen_tcp else " -c listen_addresses="
        deadline = time.monotonic() + timeout_s
        while True:
            proc = self._run(
                [
                    self._bin("pg_ctl"),
                    "start",
                    "-D",
                    str(self.pgdata),
                    "-l",
                    str(self.logfile),
                    "-w",
                    "-t",
                    str(int(timeout_s)),
                    "-o",
                    opts,
                ],
                check=False,
            )
            if proc.returncode == 0:
                return
            tail = self._log_tail()
            # After a crash the old backends may still hold shared memory for a moment.
            if "shared memory block is still in use" in tail and time.monotonic() < deadline:
                time.sleep(0.5)
                continue
            raise ClusterError(f"pg_ctl start failed: {proc.stderr.strip()}\n{tail}")

    def _log_tail(self, n: int = 15) -> str:
        try:
            return "\n".join(self.logfile.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def stop(self, timeout_s: float = 60) -> bool:
        """Stop the server; returns whether one was running."""
        if self.running_pid() is None:
            return False
        self._run(
            [
                self._bin("pg_ctl"),
                "stop",
                "-D",
                str(self.pgdata),
                "-m",
                "fast",
                "-w",
                "-t",
                str(int(timeout_s)),
            ]
        )
        return True

    def kill(self, backends: bool = False) -> None:
        """SIGKILL the postmaster, as a crash would (for tests of recovery); with
        ``backends``, every server process at the same instant, as a power cut would.

        A postmaster killed alone leaves its backends running until they next wait, and a
        backend that finishes its statement may still commit; stopping every process first
        (SIGSTOP) and then killing them leaves no such window.
        """
        pid = self.running_pid()
        if pid is None:
            return
        pids = [pid]
        if backends:
            os.kill(pid, signal.SIGSTOP)  # stopped, it starts no new backend
            pids += _children(pid)
            for p in pids[1:]:
                _signal(p, signal.SIGSTOP)
        for p in pids:
            _signal(p, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while any(_pid_alive_postgres(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.05)

    def ensure_database(self) -> bool:
        """Create the database and the PostGIS extension; returns whether it was created."""
        import psycopg

        created = False
        with psycopg.connect(self.libpq_url("postgres"), autocommit=True) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (self.db_name,)
            ).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{self.db_name}"')
                created = True
        with psycopg.connect(self.libpq_url(), autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
            conn.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
        return created

    def up(self, migrate: bool = True) -> dict[str, object]:
        """Init, start, create database and extensions, migrate (and install the function files
        whose text changed). Idempotent."""
        made = self.init()
        was_running = self.running_pid() is not None
        self.start()
        created = self.ensure_database()
        functions: list[str] = []
        if migrate:
            from gisgrid.store.migrate import migrate_to_head

            functions = migrate_to_head(self.url())
        return {
            "initialised": made,
            "was_running": was_running,
            "database_created": created,
            "functions_installed": functions,
        }

    def down(self) -> bool:
        return self.stop()

    def reset(self) -> None:
        self.stop()
        if self.pgdata.exists():
            shutil.rmtree(self.pgdata)

    def status(self) -> dict[str, object]:
        pid = self.running_pid()
        return {
            "base": str(self.base),
            "moved": self.moved,
            "pgdata": str(self.pgdata),
            "initialised": self.initialised,
            "running": pid is not None,
            "pid": pid,
            "socket": str(self.socket_dir / f".s.PGSQL.{self.port}"),
            "tcp": f"127.0.0.1:{self.port}" if self.listen_tcp else None,
            "url": self.libpq_url(),
            "server_user": self.server_user if self.as_root else pwd.getpwuid(os.getuid()).pw_name,
            "log": str(self.logfile),
        }


def database_url(settings: Settings) -> str:
    """The SQLAlchemy URL to use: GISGRID_DATABASE_URL, or the local cluster's socket."""
    if settings.database_url:
        url = settings.database_url
        if url.startswith("postgresql://") or url.startswith("postgres://"):
            url = "postgresql+psycopg://" + url.split("://", 1)[1]
        return url
    return Cluster.from_settings(settings).url()
