"""Shared fixtures. The mail rig is started once per session and reset before each test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from askfirst.clock import FakeClock, SystemClock
from askfirst.testing.cyrus import find_cyrus, start_cyrus_rig
from askfirst.testing.dovecot import find_dovecot
from askfirst.testing.rig import MailRig, start_rig
from harness import Harness, make_harness

_DOVECOT_HINT = "dovecot not installed: apt-get install -y dovecot-imapd dovecot-lmtpd"


@pytest.fixture(scope="session")
def mailrig() -> Iterator[MailRig]:
    """One real Dovecot + SMTP bridge for the whole session (start ~0.3 s, stop ~1.1 s)."""
    if find_dovecot() is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the mail rig tests: {_DOVECOT_HINT}")
        pytest.skip(_DOVECOT_HINT)
    rig = start_rig()
    try:
        yield rig
    finally:
        rig.stop()


@pytest.fixture
def rig(mailrig: MailRig) -> MailRig:
    """The session rig, emptied (mailboxes, faults, accepted list) before the test."""
    mailrig.reset()
    return mailrig


@pytest.fixture
def clock() -> FakeClock:
    """Time for the daemon under test: starts now, moves only when a test says so."""
    return FakeClock(SystemClock().now())


@pytest.fixture
def h(rig: MailRig, tmp_path: Path, clock: FakeClock) -> Harness:
    """A daemon on the rig's owner account, rebuilt for every step."""
    return make_harness(rig, tmp_path, clock)


_CYRUS_HINT = "Cyrus not installed: scripts/test installs cyrus-common and unpacks imapd"


@pytest.fixture(scope="session")
def cyrusrig() -> Iterator[MailRig]:
    """A private Cyrus + the same SMTP bridge, for the cases that run on both servers."""
    if find_cyrus() is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the Cyrus tests: {_CYRUS_HINT}")
        pytest.skip(_CYRUS_HINT)
    rig = start_cyrus_rig()
    try:
        yield rig
    finally:
        rig.stop()


@pytest.fixture(params=["dovecot", "cyrus"])
def anyrig(request: pytest.FixtureRequest) -> MailRig:
    """Each server in turn (Dovecot, then Cyrus), emptied before the test."""
    rig: MailRig = request.getfixturevalue("mailrig" if request.param == "dovecot" else "cyrusrig")
    rig.reset()
    return rig


@pytest.fixture
def h_any(anyrig: MailRig, tmp_path: Path, clock: FakeClock) -> Harness:
    """`h` on each server in turn: a module opts in with `h = h_any` style override."""
    return make_harness(anyrig, tmp_path, clock)
