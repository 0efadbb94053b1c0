"""P2 empty wake: what one pass costs when the daemon is woken and nothing is new
(`App.run_once()` on an already-started daemon), on a small and a large mailbox.

Both mailboxes are loaded by writing Maildir files; their last few messages fall inside
`lookback`, so the first start sets the cursor as it would in real life. Time and bytes
(counted on the daemon's own imaplib connection) are medians over alternating cycles.
A raw imaplib NOOP + UID SEARCH on each mailbox is timed the same way for reference.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

from askfirst.app import App
from askfirst.imap import ImapConnection
from askfirst.mailbox import ImapMailbox
from benchlib import (
    DAY,
    ByteCounter,
    Line,
    MaildirWriter,
    MailRig,
    Seed,
    Sink,
    Timer,
    build_app,
    close_app,
    count_bytes,
    ensure_maildir,
    plain_mail,
    ratio,
    raw_login,
    rig_config,
    say,
)
from rawimap import raw_search

RECENT = 5  # messages inside lookback, so the first start has something to read


@dataclass
class Box:
    label: str
    user: str
    size: int
    app: App | None = None
    counter: ByteCounter | None = None
    times: list[float] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    raw_times: list[float] = field(default_factory=list)


def seed(rig: MailRig, box: Box) -> None:
    maildir = ensure_maildir(rig, box.user)
    now = time.time()
    old = box.size - RECENT
    start = now - 400 * DAY
    step = (385 * DAY) / max(old, 1)

    def seeds() -> list[Seed]:
        out = [
            Seed(plain_mail(i, box.user, start + i * step), start + i * step, True)
            for i in range(old)
        ]
        out += [
            Seed(
                plain_mail(old + j, box.user, now - (RECENT - j) * 3600), now - (RECENT - j) * 3600
            )
            for j in range(RECENT)
        ]
        return out

    t = Timer()
    MaildirWriter(maildir).write(seeds())
    written = t.elapsed()
    t = Timer()
    with rig.imap(box.user) as client:
        client.select_folder("INBOX", readonly=True)
    say(
        f"P2 {box.label}: wrote {box.size} files in {written:.1f} s, "
        f"first SELECT {t.elapsed():.2f} s"
    )


def imap_connection(app: App) -> ImapConnection:
    assert isinstance(app.mailbox, ImapMailbox)
    return app.mailbox.connection


async def measure(rig: MailRig, sink: Sink, work: Path, boxes: list[Box], cycles: int) -> None:
    try:
        for box in boxes:
            box.app = build_app(rig_config(rig, work / f"p2-{box.label}", box.user, sink.port))
            t = Timer()
            report = await box.app.run_once()  # the first start: lookback, cursor
            say(f"P2 {box.label}: first start read {report.fetched} mail in {t.elapsed():.2f} s")
            await box.app.run_once()  # warm
            box.counter = count_bytes(imap_connection(box.app).client._imap)
        for _ in range(cycles):
            for box in boxes:
                assert box.app is not None
                assert box.counter is not None
                before = box.counter.total
                t = Timer()
                report = await box.app.run_once()
                box.times.append(t.elapsed())
                box.sizes.append(box.counter.total - before)
                if report.fetched:
                    raise AssertionError(f"P2 {box.label}: an empty wake fetched {report.fetched}")
    finally:
        for box in boxes:
            if box.app is not None:
                await close_app(box.app)


def raw_reference(rig: MailRig, boxes: list[Box], cycles: int) -> None:
    conns = {box.label: raw_login(rig, box.user) for box in boxes}
    try:
        last = {b.label: max(raw_search(conns[b.label], "ALL")) for b in boxes}
        for _ in range(cycles):
            for box in boxes:
                imap = conns[box.label]
                t = Timer()
                imap.noop()
                raw_search(imap, "UID", f"{last[box.label] + 1}:*")
                box.raw_times.append(t.elapsed())
    finally:
        for imap in conns.values():
            imap.logout()


async def run(rig: MailRig, sink: Sink, work: Path, quick: bool) -> list[Line]:
    small = Box("1k", "carol@example.test", 1_000)
    large = Box("10k" if quick else "100k", "dave@example.test", 10_000 if quick else 100_000)
    boxes = [small, large]
    for box in boxes:
        seed(rig, box)
    cycles = 15 if quick else 30
    await measure(rig, sink, work, boxes, cycles)
    raw_reference(rig, boxes, cycles)
    t_small, t_large = statistics.median(small.times), statistics.median(large.times)
    b_small, b_large = statistics.median(small.sizes), statistics.median(large.sizes)
    r_small, r_large = statistics.median(small.raw_times), statistics.median(large.raw_times)
    t_ratio, b_ratio = ratio(t_large, t_small), ratio(b_large, b_small)
    return [
        Line(
            f"P2 empty wake time, {large.label} mailbox",
            t_large * 1000,
            "ms",
            t_ratio,
            f"{small.label} mailbox {t_small * 1000:.2f} ms",
            f"{large.label}/{small.label} <= 1.5",
            t_ratio is not None and t_ratio <= 1.5,
        ),
        Line(
            f"P2 empty wake bytes, {large.label} mailbox",
            b_large,
            "B",
            b_ratio,
            f"{small.label} mailbox {b_small:.0f} B",
            f"{large.label}/{small.label} <= 1.5",
            b_ratio is not None and b_ratio <= 1.5,
        ),
        Line(
            f"P2 empty wake time vs raw, {large.label} mailbox",
            t_large * 1000,
            "ms",
            ratio(t_large, r_large),
            f"raw imaplib NOOP + UID SEARCH {r_large * 1000:.2f} ms "
            f"({small.label}: {r_small * 1000:.2f} ms)",
        ),
    ]
