"""`askfirst demo`: the real daemon, a private rig of its own, the scripted story."""

from __future__ import annotations

import io
import os
import re
import time
from pathlib import Path

import pytest

import askfirst.testing.dovecot
from askfirst.testing.demo import run_demo


@pytest.mark.rig
def test_demo_tells_the_whole_story_and_cleans_up() -> None:
    if askfirst.testing.dovecot.find_dovecot() is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI must run the demo: apt-get install -y dovecot-imapd dovecot-lmtpd")
        pytest.skip("dovecot not installed: apt-get install -y dovecot-imapd dovecot-lmtpd")
    out = io.StringIO()
    started = time.monotonic()
    code = run_demo(out, decline_after="5s")
    took = time.monotonic() - started
    text = out.getvalue()
    assert code == 0, text
    assert took < 60, text

    # every line of the story, in the order it happened
    story = [
        "rig up: IMAP 127.0.0.1:",
        "askfirst run started",
        "→ alice@example.test invites you (boilerplate",
        "← askfirst asked alice:",
        "→ alice answers:",
        '← askfirst handed alice to you: notice "[askfirst] Alice Example: answered"',
        "→ bob@example.test invites you (boilerplate",
        "← askfirst asked bob:",
        "→ carol@example.test invites you with a personal note",
        "← askfirst handed carol to you",
        "PHISHING imitation",
        '→ "Erin Okafor" <invitations@linkedin.com> invites you: modern LinkedIn',
        '← askfirst gives you the ask to paste into LinkedIn: notice "[askfirst] Erin Okafor: '
        'please ask by hand on LinkedIn"',
        "… you paste the ask into LinkedIn yourself",
        '→ LinkedIn: "Erin just messaged you"',
        '← askfirst handed erin to you: notice "[askfirst] Erin Okafor: answered"',
        "← askfirst declined bob (no answer in 5s)",
        "askfirst run stopped by SIGTERM (exit 0)",
        "rig stopped",
        "summary:",
    ]
    missing = [line for line in story if line not in text]
    assert not missing, text
    positions = [text.find(line) for line in story]
    assert positions == sorted(positions), text
    assert "nothing sent to carol" in text
    # the why, read back from `askfirst status --json`
    assert "status: answered · rule boilerplate" in text
    assert "status: declined · rule boilerplate" in text
    assert "status: handed_over · rule personal-note" in text
    assert "status: by_hand · rule unreachable" in text

    (summary,) = [line for line in text.splitlines() if line.startswith("summary:")]
    assert "alice answered" in summary
    assert "bob declined" in summary
    assert "carol handed over" in summary
    assert "dave (phishing)" in summary  # whatever the classifier decides today
    assert "erin answered (asked by hand on LinkedIn)" in summary

    # the temp dir with dovecot's files, the config and the state is gone
    found = re.search(r"everything in (\S+)", text)
    assert found is not None, text
    assert not Path(found.group(1)).exists()


def test_demo_without_dovecot_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(askfirst.testing.dovecot, "find_dovecot", lambda: None)
    out = io.StringIO()
    assert run_demo(out) == 1
    assert "apt-get install dovecot-imapd dovecot-lmtpd" in out.getvalue()


@pytest.mark.parametrize("value", ["soon", "7d", "0s"])
def test_demo_refuses_a_decline_after_unfit_for_a_demo(value: str) -> None:
    out = io.StringIO()
    assert run_demo(out, decline_after=value) == 2
    assert "--decline-after" in out.getvalue()
