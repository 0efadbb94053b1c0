"""`askfirst status` and `askfirst health`: what the state file says, for people and probes."""

from __future__ import annotations

import argparse
import json
from collections import Counter
from datetime import datetime
from typing import Any

from askfirst.clock import SystemClock
from askfirst.config import Settings, dry_run_path, health_limit
from askfirst.config_loading import load_accounts
from askfirst.exits import EXIT_OK, EXIT_UNREACHABLE
from askfirst.lifecycle import Invitation, State
from askfirst.metrics import FAILED_PASSES_UNHEALTHY
from askfirst.store import StateError, Store, open_store

STATUS_FIELDS = (
    "id",
    "state",
    "inviter_email",
    "inviter_name",
    "network",
    "asked_at",
    "decline_due_at",
    "answered_at",
    "declined_at",
    "handed_over_at",
    "subject",
    "reason",
    "source_message_id",
)


def invitation_record(inv: Invitation) -> dict[str, Any]:
    """One invitation as `status --json` prints it (ISO 8601 UTC times, or null)."""
    record: dict[str, Any] = {}
    for name in STATUS_FIELDS:
        value = getattr(inv, name)
        record[name] = value.isoformat() if isinstance(value, datetime) else value
    record["state"] = str(inv.state)
    record["decision"] = inv.decision.to_json()
    return record


def status_records(store: Store) -> list[dict[str, Any]]:
    return [invitation_record(i) for i in store.invitations()]


def status_text(store: Store, now: datetime, limit: int = 20) -> str:
    """Counts by state, what falls due next, the newest invitations, the outbox, the
    brakes, the last pass and recent problems."""
    invitations = store.invitations()
    lines: list[str] = []
    counts = Counter(str(i.state) for i in invitations)
    summary = ", ".join(f"{counts[s.value]} {s.value}" for s in State if counts[s.value])
    lines.append(f"invitations: {len(invitations)}" + (f" ({summary})" if summary else ""))
    lines += _next(invitations, State.ASKED, "next decline", now)
    lines += _next(invitations, State.BY_HAND, "next reminder (by hand)", now)
    if invitations:
        lines.append("")
        lines.append(
            f"{'ID':>4}  {'STATE':<12} {'INVITER':<36} {'NETWORK':<9} {'ASKED':<17} DECLINE DUE"
        )
        for inv in invitations[-limit:]:
            lines.append(
                f"{inv.id:>4}  {inv.state!s:<12} {_who(inv)[:36]:<36} "
                f"{inv.network:<9} {_when(inv.asked_at):<17} {_when(inv.decline_due_at)}"
            )
        if len(invitations) > limit:
            lines.append(f"  ... {len(invitations) - limit} older (see --json)")
    lines.append("")
    outbox = store.outbox_counts()
    lines.append("outbox: " + (", ".join(f"{n} {s}" for s, n in sorted(outbox.items())) or "empty"))
    facts = store.facts
    if rebuilt := facts.rebuilt:
        lines.append(
            f"rebuilt from the mailbox at {_when(rebuilt.at)}: "
            f"{rebuilt.asked} asked, {rebuilt.answered} answered, "
            f"{rebuilt.declined} declined, {rebuilt.handed_over} handed over"
        )
    held = facts.brake
    lines.append(f"sending: held ({held})" if held else "sending: on")
    if folder_error := facts.folder_error:
        lines.append(f"configuration: {folder_error}")
    last = facts.last_pass_at
    connected = facts.imap_connected
    lines.append(
        f"last pass: {_when(last)}"
        + ("" if connected or not last else f" (IMAP not connected: {facts.last_error})")
    )
    failed = facts.failed_passes
    if failed:
        lines.append(f"failing: the last {failed} passes failed: {facts.last_error}")
    problems = store.recent_problems()
    if problems:
        lines.append("recent problems:")
        lines.extend(f"  {_when(at)} {what}" for at, what in problems)
    return "\n".join(lines)


def _next(invitations: list[Invitation], state: State, what: str, now: datetime) -> list[str]:
    """The five soonest deadlines of invitations in `state`."""
    waiting = sorted(
        (i for i in invitations if i.state is state and i.decline_due_at),
        key=lambda i: i.decline_due_at or now,
    )
    return [
        f"  {what}: {_when(inv.decline_due_at)} {_who(inv)} "
        f"(in {_age((inv.decline_due_at or now) - now)})"
        for inv in waiting[:5]
    ]


def _who(inv: Invitation) -> str:
    return f"{inv.inviter_name} <{inv.inviter_email}>" if inv.inviter_name else inv.inviter_email


def _when(when: datetime | None) -> str:
    return when.strftime("%Y-%m-%d %H:%M") if when else "-"


def _age(delta: Any) -> str:
    seconds = max(0, int(delta.total_seconds()))
    days, rest = divmod(seconds, 86400)
    return f"{days}d {rest // 3600}h" if days else f"{rest // 3600}h {rest % 3600 // 60}m"


def status_command(args: argparse.Namespace) -> int:
    accounts = load_accounts(args.config, secrets=False)
    records: list[dict[str, Any]] = []
    for settings in accounts:
        path = dry_run_path(settings.state.path) if args.dry_run else settings.state.path
        shared = bool(settings.state.url.get_secret_value())
        if not shared and not path.exists():
            if not args.json:
                print(f"invitations: 0 (no state file {path} yet: askfirst run has not started)")
            continue
        try:
            store = open_store(settings, dry_run=args.dry_run, read_only=True)
        except StateError as exc:
            if not shared:
                raise
            if not args.json:  # PostgreSQL: this account has not run yet
                print(f"invitations: 0 ({exc})")
            continue
        try:
            if args.json:
                records += [
                    {"account": settings.name or "default", **r} for r in status_records(store)
                ]
                continue
            if len(accounts) > 1:
                print(f"== account {settings.name}")
            print(status_text(store, SystemClock().now()))
        finally:
            store.close()
    if args.json:
        print(json.dumps(records, indent=2, ensure_ascii=False))
    return EXIT_OK


def health_command(args: argparse.Namespace) -> int:
    """For container health checks: every account's loop wrote its heartbeat recently."""
    codes = [health_of(settings) for settings in load_accounts(args.config, secrets=False)]
    return max(codes)


def health_of(settings: Settings) -> int:
    if not settings.state.url.get_secret_value() and not settings.state.path.exists():
        print("unhealthy: no state yet (askfirst run has not started)")
        return EXIT_UNREACHABLE
    try:
        store = open_store(settings, read_only=True)
    except StateError as exc:
        if not settings.state.url.get_secret_value():
            raise
        print(f"unhealthy: {exc}")
        return EXIT_UNREACHABLE
    try:
        facts = store.facts
        last = facts.last_pass_at
        connected = facts.imap_connected
        error = facts.last_error
        config_error = facts.config_error or facts.folder_error
        failed = facts.failed_passes
    finally:
        store.close()
    limit = health_limit(settings)
    age = SystemClock().now().timestamp() - last.timestamp() if last else None
    if age is None or age > limit:
        print(f"unhealthy: no completed pass for {'ever' if age is None else f'{age:.0f} s'}")
        return EXIT_UNREACHABLE
    if not connected:
        print(f"unhealthy: IMAP not connected: {error}")
        return EXIT_UNREACHABLE
    if failed >= FAILED_PASSES_UNHEALTHY:
        print(f"unhealthy: the last {failed} passes failed: {error}")
        return EXIT_UNREACHABLE
    if config_error:
        print(f"unhealthy: {config_error}")
        return EXIT_UNREACHABLE
    print(f"healthy: last pass {age:.0f} s ago")
    return EXIT_OK
