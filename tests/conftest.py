"""Shared fixtures. The mail rig is started once per session and reset before each test."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from askfirst.clock import FakeClock, SystemClock
from askfirst.testing.cyrus import find_cyrus, start_cyrus_rig
from askfirst.testing.dovecot import find_dovecot
from askfirst.testing.postgres import PgCluster, find_postgres, start_cluster
from askfirst.testing.rig import MailRig, start_rig
from harness import Harness, make_harness

_DOVECOT_HINT = "dovecot not installed: apt-get install -y dovecot-imapd dovecot-lmtpd"
_POSTGRES_HINT = "PostgreSQL not installed: apt-get install -y postgresql"


def _require(found: bool, what: str, hint: str) -> None:
    """Skip the tests that need a missing server; in CI, fail them."""
    if not found:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run {what} tests: {hint}")
        pytest.skip(hint)


@pytest.fixture(scope="session")
def mailrig() -> Iterator[MailRig]:
    """One real Dovecot + SMTP bridge for the whole session (start ~0.3 s, stop ~1.1 s)."""
    _require(find_dovecot() is not None, "the mail rig", _DOVECOT_HINT)
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


@pytest.fixture(scope="session")
def postgres() -> Iterator[PgCluster]:
    """One private PostgreSQL cluster for the whole session (initdb + start ~2 s)."""
    _require(find_postgres() is not None, "the PostgreSQL", _POSTGRES_HINT)
    cluster = start_cluster()
    try:
        yield cluster
    finally:
        cluster.stop()
        cluster.remove()


@pytest.fixture
def pg_url(postgres: PgCluster) -> str:
    """A fresh, empty database in the session cluster, for this test alone."""
    import psycopg

    name = f"t{next(_databases)}"
    with psycopg.connect(postgres.url("postgres"), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}".encode())
    return postgres.url(name)


_databases = itertools.count(1)


_CYRUS_HINT = "Cyrus not installed: scripts/test installs cyrus-common and unpacks imapd"


@pytest.fixture(scope="session")
def cyrusrig() -> Iterator[MailRig]:
    """A private Cyrus + the same SMTP bridge, for the cases that run on both servers."""
    _require(find_cyrus() is not None, "the Cyrus", _CYRUS_HINT)
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
