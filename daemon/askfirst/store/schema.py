"""The state's tables, and the changes that bring a state written by an older askfirst to
them. Kept apart because both backends run exactly this SQL (`pgstate` translates it) and
because it changes only by appending to `MIGRATIONS`.
"""

SCHEMA = """
CREATE TABLE IF NOT EXISTS invitations (
    id INTEGER PRIMARY KEY,
    source_message_id TEXT NOT NULL,
    network TEXT NOT NULL,
    inviter_name TEXT NOT NULL,
    inviter_email TEXT NOT NULL,
    subject TEXT NOT NULL,
    refs TEXT NOT NULL,
    state TEXT NOT NULL,
    reason TEXT NOT NULL,
    decision_json TEXT NOT NULL,
    asked_message_id TEXT,
    asked_at INTEGER,
    decline_due_at INTEGER,
    answered_at INTEGER,
    declined_at INTEGER,
    handed_over_at INTEGER,
    updated_at INTEGER NOT NULL,
    invitation_key TEXT
);
CREATE INDEX IF NOT EXISTS invitations_due ON invitations (state, decline_due_at);
CREATE INDEX IF NOT EXISTS invitations_email ON invitations (inviter_email);
CREATE INDEX IF NOT EXISTS invitations_key ON invitations (invitation_key);
CREATE INDEX IF NOT EXISTS invitations_source ON invitations (source_message_id);
CREATE TABLE IF NOT EXISTS seen (
    folder TEXT NOT NULL,
    uidvalidity INTEGER NOT NULL,
    uid INTEGER NOT NULL,
    message_id TEXT NOT NULL,
    outcome TEXT NOT NULL,
    at INTEGER NOT NULL,
    mail_key TEXT,
    PRIMARY KEY (folder, uidvalidity, uid)
);
CREATE INDEX IF NOT EXISTS seen_message_id ON seen (message_id);
CREATE TABLE IF NOT EXISTS cursor (
    folder TEXT PRIMARY KEY,
    uidvalidity INTEGER NOT NULL,
    last_uid INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox (
    message_id TEXT PRIMARY KEY,
    invitation_id INTEGER,
    kind TEXT NOT NULL,
    recipient TEXT NOT NULL,
    raw BLOB NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    sent_at INTEGER,
    copied INTEGER NOT NULL DEFAULT 0,
    approved INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS outbox_state ON outbox (state, next_attempt_at);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS flag_ops (
    id INTEGER PRIMARY KEY,
    message_id TEXT NOT NULL,
    flags TEXT NOT NULL,
    done INTEGER NOT NULL DEFAULT 0
);
"""

# Changes to a database made by an earlier version, in order; `PRAGMA user_version` counts
# the ones applied. A new database gets SCHEMA, which already includes them all.
MIGRATIONS = (
    "ALTER TABLE invitations ADD COLUMN invitation_key TEXT",
    "ALTER TABLE outbox ADD COLUMN approved INTEGER NOT NULL DEFAULT 0",
    # A mail is known by Message-ID and `mail_key` (From, Date, Subject): two different
    # invitations may share a Message-ID. Older rows (no key) still match by Message-ID.
    "ALTER TABLE seen ADD COLUMN mail_key TEXT",
    # ... so `source_message_id` is no longer unique (SQLite drops a constraint by copying).
    "BEGIN; CREATE TABLE invitations_copy AS SELECT * FROM invitations; "  # noqa: S608
    "DROP TABLE invitations; " + SCHEMA.split(";")[0] + "; "  # our own schema
    "INSERT INTO invitations SELECT * FROM invitations_copy; DROP TABLE invitations_copy; "
    "COMMIT",
)
