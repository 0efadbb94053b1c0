"""What one pass did: `App.run_once` returns it, `run --once` prints it, the log shows it."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Report:
    """Counts of what one pass read, decided and sent, and one outcome line per mail."""

    fetched: int = 0
    invitations: int = 0
    answers: int = 0
    ignored: int = 0
    errors: int = 0
    declined: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    held: int = 0
    awaiting: int = 0
    cancelled: int = 0
    reminded: int = 0
    stepped_out: int = 0
    outcomes: list[str] = field(default_factory=list)
