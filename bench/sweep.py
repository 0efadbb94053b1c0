"""P5 sweep: one deadline sweep (`App._sweep`, and the `Store.due` query under it) over N
open invitations (state `asked`) in the SQLite store, with none due and with 100 due.

The store is filled in bulk: one invitation is saved through `Store.save` (so the row is
valid for whatever schema this version has), then copied N-1 times in one SQL statement
with its own Message-IDs, addresses and due times. With 100 due, each sweep turns them
into declines (template, outbox row, flag op); the 100 rows are restored between runs.
Baseline: `SELECT COUNT(*)` of the same table (the cheapest full look at it).
"""

from __future__ import annotations

import sqlite3
import statistics
import time
from datetime import timedelta
from pathlib import Path

from askfirst.clock import FakeClock, SystemClock, to_epoch
from askfirst.lifecycle import Invitation, State
from askfirst.record import DecisionRecord
from askfirst.report import Report
from askfirst.store import Store
from benchlib import Line, Timer, build_app, fmt, ratio, say, write_config

DUE = 100


def populate(path: Path, n: int, now_epoch: int) -> None:
    t = Timer()
    store = Store(path)
    clock_now = SystemClock().now()
    first = Invitation(
        source_message_id="<seed-0@bench.test>",
        network="linkedin",
        inviter_name="Sam Seed",
        inviter_email="seed0@inviters.test",
        subject="Invitation to connect on LinkedIn",
        references=("<seed-0@bench.test>",),
        state=State.ASKED,
        reason="boilerplate",
        decision=DecisionRecord(action="ask", rule="boilerplate"),
        asked_message_id="<ask-0@bench.test>",
        asked_at=clock_now - timedelta(days=1),
        decline_due_at=clock_now + timedelta(hours=1),
    )
    with store.transaction():
        store.save(first, clock_now)
    store.close()
    db = sqlite3.connect(path, isolation_level=None)
    cols = [r[1] for r in db.execute("PRAGMA table_info(invitations)") if r[1] != "id"]
    step = max(1, (6 * 86400) // n)  # due times spread over the next ~6 days
    overrides = {
        "source_message_id": "'<seed-' || i || '@bench.test>'",
        "inviter_email": "'seed' || i || '@inviters.test'",
        "asked_message_id": "'<ask-' || i || '@bench.test>'",
        "decline_due_at": f"{now_epoch + 3600} + i * {step}",
        "asked_at": f"{now_epoch + 3600 - 7 * 86400} + i * {step}",
    }
    select = ", ".join(overrides.get(c, f"t.{c}") for c in cols)
    db.execute("BEGIN")
    db.execute(
        f"WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < {n - 1}) "
        f"INSERT INTO invitations ({', '.join(cols)}) "
        f"SELECT {select} FROM seq, invitations AS t WHERE t.id = 1"
    )
    db.execute("COMMIT")
    db.execute("ANALYZE")
    count = db.execute("SELECT COUNT(*) FROM invitations").fetchone()[0]
    db.close()
    say(f"P5: {count} open invitations in the store in {t.elapsed():.1f} s")


def median_ms(fn: object, reps: int) -> float:
    assert callable(fn)
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def run(work: Path, n: int) -> list[Line | str]:
    directory = work / "p5"
    config = write_config(
        directory, user="owner@example.test", password="x", imap_port=1, smtp_port=1
    )
    now = SystemClock().now()
    populate(directory / "state.sqlite3", n, to_epoch(now))
    app = build_app(config, FakeClock(now))
    db = sqlite3.connect(directory / "state.sqlite3", isolation_level=None)
    try:
        count_ms = median_ms(lambda: db.execute("SELECT COUNT(*) FROM invitations").fetchone(), 30)
        none_sweep = median_ms(lambda: app._sweep(Report()), 30)
        none_due = median_ms(lambda: app.store.due(now), 30)
        # make the first 100 due, keep a copy of them to restore between sweeps
        past = to_epoch(now) - 60
        db.execute(f"UPDATE invitations SET decline_due_at = {past} WHERE id <= {DUE}")
        cols = [r[1] for r in db.execute("PRAGMA table_info(invitations)")]
        saved = db.execute(f"SELECT * FROM invitations WHERE id <= {DUE}").fetchall()
        marks = ", ".join("?" for _ in cols)

        def restore() -> None:
            db.execute("BEGIN")
            db.executemany(f"INSERT OR REPLACE INTO invitations VALUES ({marks})", saved)
            db.execute("DELETE FROM outbox")
            db.execute("DELETE FROM flag_ops")
            db.execute("COMMIT")

        some_due = median_ms(lambda: app.store.due(now), 30)
        sweeps = []
        for _ in range(9):
            restore()
            report = Report()
            t = time.perf_counter()
            app._sweep(report)
            sweeps.append(time.perf_counter() - t)
            if report.declined != DUE:
                raise AssertionError(f"P5: a sweep declined {report.declined}, not {DUE}")
        due_sweep = statistics.median(sweeps) * 1000
    finally:
        db.close()
        app.store.close()
    label = f"{n // 1000}k"
    base = f"SELECT COUNT(*) {fmt(count_ms)} ms"
    return [
        Line(
            f"P5 sweep over {label} open, none due",
            none_sweep,
            "ms",
            ratio(none_sweep, count_ms),
            base,
            "< 100 ms",
            none_sweep < 100,
        ),
        Line(
            f"P5 sweep over {label} open, {DUE} due",
            due_sweep,
            "ms",
            ratio(due_sweep, count_ms),
            base,
            "< 100 ms",
            due_sweep < 100,
        ),
        Line(
            f"P5 Store.due over {label} open, none due",
            none_due,
            "ms",
            ratio(none_due, count_ms),
            base,
        ),
        Line(
            f"P5 Store.due over {label} open, {DUE} due",
            some_due,
            "ms",
            ratio(some_due, count_ms),
            base,
        ),
    ]
