"""P3 first start: a fresh daemon's first pass (`App.run_once()`) over a big mailbox with
`lookback` (14 days, the default): most mail is older, some is newer, and a few of the
newer messages are invitations (which get asked, so the pass sends and files them).

Baseline: raw imaplib on a fresh connection doing what any first scan must do at least:
login, SELECT, UID SEARCH SINCE <lookback date>, UID FETCH of the header fields the
daemon's parser reads (plus INTERNALDATE and RFC822.SIZE) for the UIDs found.

Each side runs once untimed (the first reads every file into Dovecot's cache), then
both alternate; medians of the timed runs. Each daemon run gets a new state file.
"""

from __future__ import annotations

import asyncio
import cProfile
import inspect
import io
import pstats
import statistics
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from askfirst.app import App
from askfirst.mailbox import ImapMailbox
from benchlib import (
    DAY,
    NEEDED_HEADERS,
    Line,
    MaildirWriter,
    MailRig,
    Seed,
    Sink,
    Timer,
    build_app,
    close_app,
    ensure_maildir,
    invitation,
    plain_mail,
    ratio,
    raw_login,
    rig_config,
    say,
)
from rawimap import raw_fetch, raw_search

USER = "erin@example.test"
LOOKBACK = timedelta(days=14)
FETCH_ITEMS = (
    f"(UID INTERNALDATE RFC822.SIZE BODY.PEEK[HEADER.FIELDS ({' '.join(NEEDED_HEADERS)})])"
)
# Stages of a pass, wherever this version keeps them: (attribute of App or "", method).
PHASES = (
    ("", "_recover"),
    ("intake", "read_mail"),
    ("", "_send_outbox"),
    ("", "_settle_mailbox"),
    ("outbox", "recover"),
    ("approval", "review"),
    ("outbox", "send_due"),
    ("settler", "settle"),
)


def seed(rig: MailRig, size: int, newer: int, invitations: int) -> None:
    maildir = ensure_maildir(rig, USER)
    now = time.time()
    old = size - newer
    start, old_span = now - 400 * DAY, 380 * DAY  # older mail ends 20 days ago
    new_start, new_span = now - 13 * DAY, 13 * DAY - 3600  # newer: the last 13 days
    every = max(1, newer // max(invitations, 1))
    seeds = [
        Seed(plain_mail(i, USER, start + i * old_span / old), start + i * old_span / old, True)
        for i in range(old)
    ]
    for j in range(newer):
        when = new_start + j * new_span / newer
        if j % every == every - 1 and j // every < invitations:
            k = j // every
            raw = invitation(f"Sam Inviter{k}", f"p3-inviter{k}@inviters.test", USER)
        else:
            raw = plain_mail(old + j, USER, when)
        seeds.append(Seed(raw, when))
    t = Timer()
    MaildirWriter(maildir).write(seeds)
    written = t.elapsed()
    t = Timer()
    with rig.imap(USER) as client:
        client.select_folder("INBOX", readonly=True)
    say(f"P3: wrote {size} files in {written:.1f} s, first SELECT {t.elapsed():.2f} s")


def raw_first_scan(rig: MailRig) -> tuple[float, int]:
    t = Timer()
    imap = raw_login(rig, USER)
    since = (datetime.now(UTC) - LOOKBACK).strftime("%d-%b-%Y")
    uids = raw_search(imap, "SINCE", since)
    got = raw_fetch(imap, uids, FETCH_ITEMS)
    imap.logout()
    return t.elapsed(), len(got)


def _timed_phases(app: App, phases: dict[str, float]) -> None:
    """Time the pass's stages by wrapping them on these instances (no daemon change)."""
    for owner_name, name in PHASES:
        owner = getattr(app, owner_name, None) if owner_name else app
        method = getattr(owner, name, None) if owner is not None else None
        if method is None or not inspect.iscoroutinefunction(method):
            continue
        label = name.strip("_")
        phases.setdefault(label, 0.0)

        async def wrapper(
            *args: Any, _m: Callable[..., Awaitable[Any]] = method, _n: str = label
        ) -> Any:
            t = time.perf_counter()
            try:
                return await _m(*args)
            finally:
                phases[_n] += time.perf_counter() - t

        setattr(owner, name, wrapper)


def imap_thread(app: App) -> ImapMailbox:
    assert isinstance(app.mailbox, ImapMailbox)
    return app.mailbox


async def daemon_first_start(
    rig: MailRig, sink: Sink, directory: Path, profile_to: Path | None = None
) -> tuple[float, dict[str, float], dict[str, int]]:
    app = build_app(rig_config(rig, directory, USER, sink.port))
    phases: dict[str, float] = {}
    _timed_phases(app, phases)
    main_prof = imap_prof = None
    if profile_to is not None:
        main_prof, imap_prof = cProfile.Profile(), cProfile.Profile()
        await imap_thread(app)._run(imap_prof.enable)  # the IMAP thread is profiled separately
        main_prof.enable()
    try:
        t = Timer()
        report = await app.run_once()
        elapsed = t.elapsed()
    finally:
        if main_prof is not None and imap_prof is not None and profile_to is not None:
            main_prof.disable()
            await imap_thread(app)._run(imap_prof.disable)
            _write_profile(profile_to, main_prof, imap_prof)
        await close_app(app)
    counts = {"fetched": report.fetched, "invitations": report.invitations, "sent": report.sent}
    return elapsed, phases, counts


def _write_profile(path: Path, main_prof: cProfile.Profile, imap_prof: cProfile.Profile) -> None:
    out = io.StringIO()
    for title, prof in (("event-loop thread", main_prof), ("IMAP thread", imap_prof)):
        out.write(f"==== {title}\n")
        stats = pstats.Stats(prof, stream=out)
        stats.sort_stats("tottime").print_stats(25)
        stats.sort_stats("cumulative").print_stats(25)
    path.write_text(out.getvalue())


def run(
    rig: MailRig,
    sink: Sink,
    work: Path,
    size: int,
    newer: int,
    invitations: int,
    reps: int,
    profile: bool,
) -> list[Line | str]:
    seed(rig, size, newer, invitations)
    daemon_times: list[float] = []
    raw_times: list[float] = []
    all_phases: list[dict[str, float]] = []
    counts: dict[str, int] = {}
    cold_d, _, counts = asyncio.run(daemon_first_start(rig, sink, work / "p3-cold"))
    cold_r, raw_n = raw_first_scan(rig)
    say(f"P3 untimed first runs: daemon {cold_d:.2f} s {counts}, raw {cold_r:.3f} s ({raw_n})")
    for k in range(reps):
        elapsed, phases, counts = asyncio.run(daemon_first_start(rig, sink, work / f"p3-{k}"))
        daemon_times.append(elapsed)
        all_phases.append(phases)
        raw_times.append(raw_first_scan(rig)[0])
    if profile:
        prof = work / "p3-profile.txt"
        asyncio.run(daemon_first_start(rig, sink, work / "p3-profile", prof))
        say(f"P3 profile written to {prof}")
    if counts.get("invitations") != invitations:
        say(f"P3 WARNING: expected {invitations} invitations, the pass reported {counts}")
    d, r = statistics.median(daemon_times), statistics.median(raw_times)
    names = list(all_phases[0]) if all_phases else []
    medians = {n: statistics.median(p.get(n, 0.0) for p in all_phases) for n in names}
    rest = d - sum(medians.values())
    phase_text = ", ".join(f"{n} {v:.2f} s" for n, v in medians.items())
    phase_text += f", the rest (connect, sweep, heartbeat) {rest:.2f} s"
    label = f"{size // 1000}k"
    return [
        Line(
            f"P3 first start, {label} mailbox ({newer} in lookback, {invitations} invitations)",
            d,
            "s",
            ratio(d, r),
            f"raw SEARCH SINCE + UID FETCH header fields {r:.3f} s",
            "<= 1.3x raw",
            (ratio(d, r) or 0) <= 1.3,
        ),
        f"P3 daemon phases (medians): {phase_text}; {counts.get('fetched', 0)} fetched, "
        f"raw fetched {raw_n}",
    ]
