"""Loading the configuration: the TOML file (and `accounts_dir`'s files) into checked
`Settings`, one per account. Relative paths are taken from the file's folder, and every
problem names its key (``imap.port: ...``) so the CLI can exit 2 with a useful line.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from askfirst.config import ENV_PREFIX, ConfigError, Settings
from askfirst.credentials import resolve_passwords, resolve_state_url
from askfirst.hosts import is_loopback


def load_settings(path: Path, *, secrets: bool = True) -> Settings:
    """The first (often the only) account; see `load_accounts`."""
    return load_accounts(path, secrets=secrets)[0]


def load_accounts(path: Path, *, secrets: bool = True) -> list[Settings]:
    """Load and validate every account; relative paths are taken from the file's folder.

    A file with `[[accounts]]` tables (each with its own name, owner, imap, smtp and
    optionally templates and state) gives one `Settings` per account; every other table
    is shared (an account's own table replaces a shared one). Each account keeps its own
    state file. `secrets=False` (status, health, explain, preview): passwords are neither
    required nor read, so those commands work without them."""
    if not path.is_file():
        raise ConfigError([f"config: no such file {str(path)!r}"])
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"config: {path}: not valid TOML: {exc}"]) from exc
    except OSError as exc:
        raise ConfigError(
            [
                f"config: cannot read {path}: {exc.strerror}; make it readable by the user "
                "askfirst runs as (in the container: uid 10001)"
            ]
        ) from exc
    accounts = data.pop("accounts", None)
    folder = data.pop("accounts_dir", None)
    if accounts is None and folder is None:
        return [_account(data, path, prefix="", secrets=secrets)]
    if accounts is not None and (not isinstance(accounts, list) or not accounts):
        raise ConfigError(["accounts: expected one or more [[accounts]] tables"])
    prefixes = [f"accounts[{i}]." for i in range(len(accounts or []))]
    if folder is not None:
        files = account_files(path, folder)
        accounts = [*(accounts or []), *(table for _, table in files)]
        prefixes += [f"accounts_dir/{file.name}: " for file, _ in files]
    clash = [k for k in ("name", "owner", "imap", "smtp") if k in data]
    if clash:
        raise ConfigError([f"{k}: belongs inside each [[accounts]] table" for k in clash])
    assert accounts is not None
    settings = [
        _account({**data, **account}, path, prefix=prefix, secrets=secrets)
        for prefix, account in zip(prefixes, accounts, strict=True)
    ]
    names = [s.name for s in settings]
    if len(set(names)) != len(names) or "" in names:
        raise ConfigError(["accounts: every account needs its own, unique name"])
    for account, table in zip(settings, accounts, strict=True):
        if "state" not in table:  # keep the accounts' state apart
            base = account.state.path
            account.state.path = base.with_name(f"{base.stem}.{account.name}{base.suffix}")
    return settings


def account_files(path: Path, folder: object) -> list[tuple[Path, dict[str, Any]]]:
    """`accounts_dir`: one TOML file per account (its tables as in `[[accounts]]`; `name`
    defaults to the file's stem), read in name order; hidden files are skipped."""
    if not isinstance(folder, str):
        raise ConfigError(["accounts_dir: expected a folder name"])
    where = path.parent / folder
    if not where.is_dir():
        raise ConfigError([f"accounts_dir: no such folder {str(where)!r}"])
    found = []
    for file in sorted(where.glob("*.toml")):
        if file.name.startswith("."):
            continue
        try:
            table = tomllib.loads(file.read_text("utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError([f"accounts_dir/{file.name}: not valid TOML: {exc}"]) from exc
        table.setdefault("name", file.stem)
        found.append((file, table))
    if not found:
        raise ConfigError([f"accounts_dir: no *.toml account files in {str(where)!r}"])
    return found


def accounts_signature(path: Path) -> tuple[tuple[str, int, int], ...]:
    """What changes when the config file or a file of `accounts_dir` is added, removed or
    edited (names, sizes, modification times), to reload only then."""
    try:
        files = [path]
        with path.open("rb") as fh:
            folder = tomllib.load(fh).get("accounts_dir")
        if isinstance(folder, str) and (path.parent / folder).is_dir():
            files += sorted((path.parent / folder).glob("*.toml"))
        stats = [(str(f), f.stat()) for f in files]
    except (OSError, tomllib.TOMLDecodeError):
        return ()
    return tuple((name, st.st_size, st.st_mtime_ns) for name, st in stats)


def _account(data: dict[str, Any], path: Path, prefix: str, *, secrets: bool) -> Settings:
    try:
        settings = Settings(**data)
    except ValidationError as exc:
        raise ConfigError(
            [prefix + _describe(err) for err in exc.errors(include_url=False)]
        ) from exc
    settings = _resolve_paths(settings, path.parent.resolve())
    # the state's url is read either way: status and health read the state through it
    problems = (
        _insecure_logins(settings)
        + (resolve_passwords(settings) if secrets else [])
        + resolve_state_url(settings)
    )
    if problems:
        raise ConfigError([prefix + p for p in problems])
    return settings


def _insecure_logins(settings: Settings) -> list[str]:
    """A password sent in clear text over a network is refused unless explicitly allowed."""
    problems = []
    for name, section in (("imap", settings.imap), ("smtp", settings.smtp)):
        has_login = bool(
            section.password.get_secret_value()
            or section.password_file
            or section.password_command
            or section.auth == "xoauth2"
        )
        remote = not is_loopback(section.host)
        if section.tls == "none" and has_login and remote and not section.allow_insecure_auth:
            problems.append(
                f"{name}.tls: 'none' would send the password in clear text to "
                f"{section.host}; use 'ssl' or 'starttls', or set "
                f"{name}.allow_insecure_auth = true"
            )
    return problems


def _describe(err: Any) -> str:
    loc = [str(part) for part in err["loc"]]
    key = ".".join(loc)
    env = ENV_PREFIX + "__".join(part.upper() for part in loc)
    return f"{key}: {err['msg']} (set in the TOML file or ${env})"


def _resolve_paths(settings: Settings, base: Path) -> Settings:
    def absolute(p: Path) -> Path:
        return p if p.is_absolute() else base / p

    settings.state.path = absolute(settings.state.path)
    if settings.state.url_file is not None:
        settings.state.url_file = absolute(settings.state.url_file)
    settings.limits.kill_file = absolute(settings.limits.kill_file)
    settings.templates.dir = absolute(settings.templates.dir)
    for section in (settings.imap, settings.smtp):
        if section.ca_file is not None:
            section.ca_file = absolute(section.ca_file)
        if section.password_file is not None:
            section.password_file = absolute(section.password_file)
        if section.oauth2_token_file is not None:
            section.oauth2_token_file = absolute(section.oauth2_token_file)
    return settings
