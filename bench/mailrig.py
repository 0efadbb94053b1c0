"""Where the code under test and its test rig are.

`SRC` is the source tree `askfirst` was imported from: the editable install, or a pinned
copy put first on PYTHONPATH (see README). Its templates and tests/ helpers are used beside
it. The rig (Dovecot + SMTP bridge) is `askfirst.testing`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import askfirst
from askfirst.testing.dovecot import find_dovecot, free_ports
from askfirst.testing.rig import MailRig, start_rig

SRC = Path(askfirst.__file__).resolve().parents[2]  # daemon/askfirst/__init__.py
sys.path.insert(0, str(SRC / "tests"))  # mails.py

__all__ = ["SRC", "MailRig", "find_dovecot", "free_ports", "start_rig"]
