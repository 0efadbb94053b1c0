"""OAuth2 (XOAUTH2) logins against real servers: the rig's Dovecot checks bearer tokens with its
oauth2 passdb against the rig's RFC 7662 introspection server, and the rig's SMTP bridge takes
AUTH XOAUTH2 with tokens from the same store. Real sockets only.

The first group proves the rig itself (raw imapclient and aiosmtplib); the rest drive
`askfirst` as a user would, with `auth = "xoauth2"` and no password anywhere in the config.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib
import pytest
from imapclient import IMAPClient
from imapclient.exceptions import LoginError

from askfirst.testing.rig import MailRig
from harness import OWNER, REPO
from mails import linkedin_2012

pytestmark = pytest.mark.rig

ALICE = "alice@example.test"
BOB = "bob@example.test"


# -- helpers ---------------------------------------------------------------------------------


def _imap(rig: MailRig) -> IMAPClient:
    return IMAPClient("127.0.0.1", port=rig.imap_port, ssl=False, timeout=30)


def _msg(subject: str, to: str = ALICE, sender: str = OWNER) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg.set_content("hello\n")
    return msg


def _smtp(rig: MailRig, user: str, token: str) -> aiosmtplib.SMTP:
    async def current_token() -> str:
        return token

    return aiosmtplib.SMTP(
        hostname="127.0.0.1",
        port=rig.smtp_port,
        start_tls=False,
        username=user,
        oauth_token_generator=current_token,
    )


def _write_token(path: Path, token: str) -> None:
    """Replace the token file in one step, as a refresher should (no half-written reads)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(token + "\n")
    tmp.chmod(0o600)
    os.replace(tmp, path)


def _toml(section: Mapping[str, str | int]) -> str:
    # JSON strings are valid TOML basic strings
    return "".join(f"{key} = {json.dumps(value)}\n" for key, value in section.items())


def oauth_config(
    rig: MailRig,
    directory: Path,
    imap: Mapping[str, str | int],
    smtp: Mapping[str, str | int] | None = None,
    **lifecycle: str,
) -> Path:
    """A config like harness.write_config, but the logins are given: no password at all."""
    imap_section = {
        "host": "127.0.0.1",
        "port": rig.imap_port,
        "username": OWNER,
        "tls": "none",
        **imap,
    }
    smtp_section = {"host": "127.0.0.1", "port": rig.smtp_port, "tls": "none", **(smtp or {})}
    path = directory / "config.toml"
    path.write_text(
        f"""
[owner]
name = "Pat Owner"
email = "{OWNER}"

[imap]
{_toml(imap_section)}
[smtp]
{_toml(smtp_section)}
[lifecycle]
{_toml(lifecycle)}
[limits]
max_per_hour = 1000
max_per_day = 10000

[state]
path = "state.sqlite3"

[templates]
dir = "{REPO / "templates"}"
"""
    )
    assert "password" not in path.read_text()
    return path


def xoauth2_file(path: Path) -> dict[str, str | int]:
    return {"auth": "xoauth2", "oauth2_token_file": str(path)}


def xoauth2_command(command: str, username: str = "") -> dict[str, str | int]:
    login: dict[str, str | int] = {"auth": "xoauth2", "oauth2_token_command": command}
    if username:
        login["username"] = username
    return login


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("ASKFIRST_")}


def askfirst(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "askfirst", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        env=_env(),
    )


def _output(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout + result.stderr


def _assert_hidden(output: str, *tokens: str) -> None:
    for token in filter(None, tokens):
        assert token not in output, "an access token was printed"


def _line(output: str, prefix: str) -> str:
    found = [line for line in output.splitlines() if line.startswith(prefix)]
    assert found, f"no {prefix!r} line in:\n{output}"
    return found[0]


def _wait_until(what: str, ok: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not ok():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.05)


# -- the rig itself --------------------------------------------------------------------------


def test_rig_imap_takes_xoauth2_and_oauthbearer(rig: MailRig) -> None:
    token = rig.issue_token(OWNER)
    with _imap(rig) as client:
        assert b"AUTH=XOAUTH2" in client.capabilities()
        client.oauth2_login(OWNER, token)
        assert client.select_folder("INBOX")[b"EXISTS"] == 0
    with _imap(rig) as client:
        client.oauthbearer_login(OWNER, token)
    assert rig.introspections == 2  # every login asks: Dovecot caches nothing
    assert "method=XOAUTH2" in rig.log_tail(50) and "method=OAUTHBEARER" in rig.log_tail(50)


def test_rig_imap_refuses_expired_unknown_and_foreign_tokens(rig: MailRig) -> None:
    token = rig.issue_token(OWNER)
    alices = rig.issue_token(ALICE)
    short = rig.issue_token(OWNER, ttl=0.3)
    time.sleep(0.4)
    refused = [(OWNER, "not-a-token"), (OWNER, alices), (OWNER, short)]
    rig.expire_token(token)
    refused.append((OWNER, token))
    for user, bearer in refused:
        with _imap(rig) as client, pytest.raises(LoginError, match="AUTHENTICATIONFAILED"):
            client.oauth2_login(user, bearer)
    # refused logins cost no penalty, and passwords still work beside tokens
    started = time.monotonic()
    rig.imap(OWNER).logout()
    assert time.monotonic() - started < 2
    with pytest.raises(KeyError):
        rig.expire_token("never-issued")
    with pytest.raises(ValueError, match="not a rig user"):
        rig.issue_token("stranger@example.org")


def test_rig_introspection_endpoint(rig: MailRig) -> None:
    token = rig.issue_token(BOB, ttl=60)
    url = f"http://127.0.0.1:{rig.token_port}"

    def introspect(bearer: str) -> dict[str, object]:
        body = urllib.parse.urlencode({"token": bearer}).encode()
        with urllib.request.urlopen(f"{url}/introspect", data=body, timeout=5) as resp:
            answer: dict[str, object] = json.load(resp)
            return answer

    active = introspect(token)
    assert (active["active"], active["username"]) == (True, BOB)
    assert 0 < int(str(active["expires_in"])) <= 60
    with urllib.request.urlopen(f"{url}/tokeninfo?access_token={token}", timeout=5) as resp:
        assert json.load(resp)["email"] == BOB
    rig.expire_token(token)
    assert introspect(token) == {"active": False}
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(f"{url}/tokeninfo?access_token={token}", timeout=5)
    assert err.value.code == 401
    err.value.close()  # it holds the response socket
    assert rig.introspections == 4


async def test_rig_smtp_takes_xoauth2(rig: MailRig) -> None:
    token = rig.issue_token(OWNER)
    async with _smtp(rig, OWNER, token) as smtp:
        assert "xoauth2" in smtp.server_auth_methods
        await smtp.send_message(_msg("sent with a token"))
    assert rig.wait_for(ALICE, 1)[0].subject == "sent with a token"

    rig.expire_token(token)
    for user, bearer in [(OWNER, token), (OWNER, rig.issue_token(BOB)), (OWNER, "nope")]:
        with pytest.raises(aiosmtplib.SMTPAuthenticationError) as exc:
            async with _smtp(rig, user, bearer):
                pass
        assert exc.value.code == 535
    assert rig.tokens.smtp_checks == 4
    # passwords still work beside tokens
    await aiosmtplib.send(
        _msg("with a password", to=BOB),
        hostname="127.0.0.1",
        port=rig.smtp_port,
        username=ALICE,
        password=rig.password(ALICE),
        start_tls=False,
    )
    assert rig.wait_for(BOB, 1)[0].subject == "with a password"


# -- askfirst with auth = "xoauth2" ----------------------------------------------------------


def test_check_logs_in_to_imap_with_a_token_file(rig: MailRig, tmp_path: Path) -> None:
    token = rig.issue_token(OWNER)
    token_file = tmp_path / "imap.token"
    _write_token(token_file, token)
    result = askfirst(
        "check", "--config", str(oauth_config(rig, tmp_path, xoauth2_file(token_file)))
    )
    assert result.returncode == 0, _output(result)
    assert "imap: ok" in result.stdout and "smtp: ok" in result.stdout
    assert rig.introspections >= 1  # the login really went through the oauth2 passdb
    _assert_hidden(_output(result), token)


def test_check_logs_in_to_imap_with_a_token_command(rig: MailRig, tmp_path: Path) -> None:
    token = rig.issue_token(OWNER)
    token_file = tmp_path / "imap.token"
    _write_token(token_file, token)
    config = oauth_config(rig, tmp_path, xoauth2_command(f"cat {shlex.quote(str(token_file))}"))
    result = askfirst("check", "--config", str(config))
    assert result.returncode == 0, _output(result)
    assert "imap: ok" in result.stdout
    assert rig.introspections >= 1
    _assert_hidden(_output(result), token)


def test_check_with_an_expired_token_fails_until_the_file_is_refreshed(
    rig: MailRig, tmp_path: Path
) -> None:
    old = rig.issue_token(OWNER)
    token_file = tmp_path / "imap.token"
    _write_token(token_file, old)
    config = str(oauth_config(rig, tmp_path, xoauth2_file(token_file)))
    rig.expire_token(old)

    refused = askfirst("check", "--config", config)
    assert refused.returncode == 1, _output(refused)
    failure = _line(refused.stdout, "imap: FAILED")
    assert re.search(r"log ?in|auth", failure, re.IGNORECASE), failure
    assert rig.introspections >= 1  # refused by the server, not before asking it
    _assert_hidden(_output(refused), old)

    new = rig.issue_token(OWNER)
    _write_token(token_file, new)  # what a token refresher does
    passed = askfirst("check", "--config", config)
    assert passed.returncode == 0, _output(passed)
    assert "imap: ok" in passed.stdout
    _assert_hidden(_output(passed), old, new)


def test_check_with_an_expired_smtp_token_fails_until_the_command_prints_a_fresh_one(
    rig: MailRig, tmp_path: Path
) -> None:
    imap_file, smtp_file = tmp_path / "imap.token", tmp_path / "smtp.token"
    imap_token, old = rig.issue_token(OWNER), rig.issue_token(OWNER)
    _write_token(imap_file, imap_token)
    _write_token(smtp_file, old)
    config = str(
        oauth_config(
            rig,
            tmp_path,
            xoauth2_file(imap_file),
            xoauth2_command(f"cat {shlex.quote(str(smtp_file))}", username=OWNER),
        )
    )
    rig.expire_token(old)

    refused = askfirst("check", "--config", config)
    assert refused.returncode == 1, _output(refused)
    assert "imap: ok" in refused.stdout
    assert "535" in _line(refused.stdout, "smtp: FAILED")
    assert rig.tokens.smtp_checks == 1
    _assert_hidden(_output(refused), imap_token, old)

    new = rig.issue_token(OWNER)
    _write_token(smtp_file, new)
    passed = askfirst("check", "--config", config)
    assert passed.returncode == 0, _output(passed)
    assert "smtp: ok" in passed.stdout and "logged in" in passed.stdout
    assert rig.tokens.smtp_checks == 2
    _assert_hidden(_output(passed), imap_token, old, new)


def test_run_once_asks_using_oauth2_only(rig: MailRig, tmp_path: Path) -> None:
    """IMAP by token file, SMTP by token command; the config holds no password at all."""
    imap_token, smtp_token = rig.issue_token(OWNER), rig.issue_token(OWNER)
    imap_file, smtp_file = tmp_path / "imap.token", tmp_path / "smtp.token"
    _write_token(imap_file, imap_token)
    _write_token(smtp_file, smtp_token)
    calls = tmp_path / "token-command.calls"
    command = f"echo call >> {shlex.quote(str(calls))}; cat {shlex.quote(str(smtp_file))}"
    config = oauth_config(
        rig, tmp_path, xoauth2_file(imap_file), xoauth2_command(command, username=OWNER)
    )
    rig.deliver(linkedin_2012("Alice Example", ALICE), OWNER)

    result = askfirst("run", "--once", "-v", "--config", str(config))
    assert result.returncode == 0, _output(result)
    assert json.loads(result.stdout.splitlines()[-1])["sent"] == 1
    rig.wait_for(ALICE, 1)
    assert rig.introspections >= 1  # IMAP logged in with the token
    assert rig.tokens.smtp_checks == 1  # SMTP logged in with the token, once per connection
    assert calls.read_text().count("call") >= 1  # the command runs at every SMTP login
    assert [(f, r) for f, r, _ in rig.accepted] == [(OWNER, [ALICE])]
    _assert_hidden(_output(result), imap_token, smtp_token)


def test_tokens_are_never_printed_even_verbose_or_refused(rig: MailRig, tmp_path: Path) -> None:
    token = rig.issue_token(OWNER)
    token_file = tmp_path / "owner.token"
    _write_token(token_file, token)
    login = xoauth2_file(token_file)
    config = str(oauth_config(rig, tmp_path, login, {**login, "username": OWNER}))
    rig.deliver(linkedin_2012("Alice Example", ALICE), OWNER)

    ran = askfirst("run", "--once", "-v", "--config", config)
    assert ran.returncode == 0, _output(ran)
    checked = askfirst("check", "--config", config)
    assert checked.returncode == 0, _output(checked)
    _assert_hidden(_output(ran) + _output(checked), token)

    rig.expire_token(token)  # refusals are where a client library likes to echo its input
    refused_run = askfirst("run", "--once", "-v", "--config", config)
    assert refused_run.returncode == 1, _output(refused_run)
    refused_check = askfirst("check", "--config", config)
    assert refused_check.returncode == 1
    assert "imap: FAILED" in refused_check.stdout and "smtp: FAILED" in refused_check.stdout
    _assert_hidden(_output(refused_run) + _output(refused_check), token)


def test_running_daemon_logs_in_again_with_the_refreshed_token(
    rig: MailRig, tmp_path: Path
) -> None:
    """The long-lived session outlives its token; when the server drops it, the daemon fails
    to log in with the old token, then picks up the refreshed file by itself."""
    old = rig.issue_token(OWNER)
    token_file = tmp_path / "owner.token"
    _write_token(token_file, old)
    login = xoauth2_file(token_file)
    config = oauth_config(
        rig,
        tmp_path,
        {**login, "login_retry": "1s"},  # the default waits minutes after a refusal
        {**login, "username": OWNER},
        poll_interval="1h",
        sweep_interval="1h",
    )
    rig.deliver(linkedin_2012("Alice Example", ALICE), OWNER)
    log_path = tmp_path / "askfirst.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "askfirst", "run", "-v", "--config", str(config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO,
            env=_env(),
        )
    new = ""
    try:
        rig.wait_for(ALICE, 1, timeout=15)  # first pass: IMAP and SMTP logins with `old`
        _wait_until("the IMAP connection logged in", lambda: rig.introspections >= 1)
        rig.expire_token(old)
        before = rig.introspections
        rig.kick(OWNER)  # the server drops the sessions; reconnecting needs a login
        _wait_until("a refused reconnect", lambda: rig.introspections > before)
        assert proc.poll() is None, "the daemon must survive a refused login"

        new = rig.issue_token(OWNER)
        _write_token(token_file, new)
        rig.deliver(linkedin_2012("Bob Builder", BOB), OWNER)
        (ask,) = rig.wait_for(BOB, 1, timeout=30)  # IDLE back, then an SMTP login with `new`
        assert b"Bob" in ask.raw
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=20)
    output = log_path.read_text()
    assert code == 0, output
    assert "AUTHENTICATIONFAILED" in output  # the refused reconnect was logged, then overcome
    _assert_hidden(output, old, new)
