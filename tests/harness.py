"""Drive the real daemon against the test rig with a fake clock, one pass at a time."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

from askfirst import loop
from askfirst.app import App, build_app
from askfirst.clock import Clock
from askfirst.config import Settings
from askfirst.config_loading import load_settings
from askfirst.lifecycle import Invitation
from askfirst.report import Report
from askfirst.store import Store
from askfirst.testing.ownerconfig import owner_config
from askfirst.testing.rig import MailRig
from askfirst.testing.rigmail import RigMessage

REPO = Path(__file__).resolve().parent.parent
OWNER = "owner@example.test"


def write_config(rig: MailRig, directory: Path, **lifecycle: str) -> Path:
    """A config file for the rig's owner account (plaintext on loopback)."""
    return owner_config(rig, directory, REPO / "templates", lifecycle)


@dataclass
class Harness:
    rig: MailRig
    settings: Settings
    clock: Clock
    reports: list[Report] = field(default_factory=list)

    def build(self) -> App:
        """A new daemon on the same state file, as after a restart."""
        return build_app(self.settings, clock=self.clock)

    async def step(self) -> Report:
        """One pass by a freshly built daemon, which is then shut down."""
        async with self.build() as app:
            report = await app.run_once()
        self.reports.append(report)
        return report

    def invite(self, raw: bytes, sender: str = "sender@example.test") -> None:
        self.rig.deliver(raw, OWNER, mail_from=sender)

    def invitations(self) -> list[Invitation]:
        store = Store(self.settings.state.path)
        try:
            return store.invitations()
        finally:
            store.close()

    def only_invitation(self) -> Invitation:
        found = self.invitations()
        assert len(found) == 1, found
        return found[0]

    def inbox(self, user: str, folder: str = "INBOX") -> list[RigMessage]:
        return self.rig.messages(user, folder)


async def run_daemon(app: App, stop: asyncio.Event) -> None:
    """The daemon's loop on `app` until `stop`; its parts are closed after, as in `run`."""
    async with app:
        await loop.run_forever(app, stop)


def load(raw: bytes) -> EmailMessage:
    msg = message_from_bytes(raw, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def make_harness(rig: MailRig, directory: Path, clock: Clock, **lifecycle: str) -> Harness:
    return Harness(rig, load_settings(write_config(rig, directory, **lifecycle)), clock)


def clean_env() -> dict[str, str]:
    """The environment without ASKFIRST_* overrides a developer may have set."""
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("ASKFIRST_")}


def askfirst(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the `askfirst` command as a user would; its output is captured."""
    return subprocess.run(
        [sys.executable, "-m", "askfirst", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        env=clean_env() | (env or {}),
    )


def spawn_daemon(config: Path, log: Path, *extra: str) -> subprocess.Popen[bytes]:
    """`askfirst run` as a real process, its output appended to `log`."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "askfirst", "run", "--config", str(config), *extra],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=REPO,
            env=clean_env(),
        )
