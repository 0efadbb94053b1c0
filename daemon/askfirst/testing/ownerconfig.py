"""What askfirst is told about the rig: the owner account's config file, with which the
tests and the demo run the real daemon against it."""

from __future__ import annotations

import json
from pathlib import Path

from askfirst.testing.rig import MailRig


def owner_config(
    rig: MailRig,
    directory: Path,
    templates: Path | None,
    lifecycle: dict[str, str] | None = None,
    extra: str = "",
) -> Path:
    """A config file for the rig's owner account (plaintext on loopback, no rate caps);
    with no `templates`, the built-in ones."""
    directory.mkdir(parents=True, exist_ok=True)
    owner = "owner@example.test"
    settings = "".join(f"{key} = {json.dumps(value)}\n" for key, value in (lifecycle or {}).items())
    templates_section = f"[templates]\ndir = {json.dumps(str(templates))}\n" if templates else ""
    path = directory / "config.toml"
    path.write_text(
        f"""[owner]
name = "Pat Owner"
email = "{owner}"

[imap]
host = "127.0.0.1"
port = {rig.imap_port}
username = "{owner}"
password = "{rig.password(owner)}"
tls = "none"

[smtp]
host = "127.0.0.1"
port = {rig.smtp_port}
tls = "none"

[lifecycle]
{settings}
[limits]
max_per_hour = 1000
max_per_day = 10000

[state]
path = "state.sqlite3"

{templates_section}{extra}"""
    )
    path.chmod(0o600)
    return path
