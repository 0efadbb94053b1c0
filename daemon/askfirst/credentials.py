"""Secrets the config points at: passwords, OAuth2 tokens and the PostgreSQL url, from the
owner's files and commands.

Passwords and the url are read once, when the config is loaded; an access token afresh at
every login (it expires). `secrets_of` lists them all, so the logs can mask them.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import SecretStr

from askfirst.config import Login, Settings


def resolve_passwords(settings: Settings) -> list[str]:
    """Read `password_file` / run `password_command` once, at start; name the key on error."""
    problems = []
    for name, section in (("imap", settings.imap), ("smtp", settings.smtp)):
        if section.auth == "xoauth2":
            if not (section.oauth2_token_file or section.oauth2_token_command):
                problems.append(
                    f"{name}.auth: xoauth2 needs {name}.oauth2_token_file or "
                    f"{name}.oauth2_token_command"
                )
            continue
        if section.password.get_secret_value():
            continue
        try:
            if section.password_file is not None:
                section.password = SecretStr(read_secret_file(section.password_file))
            elif section.password_command:
                section.password = SecretStr(run_secret_command(section.password_command))
        except OSError as exc:
            key = "password_file" if section.password_file else "password_command"
            problems.append(f"{name}.{key}: {exc}")
        if name == "imap" and not section.password.get_secret_value():
            problems.append(
                "imap.password: no password (set it, or password_file, or "
                'password_command, or auth = "xoauth2")'
            )
    return problems


def resolve_state_url(settings: Settings) -> list[str]:
    """`state.url_file`: the PostgreSQL url (it holds a password) from a file, once."""
    state = settings.state
    if state.url.get_secret_value() or state.url_file is None:
        return []
    try:
        state.url = SecretStr(read_secret_file(state.url_file))
    except OSError as exc:
        return [f"state.url_file: {exc}"]
    return []


def access_token(section: Login) -> str:
    """The OAuth2 access token for the next login, fresh from its file or command."""
    if section.oauth2_token_file is not None:
        return read_secret_file(section.oauth2_token_file)
    return run_secret_command(section.oauth2_token_command)


def read_secret_file(path: Path) -> str:
    """A secret file's content without the trailing newline editors add."""
    try:
        return path.read_text("utf-8").rstrip("\r\n")
    except OSError as exc:
        raise OSError(f"cannot read {path}: {exc.strerror}") from exc


def run_secret_command(command: str) -> str:
    """Run a configured command (e.g. `pass show mail`) and take its first output line.
    Its output is never shown: it is the secret."""
    try:
        done = subprocess.run(  # noqa: S603 - the owner's own configured command
            ["/bin/sh", "-c", command], capture_output=True, text=True, timeout=60, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise OSError("the command did not finish within 60 s") from exc
    if done.returncode != 0:
        raise OSError(f"the command exited with status {done.returncode}")
    value = done.stdout.strip().splitlines()
    if not value:
        raise OSError("the command printed nothing")
    return value[0]


def secrets_of(settings: Settings) -> list[str]:
    """Every secret value in the configuration, for masking in logs."""
    found = [
        value
        for section in (settings.imap, settings.smtp)
        if (value := section.password.get_secret_value())
    ]
    url = urlsplit(settings.state.url.get_secret_value())
    return [*found, url.password] if url.password else found
