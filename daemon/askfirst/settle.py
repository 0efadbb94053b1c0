"""What the mailbox is owed after mail was decided and sent: the flags and keywords on
invitations and answers (one STORE per set of flags), and a copy of every sent mail in
Sent (MULTIAPPEND, 50 at a time). A NO to a folder is said once and the rest goes on.
"""

from __future__ import annotations

from askfirst import logs
from askfirst.clock import Clock
from askfirst.config import Settings
from askfirst.edges import Mailbox
from askfirst.imap import ImapRefused
from askfirst.store import Store

log = logs.get()

UNFLAG = "-"  # a flag op's keyword with this prefix is taken off, not set (`Unflag`)


class Settler:
    """Sets owed flags and files owed Sent copies; remembers folders the server refused."""

    def __init__(self, *, settings: Settings, store: Store, clock: Clock, mailbox: Mailbox) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        self.mailbox = mailbox
        self.refused_folders: dict[str, str] = {}  # folder -> the server's refusal (restart)

    async def settle(self) -> None:
        """Set owed flags (one STORE per set of flags) and file owed Sent copies (MULTIAPPEND).
        Setting a flag twice is harmless; a crash between filing a copy and noting it can
        leave a second copy in Sent, never a second mail to anyone."""
        mb, folder = self.mailbox, self.settings.imap.folder
        ops = self.store.flag_ops()
        by_flags: dict[tuple[str, ...], list[int]] = {}
        for op in ops:
            uids = self.store.uids_of(folder, mb.uidvalidity, op.message_id)  # maybe several
            uids = uids or await mb.find(op.message_id)
            by_flags.setdefault(op.flags, []).extend(uids)
        for flags, uids in by_flags.items():  # set first, then take off (the later ops)
            if added := [f for f in flags if not f.startswith(UNFLAG)]:
                await mb.add_flags(uids, added)
        for flags, uids in by_flags.items():
            if taken := [f.removeprefix(UNFLAG) for f in flags if f.startswith(UNFLAG)]:
                await mb.remove_flags(uids, taken)
        if ops:
            with self.store.transaction():
                for op in ops:
                    self.store.flag_op_done(op.id)
        uncopied = self.store.uncopied()
        if not uncopied:
            return
        sent = await mb.sent_folder()
        if sent in self.refused_folders:
            return  # refused in this run: the copies wait for the fix and a restart
        try:
            await mb.ensure_folder(sent)  # a mailbox without one gets one
            for start in range(0, len(uncopied), 50):
                batch = uncopied[start : start + 50]
                await mb.append(sent, [r.raw for r in batch], ["\\Seen"], self.clock.now())
                with self.store.transaction():
                    for row in batch:
                        self.store.mark_copied(row.message_id)
        except ImapRefused as exc:  # the mail went out; only its copy waits
            self.folder_refused(exc, "copies of sent mail")

    def folder_refused(self, exc: ImapRefused, what: str) -> None:
        """Say once what the server refused and where (log, `health`, `status`); the rest
        of the work goes on."""
        problem = f"IMAP server refused the folder for {what}: {exc}"
        if exc.folder not in self.refused_folders:
            log.error("imap.refused", folder=exc.folder, what=what, error=str(exc))
        self.refused_folders[exc.folder] = problem
        with self.store.transaction():
            self.store.facts.folder_error = problem
