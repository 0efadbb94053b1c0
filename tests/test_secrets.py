"""Passwords from a file or a command, at start; OAuth2 token sources; errors name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from askfirst.config import ConfigError
from askfirst.config_loading import load_settings
from askfirst.credentials import access_token

BASE = """
[owner]
name = "Pat Owner"
email = "owner@example.test"
[imap]
host = "127.0.0.1"
username = "owner@example.test"
tls = "none"
{imap}
[smtp]
host = "127.0.0.1"
tls = "none"
"""


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import os

    for key in list(os.environ):
        if key.upper().startswith("ASKFIRST_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("ASKFIRST_SECRETS_DIR", str(tmp_path / "no-secrets"))


def config(tmp_path: Path, imap: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(BASE.format(imap=imap))
    return path


def test_password_file_is_read_without_its_newline(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("s3cret-from-file\n")
    settings = load_settings(config(tmp_path, 'password_file = "pw"'))
    assert settings.imap.password.get_secret_value() == "s3cret-from-file"


def test_password_command_gives_its_first_line(tmp_path: Path) -> None:
    settings = load_settings(config(tmp_path, "password_command = \"printf 'from-cmd\\\\nx'\""))
    assert settings.imap.password.get_secret_value() == "from-cmd"


def test_a_plain_password_wins_over_file_and_command(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("from-file")
    settings = load_settings(
        config(tmp_path, 'password = "plain"\npassword_file = "pw"\npassword_command = "false"')
    )
    assert settings.imap.password.get_secret_value() == "plain"


def test_a_failing_command_names_the_key_and_never_its_output(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(config(tmp_path, 'password_command = "echo leaked-secret; exit 3"'))
    text = str(err.value)
    assert "imap.password_command: the command exited with status 3" in text
    assert "leaked-secret" not in text


def test_a_missing_file_names_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"imap.password_file: cannot read"):
        load_settings(config(tmp_path, 'password_file = "nope"'))


def test_no_password_at_all_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"imap.password: no password"):
        load_settings(config(tmp_path, ""))


def test_xoauth2_needs_a_token_source(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"imap.auth: xoauth2 needs"):
        load_settings(config(tmp_path, 'auth = "xoauth2"'))


def test_access_token_is_read_fresh_each_time(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("first\n")
    settings = load_settings(config(tmp_path, 'auth = "xoauth2"\noauth2_token_file = "token"'))
    assert access_token(settings.imap) == "first"
    token.write_text("second\n")
    assert access_token(settings.imap) == "second"
