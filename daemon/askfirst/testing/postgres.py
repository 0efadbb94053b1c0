"""A private PostgreSQL for tests: initdb in a temp dir, a loopback port, stopped by its
own data dir (never a system service). See docs/postgres-rig.md in the project notes.

initdb refuses to run as root, so as root the binaries run as the `postgres` user (the
Debian package creates it); as a plain user they run directly.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from askfirst.testing.dovecot import free_ports

RUN_AS = "postgres"


def find_postgres() -> Path | None:
    """The newest server `bin` folder of Debian's packages, or the one on PATH."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=_version)
    if found:
        return found[-1].parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _version(initdb: Path) -> tuple[int, ...]:
    return tuple(int(p) for p in initdb.parent.parent.name.split(".") if p.isdigit())


@dataclass
class PgCluster:
    bin: Path
    root: Path
    port: int

    @property
    def data(self) -> Path:
        return self.root / "data"

    def url(self, database: str = "askfirst") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, tool: str, *args: str) -> None:
        command = [str(self.bin / tool), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", RUN_AS, "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)  # noqa: S603

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-w",
            "-l",
            str(self.root / "log"),
            "-o",
            options,
            "start",
        )

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "stop")

    def create_database(self, name: str) -> str:
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name)
        return self.url(name)

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def start_cluster() -> PgCluster:
    """initdb, start, and create the `askfirst` database (about 2 s)."""
    bin_dir = find_postgres()
    if bin_dir is None:
        raise RuntimeError("PostgreSQL not installed: apt-get install -y postgresql")
    root = Path(tempfile.mkdtemp(prefix="askfirst-pg-"))
    if os.geteuid() == 0:
        owner = pwd.getpwnam(RUN_AS)
        os.chown(root, owner.pw_uid, owner.pw_gid)
    cluster = PgCluster(bin=bin_dir, root=root, port=free_ports(1)[0])
    try:
        cluster._run(
            "initdb", "-D", str(cluster.data), "-U", "postgres", "--auth=trust", "-E", "UTF8"
        )
        cluster.start()
        cluster.create_database("askfirst")
    except BaseException:
        cluster.remove()
        raise
    return cluster
