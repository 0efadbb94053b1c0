"""Typed configuration: one TOML file, overridden by env vars and secret files.

Precedence, highest first: ``ASKFIRST_<SECTION>__<KEY>`` environment variables, secret
files in ``$ASKFIRST_SECRETS_DIR`` (default ``/run/secrets``, named like the env var, e.g.
``askfirst_imap__password``), then the TOML file. Unknown keys are errors, and every error
names its key (``imap.port: ...``) so the CLI can exit 2 with a useful line.
"""

from __future__ import annotations

import ipaddress
import os
import re
import subprocess
import tomllib
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
)
from pydantic_settings import (
    BaseSettings,
    NestedSecretsSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from askfirst.schedule import Window, parse_window

ENV_PREFIX = "ASKFIRST_"
_DURATION = re.compile(r"(\d+)\s*([dhms])")
_UNIT_SECONDS = {"d": 86400, "h": 3600, "m": 60, "s": 1}


class ConfigError(Exception):
    """The configuration cannot be used; each line names the key at fault."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def parse_duration(value: object) -> timedelta:
    """Read "7d", "36h", "90m", "30s" or combinations like "1d12h"; a bare number is seconds."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=value)
    if not isinstance(value, str):
        # ValueError, not TypeError: pydantic reports only ValueError as a validation error
        raise ValueError("expected a duration such as '7d', '36h', '90m' or '30s'")  # noqa: TRY004
    text = value.strip().lower()
    if text.isdigit():
        return timedelta(seconds=int(text))
    parts = _DURATION.findall(text)
    if not parts or _DURATION.sub("", text).strip():
        raise ValueError(f"{value!r} is not a duration such as '7d', '36h', '90m' or '30s'")
    return timedelta(seconds=sum(int(n) * _UNIT_SECONDS[unit] for n, unit in parts))


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
Tls = Literal["ssl", "starttls", "none"]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _check_address(value: str) -> str:
    value = value.strip()
    if not re.fullmatch(r"[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+|[^@\s<>]+@localhost", value):
        raise ValueError(f"{value!r} is not an e-mail address")
    return value.lower()


Address = Annotated[str, BeforeValidator(lambda v: _check_address(str(v)))]


class Owner(Section):
    name: str
    email: Address
    aliases: list[Address] = Field(default_factory=list)
    timezone: str = "UTC"  # IANA zone for send windows and business days

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"{value!r} is not an IANA time zone (e.g. 'Europe/Berlin')") from exc
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def addresses(self) -> frozenset[str]:
        return frozenset([self.email, *self.aliases])


class Login(Section):
    """How askfirst logs in. A password comes from `password` (TOML, env or secret file),
    else `password_file`, else `password_command`; with `auth = "xoauth2"` an access token
    is read from `oauth2_token_file` or printed by `oauth2_token_command` at every login."""

    username: str = ""
    password: SecretStr = SecretStr("")
    password_file: Path | None = None
    password_command: str = ""
    auth: Literal["password", "xoauth2"] = "password"
    oauth2_token_file: Path | None = None
    oauth2_token_command: str = ""


class Imap(Login):
    host: str
    port: int | None = Field(default=None, ge=1, le=65535)
    username: str
    tls: Tls = "ssl"
    folder: str = "INBOX"
    sent_folder: str = ""  # empty: the folder with SPECIAL-USE \Sent, else "Sent"
    ca_file: Path | None = None
    allow_insecure_auth: bool = False  # plaintext login to a host that is not loopback
    idle: bool = True
    timeout: Duration = timedelta(seconds=60)
    max_message_bytes: int = Field(default=2_000_000, ge=10_000)
    login_retry: Duration = timedelta(minutes=2)  # after a refused login; doubles to 30 min

    @property
    def effective_port(self) -> int:
        return self.port or (993 if self.tls == "ssl" else 143)


class Smtp(Login):
    host: str
    port: int | None = Field(default=None, ge=1, le=65535)
    tls: Tls = "starttls"
    ca_file: Path | None = None
    allow_insecure_auth: bool = False
    timeout: Duration = timedelta(seconds=60)

    @property
    def effective_port(self) -> int:
        return self.port or {"ssl": 465, "starttls": 587, "none": 25}[self.tls]


class Lifecycle(Section):
    decline_after: Duration = timedelta(days=7)
    poll_interval: Duration = timedelta(minutes=5)
    lookback: Duration = timedelta(days=14)
    sweep_interval: Duration = timedelta(minutes=1)
    ask_again_after: Duration = timedelta(days=60)
    deadline: Literal["calendar", "business"] = "calendar"  # how decline_after counts days
    send_window: str = ""  # e.g. "Mon-Fri 09:00-18:00" in owner.timezone; "" = any time
    send_jitter: Duration = timedelta(0)  # a random delay up to this, so replies look human
    ooo_grace: Duration = timedelta(days=2)  # after an out-of-office's return date
    by_hand: bool = True  # no reply address: the owner asks in the network, askfirst waits

    @field_validator("send_window")
    @classmethod
    def _window(cls, value: str) -> str:
        parse_window(value)
        return value

    @property
    def window(self) -> Window:
        return parse_window(self.send_window)


class NetworkRule(Section):
    """A network of your own (Xing, Meetup, ...): its invitations by sender and content."""

    id: str = Field(pattern=r"^[a-z0-9_-]+$")
    name: str = ""
    domains: list[str] = Field(default_factory=list)  # its sender domains
    sender: list[str] = Field(default_factory=list)  # regexes on the From address
    headers: dict[str, str] = Field(default_factory=dict)  # header name -> regex
    subject: list[str] = Field(default_factory=list)  # regexes
    body: list[str] = Field(default_factory=list)  # regexes

    @field_validator("sender", "subject", "body")
    @classmethod
    def _compiles(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            re.compile(pattern)
        return patterns


class Classify(Section):
    """How invitations are recognised and trusted."""

    authserv_id: str = ""  # your own server's Authentication-Results id; others are ignored
    authenticity: Literal["require", "prefer", "off"] = "require"  # for network domains
    sentences: dict[str, list[str]] = Field(default_factory=dict)  # more default texts, by language
    networks: list[NetworkRule] = Field(default_factory=list)


class Limits(Section):
    """Brakes on sending, so a bug or a storm can never mail the world in your name."""

    max_per_hour: int = Field(default=20, ge=1)
    max_per_day: int = Field(default=100, ge=1)
    breaker_failures: int = Field(default=5, ge=1)  # failed/bounced mails within a day ...
    breaker_pause: Duration = timedelta(hours=6)  # ... pause all sending this long
    kill_file: Path = Path("STOP")  # while this file exists, nothing is sent
    kill_keyword: str = "$askfirst-stop"  # ... nor while any mail in the folder has it
    time_per_mail: Duration = timedelta(seconds=10)  # reading one mail: longer, it is set aside


class Rules(Section):
    allow: list[str] = Field(default_factory=list)  # addresses/domains: straight to you
    deny: list[str] = Field(default_factory=list)  # addresses/domains: never answered
    template_sets: dict[str, str] = Field(default_factory=dict)  # address/domain/network -> set


class MetricsConfig(Section):
    listen: str = ""  # "127.0.0.1:9464" or "[::1]:9464" serves /metrics, /healthz; "": off

    @field_validator("listen")
    @classmethod
    def _address(cls, value: str) -> str:
        if value:
            split_listen(value)
        return value


def split_listen(listen: str) -> tuple[str, int]:
    """("host", port) from "host:port" or "[v6 address]:port"; ValueError says what is wrong."""
    host, sep, port = listen.rpartition(":")
    example = "e.g. 127.0.0.1:9464 or [::1]:9464"
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{listen!r}: expected host:port with a port from 1 to 65535, {example}")
    if host.startswith("[") and host.endswith("]"):
        if not _is_address(host[1:-1], 6):
            raise ValueError(f"{listen!r}: {host[1:-1]!r} is not an IPv6 address, {example}")
        return host[1:-1], int(port)
    if ":" in host:
        raise ValueError(f"{listen!r}: an IPv6 address goes in brackets: [{host}]:{port}")
    looks_numeric = host.replace(".", "").isdigit()
    name = re.fullmatch(r"[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*", host) and not looks_numeric
    if host and not (_is_address(host, 4) or name):
        raise ValueError(f"{listen!r}: {host!r} is not an address or host name, {example}")
    return host, int(port)


def _is_address(text: str, version: int) -> bool:
    try:
        return ipaddress.ip_address(text).version == version
    except ValueError:
        return False


class StateConfig(Section):
    path: Path = Path("askfirst.sqlite3")
    # postgresql://user:password@host:port/db: every account's state in one PostgreSQL,
    # shared by replicas (state.path is then not used); or url_file, or a secret file.
    url: SecretStr = SecretStr("")
    url_file: Path | None = None

    @field_validator("url")
    @classmethod
    def _postgresql(cls, url: SecretStr) -> SecretStr:
        value = url.get_secret_value()
        if value and not value.startswith(("postgresql://", "postgres://")):
            raise ValueError("expected postgresql://user:password@host:port/db")
        return url


class TemplatesConfig(Section):
    dir: Path = Path("templates")


class Settings(BaseSettings):
    """The whole configuration. Build it with `load_settings`, not directly."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        secrets_nested_delimiter="__",
        secrets_dir_missing="ok",
        extra="forbid",
        case_sensitive=False,
    )

    name: str = ""  # the account's name, with [[accounts]]
    mode: Literal["auto", "approve"] = "auto"  # approve: every ask/decline waits as a draft
    approve_first: int = Field(default=0, ge=0)  # ... or only the first N after install or
    # after a template change
    approve_folder: str = "askfirst/Approve"  # moving a draft here approves it too
    owner: Owner
    imap: Imap
    smtp: Smtp
    lifecycle: Lifecycle = Lifecycle()
    classify: Classify = Classify()
    rules: Rules = Rules()
    limits: Limits = Limits()
    metrics: MetricsConfig = MetricsConfig()
    state: StateConfig = StateConfig()
    templates: TemplatesConfig = TemplatesConfig()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The TOML file's content arrives as init arguments, so it ranks last.
        secrets_dir = os.environ.get(f"{ENV_PREFIX}SECRETS_DIR", "/run/secrets")
        return (
            env_settings,
            NestedSecretsSettingsSource(file_secret_settings, secrets_dir=secrets_dir),
            init_settings,
        )


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
        + (_resolve_passwords(settings) if secrets else [])
        + _state_url(settings)
    )
    if problems:
        raise ConfigError([prefix + p for p in problems])
    return settings


def _resolve_passwords(settings: Settings) -> list[str]:
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


def _state_url(settings: Settings) -> list[str]:
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


def is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


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


def dry_run_path(path: Path) -> Path:
    """A dry run keeps its own state, so a real run later starts from a clean slate."""
    return path.with_name(f"{path.stem}.dry-run{path.suffix}")


def health_limit(settings: Settings) -> float:
    """Seconds without a completed pass after which askfirst counts as unhealthy."""
    return 3 * settings.lifecycle.sweep_interval.total_seconds() + 60
