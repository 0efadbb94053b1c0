"""Where the code under test and its test rig are.

`SRC` is wherever `daemon` was imported from: the editable install, or a pinned copy put
first on PYTHONPATH (see README). Its templates and tests/ helpers are used beside it.
The rig (Dovecot + SMTP bridge) is `daemon/rig.py` in current trees; older trees kept it
as `tests/rig.py`, so both are tried.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import daemon

SRC = Path(daemon.__file__).resolve().parent.parent
sys.path.insert(0, str(SRC / "tests"))  # mails.py (and rig.py in older trees)

if TYPE_CHECKING:
    from daemon.rig import MailRig, find_dovecot, free_ports, start_rig
else:
    try:
        from daemon.rig import MailRig, find_dovecot, free_ports, start_rig
    except ImportError:  # before the rig moved into the package
        from rig import MailRig, find_dovecot, free_ports, start_rig

__all__ = ["SRC", "MailRig", "find_dovecot", "free_ports", "start_rig"]
