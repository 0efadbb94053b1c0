"""store: owner-only SQLite state, invitations round-trip, due declines, cursor, outbox."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from askfirst.lifecycle import Invitation, State
from askfirst.mails import MailKind, OutboxState
from askfirst.record import DecisionRecord
from askfirst.store import RebuildNote, Store

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """The same store tests on both backends: the same SQL goes through either connection."""
    if request.param == "sqlite":
        opened = Store(tmp_path / "state" / "askfirst.sqlite3")
    else:
        from askfirst import pgstate

        db = pgstate.connect(request.getfixturevalue("pg_url"), "test")
        with db.setting_up():
            opened = Store(tmp_path / "unused", db=db)
    try:
        yield opened
    finally:
        opened.close()


def invitation(n: int = 1, state: State = State.ASKED, **fields: object) -> Invitation:
    base = Invitation(
        source_message_id=f"<inv-{n}@example.net>",
        network="linkedin",
        inviter_name=f"Inviter {n}",
        inviter_email=f"inviter{n}@example.net",
        state=state,
    )
    return replace(base, **fields)  # type: ignore[arg-type]


def asked(n: int, due: datetime) -> Invitation:
    return invitation(n, State.ASKED, asked_at=due - 7 * DAY, decline_due_at=due)


# -- the file ------------------------------------------------------------------------------


def test_the_database_is_created_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "new" / "dir" / "state.sqlite3"
    db = Store(path)
    try:
        db.save(invitation(), T0)  # a write creates the WAL files too
        files = sorted(path.parent.iterdir())
        assert path in files
        for file in files:
            assert stat.S_IMODE(file.stat().st_mode) == 0o600, file.name
    finally:
        db.close()


def test_reopening_keeps_the_data(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    first = Store(path)
    saved = first.save(invitation(), T0)
    first.close()

    again = Store(path)
    try:
        assert again.invitations() == [saved]
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    finally:
        again.close()


# -- invitations ---------------------------------------------------------------------------


def test_an_invitation_round_trips(store: Store) -> None:
    inv = invitation(
        7,
        State.ASKED,
        subject="Invitation to connect on LinkedIn",
        references=("<root@example.net>", "<inv-7@example.net>"),
        reason="boilerplate",
        decision=DecisionRecord(rule="boilerplate", reasons=("a: miss", "b: hit")),
        asked_message_id="<ask-7@example.org>",
        asked_at=T0,
        decline_due_at=T0 + 7 * DAY,
    )
    saved = store.save(inv, T0)

    assert saved.id is not None
    assert saved == replace(inv, id=saved.id)
    assert store.invitation(saved.id) == saved
    assert store.by_source("<inv-7@example.net>") == saved
    assert store.by_source("<unknown@example.net>") is None
    assert saved.asked_at is not None and saved.asked_at.tzinfo is not None


def test_saving_again_updates_the_same_row(store: Store) -> None:
    saved = store.save(asked(1, T0), T0)
    later = T0 + 8 * DAY
    updated = store.save(
        replace(saved, state=State.DECLINED, reason="no answer in time", declined_at=later), later
    )

    assert updated.id == saved.id
    assert updated.state is State.DECLINED
    assert updated.declined_at == later
    assert store.invitations() == [updated]


def test_due_returns_only_asked_invitations_whose_deadline_has_come(store: Store) -> None:
    store.save(asked(1, T0 - DAY), T0)  # overdue
    store.save(asked(2, T0), T0)  # due exactly now
    store.save(asked(3, T0 + timedelta(seconds=1)), T0)  # not yet
    store.save(replace(asked(4, T0 - 2 * DAY), state=State.DECLINED), T0)  # already declined
    store.save(replace(asked(5, T0 - 2 * DAY), state=State.ANSWERED), T0)  # answered
    store.save(invitation(6, State.HANDED_OVER), T0)  # never had a deadline

    due = store.due(T0)

    assert [inv.source_message_id for inv in due] == ["<inv-1@example.net>", "<inv-2@example.net>"]
    assert all(inv.state is State.ASKED for inv in due)
    assert store.next_due() == T0 - DAY
    assert [i.source_message_id for i in store.due(T0 + DAY)][-1] == "<inv-3@example.net>"


def test_due_respects_its_limit_and_next_due_is_none_when_nothing_waits(store: Store) -> None:
    assert store.next_due() is None
    for n in range(5):
        store.save(asked(n, T0 - n * DAY), T0)
    assert len(store.due(T0, limit=2)) == 2
    assert store.due(T0, limit=2)[0].source_message_id == "<inv-4@example.net>"  # oldest first


def test_open_by_email_and_asked_since(store: Store) -> None:
    store.save(asked(1, T0 + 7 * DAY), T0)
    store.save(invitation(2, State.HANDED_OVER, inviter_email="inviter1@example.net"), T0)

    found = store.open_by_email("inviter1@example.net")
    assert found is not None and found.source_message_id == "<inv-1@example.net>"
    assert store.open_by_email("nobody@example.net") is None
    assert store.asked_since("inviter1@example.net", T0 - DAY)
    assert not store.asked_since("inviter1@example.net", T0 + DAY)


# -- seen mail and the cursor ----------------------------------------------------------------


def test_the_cursor_keeps_the_highest_uid_for_the_same_uidvalidity(store: Store) -> None:
    assert store.cursor("INBOX") is None
    store.set_cursor("INBOX", 100, 5)
    store.set_cursor("INBOX", 100, 3)  # an older message processed late
    assert store.cursor("INBOX") == (100, 5)
    store.set_cursor("INBOX", 100, 9)
    assert store.cursor("INBOX") == (100, 9)


def test_a_new_uidvalidity_resets_the_cursor(store: Store) -> None:
    store.set_cursor("INBOX", 100, 500)
    store.set_cursor("INBOX", 200, 2)
    assert store.cursor("INBOX") == (200, 2)
    store.set_cursor("Other", 7, 1)
    assert store.cursor("INBOX") == (200, 2)
    assert store.cursor("Other") == (7, 1)


def test_mark_seen_records_the_mail_and_moves_the_cursor(store: Store) -> None:
    store.mark_seen("INBOX", 100, 42, "<m@example.net>", "asked", T0)
    assert store.seen_message("<m@example.net>")
    assert not store.seen_message("<other@example.net>")
    assert store.cursor("INBOX") == (100, 42)
    assert store.uids_of("INBOX", 100, "<m@example.net>") == [42]
    assert store.uids_of("INBOX", 101, "<m@example.net>") == []


# -- outbox --------------------------------------------------------------------------------


def test_outbox_rows_move_through_their_states(store: Store) -> None:
    inv = store.save(asked(1, T0 + 7 * DAY), T0)
    store.enqueue(
        "<ask-1@example.org>", inv.id, MailKind.ASK, "inviter1@example.net", b"raw bytes", T0
    )

    (row,) = store.outbox((OutboxState.PENDING,))
    assert (row.message_id, row.invitation_id) == ("<ask-1@example.org>", inv.id)
    assert row.kind is MailKind.ASK and row.state is OutboxState.PENDING  # read as the enums
    assert (row.raw, row.attempts, row.last_error) == (b"raw bytes", 0, "")
    assert row.next_attempt_at == T0
    assert store.is_ours("<ask-1@example.org>")
    assert not store.is_ours("<other@example.org>")

    store.set_outbox_state("<ask-1@example.org>", OutboxState.SENDING)
    assert store.outbox((OutboxState.PENDING,)) == []
    claimed = store.outbox((OutboxState.SENDING, OutboxState.DATA))
    assert [r.state for r in claimed] == [OutboxState.SENDING]

    retry_at = T0 + timedelta(minutes=10)
    store.set_outbox_state(
        "<ask-1@example.org>",
        OutboxState.PENDING,
        attempts=1,
        next_attempt_at=retry_at,
        last_error="451",
    )
    assert store.outbox((OutboxState.PENDING,), before=T0) == []
    (retry,) = store.outbox((OutboxState.PENDING,), before=retry_at)
    assert (retry.attempts, retry.last_error, retry.next_attempt_at) == (1, "451", retry_at)
    assert store.next_attempt() == retry_at

    store.set_outbox_state("<ask-1@example.org>", OutboxState.SENT)
    assert [r.message_id for r in store.uncopied()] == ["<ask-1@example.org>"]
    store.mark_copied("<ask-1@example.org>")
    assert store.uncopied() == []
    assert store.outbox_counts() == {OutboxState.SENT: 1}


def test_a_handover_notice_is_never_copied_to_sent(store: Store) -> None:
    store.enqueue("<notice@example.org>", None, MailKind.HANDOVER, "pat@example.org", b"n", T0)
    store.set_outbox_state("<notice@example.org>", OutboxState.SENT)
    assert store.uncopied() == []


def test_outbox_counts_group_by_state(store: Store) -> None:
    for n, state in enumerate([OutboxState.PENDING, OutboxState.PENDING, OutboxState.FAILED]):
        store.enqueue(f"<m{n}@example.org>", None, MailKind.ASK, "x@example.net", b"r", T0)
        store.set_outbox_state(f"<m{n}@example.org>", state)
    assert store.outbox_counts() == {OutboxState.PENDING: 2, OutboxState.FAILED: 1}


def test_by_thread_finds_the_invitation_of_our_own_sent_mail(store: Store) -> None:
    inv = store.save(asked(1, T0 + 7 * DAY), T0)
    store.enqueue("<ask-1@example.org>", inv.id, MailKind.ASK, "inviter1@example.net", b"r", T0)
    store.enqueue("<notice@example.org>", None, MailKind.HANDOVER, "pat@example.org", b"n", T0)

    assert store.by_thread(("<unrelated@x>", "<ask-1@example.org>")) == inv
    assert store.by_thread(("<notice@example.org>",)) is None
    assert store.by_thread(()) is None


def test_flag_ops_are_queued_until_done(store: Store) -> None:
    store.add_flag_op("<inv-1@example.net>", ("\\Flagged", "$askfirst-handover"))
    (op,) = store.flag_ops()
    assert (op.message_id, op.flags) == ("<inv-1@example.net>", ("\\Flagged", "$askfirst-handover"))
    store.flag_op_done(op.id)
    assert store.flag_ops() == []


# -- facts ---------------------------------------------------------------------------------


def test_facts_read_as_their_types_and_missing_ones_as_nothing_said(store: Store) -> None:
    facts = store.facts
    assert (facts.last_pass_at, facts.failed_passes, facts.imap_connected) == (None, 0, False)
    assert (facts.last_error, facts.rebuilt) == ("", None)
    facts.failed_passes += 1
    facts.failed_passes += 1
    facts.imap_connected = True
    assert (store.facts.failed_passes, store.facts.imap_connected) == (2, True)


def test_facts_keep_the_text_other_readers_know(store: Store) -> None:
    """`status`, `health` and other askfirst versions read the meta table's text as it was."""
    facts = store.facts
    facts.last_pass_at = T0
    facts.failed_passes = 3
    facts.imap_connected = False
    facts.last_error = "TimeoutError: x"
    facts.rebuilt = RebuildNote(T0, asked=3, answered=1, declined=2, handed_over=0)
    rows = {r[0]: r[1] for r in store._db.execute("SELECT key, value FROM meta")}
    assert rows == {
        "last_pass_at": "1714564800",
        "failed_passes": "3",
        "imap_connected": "0",
        "last_error": "TimeoutError: x",
        "rebuilt": '{"at": "2024-05-01T12:00:00+00:00", "asked": 3, "answered": 1, '
        '"declined": 2, "handed_over": 0}',
    }
    assert (facts.last_pass_at, facts.rebuilt) == (T0, RebuildNote(T0, 3, 1, 2, 0))


# -- transactions --------------------------------------------------------------------------


class Boom(Exception):
    pass


def one_step_that_fails(store: Store) -> None:
    """Everything one mail causes, then a crash before the commit."""
    with store.transaction():
        inv = store.save(asked(1, T0 + 7 * DAY), T0)
        store.enqueue("<ask-1@example.org>", inv.id, MailKind.ASK, "inviter1@example.net", b"r", T0)
        store.mark_seen("INBOX", 100, 1, "<inv-1@example.net>", "asked", T0)
        store.facts.failed_passes += 1
        raise Boom


def nested_step_that_fails(store: Store) -> None:
    with store.transaction():
        store.facts.brake = "outer"
        with store.transaction():
            store.facts.last_error = "inner"
            raise Boom


def test_an_exception_in_a_transaction_writes_nothing(store: Store) -> None:
    with pytest.raises(Boom):
        one_step_that_fails(store)

    assert store.invitations() == []
    assert store.outbox((OutboxState.PENDING,)) == []
    assert store.cursor("INBOX") is None
    assert not store.seen_message("<inv-1@example.net>")
    assert store.facts.failed_passes == 0


def test_an_exception_in_a_nested_transaction_rolls_back_the_outer_one(store: Store) -> None:
    with pytest.raises(Boom):
        nested_step_that_fails(store)
    assert (store.facts.brake, store.facts.last_error) == ("", "")


def test_a_committed_transaction_is_kept_and_the_store_is_usable_after_a_rollback(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state.sqlite3"
    db = Store(path)
    with pytest.raises(Boom):
        nested_step_that_fails(db)
    with db.transaction():
        db.facts.imap_connected = True
        db.set_cursor("INBOX", 1, 10)
    db.close()

    again = Store(path)
    try:
        assert again.facts.imap_connected
        assert again.facts.brake == ""
        assert again.cursor("INBOX") == (1, 10)
    finally:
        again.close()


def test_a_database_of_the_previous_version_is_migrated(tmp_path: Path) -> None:
    """Version 2: `source_message_id` unique, `seen` without `mail_key`. Data is kept, and
    two invitations may then share a Message-ID."""
    import sqlite3

    from askfirst.store.schema import MIGRATIONS, SCHEMA

    old = SCHEMA.replace(
        "source_message_id TEXT NOT NULL,", "source_message_id TEXT NOT NULL UNIQUE,"
    )
    old = old.replace("    mail_key TEXT,\n", "")
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as db:
        db.executescript(old)
        db.execute("PRAGMA user_version = 2")
        db.execute(
            "INSERT INTO invitations (source_message_id, network, inviter_name, inviter_email, "
            "subject, refs, state, reason, decision_json, updated_at) "
            "VALUES ('<inv-1@example.net>', 'linkedin', 'A', 'a@example.net', '', '', "
            "'asked', '', '{}', 0)"
        )
        db.execute("INSERT INTO seen VALUES ('INBOX', 1, 5, '<inv-1@example.net>', 'x', 0)")
    store = Store(path)
    try:
        assert [i.inviter_email for i in store.invitations()] == ["a@example.net"]
        store.save(replace(invitation(2), source_message_id="<inv-1@example.net>"), T0)
        assert len(store.invitations()) == 2
        assert store.seen_message("<inv-1@example.net>", "any-key")  # an old row still counts
    finally:
        store.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)


def test_a_claim_is_a_compare_and_set_and_open_mail_is_cancelled(store: Store) -> None:
    """The outbox's claim and cancel on both backends: only the expected state moves."""
    inv = store.save(asked(1, T0 + 7 * DAY), T0)
    assert inv.id is not None
    store.enqueue("<ask-1@example.org>", inv.id, MailKind.ASK, "inviter1@example.net", b"raw", T0)
    store.enqueue("<ask-2@example.org>", inv.id, MailKind.ASK, "inviter1@example.net", b"raw", T0)
    assert store.claim("<ask-1@example.org>", OutboxState.PENDING, OutboxState.SENDING, attempts=1)
    assert not store.claim(
        "<ask-1@example.org>", OutboxState.PENDING, OutboxState.SENDING, attempts=2
    )
    assert store.outbox_row("<ask-1@example.org>").attempts == 1  # type: ignore[union-attr]
    assert store.cancel_open(inv.id, MailKind.ASK) == ["<ask-2@example.org>"]
    assert store.cancel_open(inv.id, MailKind.ASK) == []
    assert store.outbox_counts() == {OutboxState.SENDING: 1, OutboxState.CANCELLED: 1}


def test_a_postgresql_schema_of_the_previous_version_is_migrated(pg_url: str) -> None:
    """The same MIGRATIONS through the PostgreSQL seam, the copy of `invitations` included:
    data kept, Message-IDs may repeat, and new ids go on after the copied ones."""
    from askfirst import pgstate
    from askfirst.store.schema import MIGRATIONS, SCHEMA

    old = SCHEMA.replace(
        "source_message_id TEXT NOT NULL,", "source_message_id TEXT NOT NULL UNIQUE,"
    )
    db = pgstate.connect(pg_url, "old")
    db.executescript(old.replace("    mail_key TEXT,\n", ""))
    db.execute("PRAGMA user_version = 2")
    db.execute(
        "INSERT INTO invitations (id, source_message_id, network, inviter_name, inviter_email, "
        "subject, refs, state, reason, decision_json, updated_at) "
        "VALUES (7, '<inv-1@example.net>', 'linkedin', 'A', 'a@example.net', '', '', "
        "'asked', '', '{}', 0)"
    )
    db.execute("INSERT INTO seen VALUES ('INBOX', 1, 5, '<inv-1@example.net>', 'x', 0)")
    db.close()
    db = pgstate.connect(pg_url, "old")
    with db.setting_up():
        store = Store(Path("unused"), db=db)
    try:
        assert [i.inviter_email for i in store.invitations()] == ["a@example.net"]
        again = store.save(replace(invitation(2), source_message_id="<inv-1@example.net>"), T0)
        assert again.id == 8
        assert store.seen_message("<inv-1@example.net>", "any-key")  # an old row still counts
        assert store._db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    finally:
        store.close()
