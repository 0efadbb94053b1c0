"""One writer per state file: an OS lock (`fcntl.flock`) on `<state>.lock`, held for the
life of the process that runs the daemon. The kernel drops it when the process dies, even
by SIGKILL, so a crash never leaves a stale lock behind."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from askfirst.store import StateError


class StateLocked(Exception):
    """Another process holds this state file."""

    def __init__(self, state: Path, holder: str) -> None:
        who = f"process {holder}" if holder else "another process"
        super().__init__(
            f"the state file {state} is in use by {who} (an askfirst already running on "
            "it); stop that one first, or give this one its own [state] path"
        )


def lock_path(state: Path) -> Path:
    return state.with_name(state.name + ".lock")


_held: dict[Path, int] = {}


def hold(state: Path) -> int:
    """Take the lock or raise `StateLocked`; the descriptor is kept open (and the lock
    held) until the process exits. Taking it again in the same process is a no-op (an
    account restarted by `Fleet` after an edit)."""
    path = lock_path(state)
    if path.resolve() in _held:
        return _held[path.resolve()]
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise StateError(
            f"state.path: cannot create {path}: {exc.strerror}; make its folder writable by "
            "the user askfirst runs as, or set state.path to a writable place"
        ) from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 32).decode(errors="replace").strip()
        os.close(fd)
        raise StateLocked(state, holder) from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    _held[path.resolve()] = fd
    return fd
