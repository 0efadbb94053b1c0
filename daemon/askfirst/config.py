"""Typed configuration: the sections of the TOML file and `Settings`, the whole of it.

Precedence, highest first: ``ASKFIRST_<SECTION>__<KEY>`` environment variables, secret
files in ``$ASKFIRST_SECRETS_DIR`` (default ``/run/secrets``, named like the env var, e.g.
``askfirst_imap__password``), then the TOML file. Unknown keys are errors. Reading the
file, and naming the key at fault in every error, is `config_loading.py`'s part.
"""

from __future__ import annotations

import os
import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    NestedSecretsSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from askfirst.durations import parse_duration
from askfirst.hosts import split_listen
from askfirst.schedule import Window, parse_window

ENV_PREFIX = "ASKFIRST_"


class ConfigError(Exception):
    """The configuration cannot be used; each line names the key at fault."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


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
    """The whole configuration. Build it with `config_loading.load_accounts`, not directly."""

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


def dry_run_path(path: Path) -> Path:
    """A dry run keeps its own state, so a real run later starts from a clean slate."""
    return path.with_name(f"{path.stem}.dry-run{path.suffix}")


def health_limit(settings: Settings) -> float:
    """Seconds without a completed pass after which askfirst counts as unhealthy."""
    return 3 * settings.lifecycle.sweep_interval.total_seconds() + 60
