"""The container image as a user runs it: podman, the daemon inside, the real rig on loopback.

Skipped unless ASKFIRST_IMAGE names a built image (`scripts/container-test` builds one and
sets it). Every container runs with `--network host` (the rig listens on 127.0.0.1, and no
bridge means no firewall tables), a read-only root filesystem with only a small /tmp
tmpfs, and `--no-healthcheck` (podman's healthcheck timers need systemd): the image's
HEALTHCHECK command is run by hand with `podman exec` instead.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from askfirst import __version__
from askfirst.testing.rig import MailRig
from harness import OWNER, load, write_config
from mails import linkedin_2012, reply

IMAGE = os.environ.get("ASKFIRST_IMAGE", "")
APP_UID = 10001
ALICE = "alice@example.test"
BOB = "bob@example.test"

pytestmark = pytest.mark.skipif(
    not IMAGE, reason="ASKFIRST_IMAGE is not set (scripts/container-test builds and sets it)"
)


def podman(*args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        ["podman", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"podman {' '.join(args)} exited {result.returncode}:\n{result.stdout}{result.stderr}"
        )
    return result


def _ulimits() -> list[str]:
    """Explicit nofile/nproc limits within this process's hard limits: as root without
    CAP_SYS_RESOURCE, podman's default of raising them makes the runtime fail."""
    flags = []
    for name, rlimit, cap in (
        ("nofile", resource.RLIMIT_NOFILE, 65536),
        ("nproc", resource.RLIMIT_NPROC, 32768),
    ):
        hard = resource.getrlimit(rlimit)[1]
        value = cap if hard == resource.RLIM_INFINITY else min(hard, cap)
        flags += ["--ulimit", f"{name}={value}:{value}"]
    return flags


def image_inspect(template: str) -> str:
    return podman("image", "inspect", "--format", template, IMAGE).stdout.strip()


@pytest.fixture(scope="module")
def image() -> str:
    if shutil.which("podman") is None:
        pytest.fail(f"ASKFIRST_IMAGE={IMAGE} is set but podman is not installed")
    if podman("image", "exists", IMAGE, check=False).returncode != 0:
        pytest.fail(f"ASKFIRST_IMAGE={IMAGE}: no such image (run scripts/container-test)")
    return IMAGE


class Mounts:
    """A config without passwords or paths, the IMAP password as a secret file, and a data
    directory owned by the image's user: what a user would bind-mount."""

    def __init__(self, rig: MailRig, directory: Path) -> None:
        config = write_config(
            rig, directory, decline_after="5s", poll_interval="1h", sweep_interval="1h"
        )
        # The image sets ASKFIRST_STATE__PATH and ASKFIRST_TEMPLATES__DIR; drop the harness's
        # host paths, and the password, which comes from a secret file as with compose.
        text = config.read_text().split("\n[state]")[0]
        password_line = f'password = "{rig.password(OWNER)}"\n'
        assert password_line in text
        config.write_text(text.replace(password_line, ""))
        config.chmod(0o644)
        self.config = config
        self.secrets = directory / "secrets"
        self.secrets.mkdir(mode=0o755)
        secret = self.secrets / "askfirst_imap__password"
        secret.write_text(rig.password(OWNER))
        secret.chmod(0o444)
        self.data = directory / "data"
        self.data.mkdir(mode=0o700)
        os.chown(self.data, APP_UID, APP_UID)

    def flags(self) -> list[str]:
        return [
            "-v",
            f"{self.config}:/config/config.toml:ro",
            "-v",
            f"{self.secrets}:/run/secrets:ro",
            "-v",
            f"{self.data}:/data",
        ]


def locked_down() -> list[str]:
    """Host network, read-only root with only /tmp writable, no healthcheck timers."""
    return [
        "--network",
        "host",
        "--no-healthcheck",
        "--read-only",
        "--read-only-tmpfs=false",
        "--tmpfs",
        "/tmp:rw,size=16m,mode=1777",
        "--label",
        "askfirst.test=container",
        *_ulimits(),
    ]


@pytest.fixture
def containers() -> Iterator[list[str]]:
    """Names of containers to remove after the test; their logs are printed first (pytest
    shows them when the test fails)."""
    names: list[str] = []
    try:
        yield names
    finally:
        for name in names:
            if podman("container", "exists", name, check=False).returncode == 0:
                logs = podman("logs", name, check=False)
                print(f"---- podman logs {name}\n{logs.stdout}{logs.stderr}")
                podman("rm", "-f", name, check=False)


def healthcheck(name: str) -> subprocess.CompletedProcess[str]:
    """The image's own HEALTHCHECK command, run as podman would run it."""
    test = json.loads(image_inspect("{{json .HealthCheck.Test}}"))
    kind, rest = test[0], test[1:]
    command = rest if kind == "CMD" else ["/bin/sh", "-c", rest[0]]
    return podman("exec", name, *command, check=False, timeout=30)


def wait_healthy(name: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        result = healthcheck(name)
        if result.returncode == 0:
            return
        running = podman("inspect", "--format", "{{.State.Running}}", name).stdout.strip()
        if running != "true" or time.monotonic() > deadline:
            logs = podman("logs", name, check=False)
            raise AssertionError(
                f"not healthy (running={running}): {result.stdout}{result.stderr}\n"
                f"{logs.stdout}{logs.stderr}"
            )
        time.sleep(0.5)


def test_image_metadata(image: str) -> None:
    labels = json.loads(image_inspect("{{json .Labels}}"))
    assert labels["org.opencontainers.image.title"] == "askfirst"
    assert labels["org.opencontainers.image.licenses"] == "MIT"
    assert labels["org.opencontainers.image.version"] == __version__
    assert labels["org.opencontainers.image.description"]
    assert image_inspect("{{.User}}") == f"{APP_UID}:{APP_UID}"
    assert image_inspect("{{.Config.StopSignal}}") == "SIGTERM"
    assert json.loads(image_inspect("{{json .Config.Entrypoint}}")) == ["askfirst"]
    assert json.loads(image_inspect("{{json .Config.Cmd}}")) == [
        "run",
        "--config",
        "/config/config.toml",
    ]
    assert json.loads(image_inspect("{{json .HealthCheck.Test}}")) == [
        "CMD",
        "askfirst",
        "health",
        "--config",
        "/config/config.toml",
    ]
    env = json.loads(image_inspect("{{json .Config.Env}}"))
    assert "ASKFIRST_STATE__PATH=/data/askfirst.sqlite3" in env
    assert "ASKFIRST_TEMPLATES__DIR=/app/templates" in env
    assert "/data" in json.loads(image_inspect("{{json .Config.Volumes}}"))


def test_image_holds_no_build_tools(image: str) -> None:
    """No compiler, no pip in the venv, no pip cache; byte code compiled at build time."""
    probe = (
        "import glob, os, shutil\n"
        "print(sorted(t for t in ('gcc', 'cc', 'make', 'git') if shutil.which(t)))\n"
        "print(os.path.exists('/opt/askfirst/bin/pip'))\n"
        "print(sorted(glob.glob('/root/.cache/pip')))\n"
        "print(bool(glob.glob('/opt/askfirst/lib/python3*/site-packages/askfirst/__pycache__')))\n"
    )
    result = podman("run", "--rm", *locked_down(), "--entrypoint", "python3", image, "-c", probe)
    assert result.stdout.split("\n")[:4] == ["[]", "False", "[]", "True"], result.stdout


def test_check_and_a_partial_template_override(
    image: str, rig: MailRig, tmp_path: Path, containers: list[str]
) -> None:
    """`askfirst check` finds the built-in templates; a mounted folder with only ask.txt.j2
    overrides that one and the others still come from the image."""
    mounts = Mounts(rig, tmp_path)
    check = podman(
        "run",
        "--rm",
        *locked_down(),
        *mounts.flags(),
        image,
        "check",
        "--config",
        "/config/config.toml",
    )
    assert "templates: ok (/app/templates)" in check.stdout
    assert "imap: ok" in check.stdout and "smtp: ok" in check.stdout
    assert "state: /data/askfirst.sqlite3" in check.stdout

    mine = tmp_path / "templates"
    mine.mkdir(mode=0o755)
    (mine / "ask.txt.j2").write_text("Subject: Who are you, {{ inviter.first_name }}?\n\nHi.\n")
    (mine / "ask.txt.j2").chmod(0o644)
    rig.deliver(linkedin_2012("Alice Example", ALICE), OWNER)
    name = f"askfirst-once-{uuid.uuid4().hex[:8]}"
    containers.append(name)
    once = podman(
        "run",
        "--name",
        name,
        *locked_down(),
        *mounts.flags(),
        "-v",
        f"{mine}:/app/templates:ro",
        image,
        "run",
        "--once",
        "--config",
        "/config/config.toml",
    )
    assert json.loads(once.stdout.splitlines()[-1])["sent"] == 1
    (ask,) = rig.wait_for(ALICE, 1, timeout=10)
    assert ask.subject == "Who are you, Alice?"


def test_lifecycle_in_a_read_only_container_as_non_root(
    image: str, rig: MailRig, tmp_path: Path, containers: list[str]
) -> None:
    """Ask, answer, decline and handover with the daemon in the container; then SIGTERM."""
    mounts = Mounts(rig, tmp_path)
    name = f"askfirst-test-{uuid.uuid4().hex[:8]}"
    containers.append(name)
    podman("run", "-d", "--name", name, *locked_down(), *mounts.flags(), image)
    wait_healthy(name)  # the first pass is done and IMAP is connected

    rig.deliver(linkedin_2012("Alice Example", ALICE), OWNER)
    rig.deliver(linkedin_2012("Bob Builder", BOB), OWNER)
    (ask_alice,) = rig.wait_for(ALICE, 1, timeout=20)
    (ask_bob,) = rig.wait_for(BOB, 1, timeout=20)
    rig.deliver(reply(ask_bob.raw, BOB, "Hi Pat, I organise the local Python user group."), OWNER)

    _, decline = rig.wait_for(ALICE, 2, timeout=20)
    assert load(decline.raw)["In-Reply-To"] == load(ask_alice.raw)["Message-ID"]
    notices = [m for m in rig.wait_for(OWNER, 4, timeout=15) if m.subject.startswith("[askfirst]")]
    assert len(notices) == 1 and "Bob Builder" in notices[0].subject
    assert len(rig.messages(BOB)) == 1

    # non-root inside and on the host
    top = podman("top", name, "user", "huser").stdout.splitlines()
    assert len(top) >= 2, top
    user, huser = top[1].split()[:2]
    assert user != "root" and huser == str(APP_UID), top
    # the state is on the /data volume, owner-only; the root filesystem is read-only
    state = mounts.data / "askfirst.sqlite3"
    assert state.stat().st_uid == APP_UID and state.stat().st_mode & 0o077 == 0
    write = podman("exec", name, "python3", "-c", "open('/app/x', 'w')", check=False)
    assert write.returncode != 0 and "Read-only file system" in write.stderr
    podman("exec", name, "python3", "-c", "open('/tmp/x', 'w').write('tmpfs')")

    health = healthcheck(name)
    assert health.returncode == 0, health.stdout + health.stderr
    assert health.stdout.startswith("healthy")

    started = time.monotonic()
    podman("stop", "-t", "10", name, timeout=30)
    assert time.monotonic() - started < 8, "SIGTERM was not handled: podman had to SIGKILL"
    assert podman("inspect", "--format", "{{.State.ExitCode}}", name).stdout.strip() == "0"
    logs = podman("logs", name)
    assert "askfirst.stopped" in logs.stdout + logs.stderr

    # a new container on the same volume sees the state (as after an upgrade)
    status = podman(
        "run",
        "--rm",
        *locked_down(),
        *mounts.flags(),
        image,
        "status",
        "--json",
        "--config",
        "/config/config.toml",
    )
    states = {r["inviter_email"]: r["state"] for r in json.loads(status.stdout)}
    assert states == {ALICE: "declined", BOB: "answered"}
