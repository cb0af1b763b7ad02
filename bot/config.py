"""Settings, read once from the environment (prefix ``GRIDSNAP_``) by the composition root."""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

ROOT = Path(__file__).resolve().parent.parent
# The project's own state: the default database file, photos and the sandbox live here.
STATE_DIR = ROOT / "var"
LOCALES = ("zh_CN", "en")
# The engine is async: plain sqlite:// and postgresql:// URLs are given these drivers.
ASYNC_DRIVERS = ("sqlite+aiosqlite", "postgresql+asyncpg")
DATABASE_EXAMPLES = "sqlite:///var/gridsnap.db or postgresql://user:password@host/database"
# SQLAlchemy hands every PostgreSQL URL option to asyncpg.connect() as a keyword, as a
# string. These work so; any other would end in a TypeError deep inside the first connect.
ASYNCPG_URL_OPTIONS = (
    "ssl",
    "host",
    "command_timeout",
    "target_session_attrs",
    "prepared_statement_cache_size",
)
# libpq's sslmode values, which asyncpg's ssl takes too.
SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="GRIDSNAP_", env_file=".env", extra="ignore", frozen=True
    )

    database_url: str = f"sqlite+aiosqlite:///{STATE_DIR / 'gridsnap.db'}"
    photo_dir: Path = STATE_DIR / "photos"
    # The sandbox's own SQLite file and photos; it never runs on GRIDSNAP_DATABASE_URL.
    sandbox_dir: Path = STATE_DIR / "sandbox"
    telegram_token: str | None = None
    telegram_api_url: str = "https://api.telegram.org"
    webhook_url: str | None = None
    webhook_secret: str | None = None
    default_locale: str = "zh_CN"
    timezone: str = "Asia/Shanghai"
    route_tolerance_m: float = Field(default=300.0, ge=0)
    duplicate_radius_m: float = Field(default=50.0, ge=0)
    duplicate_window_h: float = Field(default=72.0, ge=0)
    open_reporting: bool = False
    max_download_bytes: int = Field(default=20 * 1024 * 1024, gt=0)
    max_photo_pixels: int = Field(default=40_000_000, gt=0)
    send_rate_global: float = Field(default=30.0, gt=0)
    send_rate_per_chat: float = Field(default=1.0, gt=0)
    send_burst_per_chat: int = Field(default=3, ge=1)
    # Seconds a send waits for Telegram's answer. Longer than the Bot API server takes to
    # answer even when slow (PTB's own 5 s read timeout is not): a request that times out
    # may still have been carried out, and is then not sent again (bot.delivery).
    send_timeout_s: float = Field(default=30.0, gt=0, le=120)
    # Failed tries of one message before it is marked failed, so it cannot block its chat.
    send_max_attempts: int = Field(default=10, ge=1)
    # Days a sent (or failed) message's payload is kept in the outbox before it is purged.
    outbox_keep_days: float = Field(default=7.0, gt=0)
    # This process's name in inbox and outbox leases and in the heartbeat table. Unset: a
    # new one per process (host, pid, random), so any number may share one database.
    instance_id: str | None = Field(default=None, min_length=1, max_length=128)
    # Seconds between heartbeats; a process not seen for instance_dead_s is taken for dead
    # and the rows it was handling or sending are taken over by the others (bot.instances).
    heartbeat_s: float = Field(default=1.0, gt=0)
    instance_dead_s: float = Field(default=5.0, gt=0)
    # Updates of different users handled at once (one user's always take turns); keep it
    # within the database connection pool (SQLAlchemy's default: 5 + 10 overflow).
    concurrent_updates: int = Field(default=8, ge=1)
    # Received updates (bot.inbox): stored before they are confirmed to Telegram. Past this
    # many waiting, the webhook answers 503 (Telegram retries) and polling pauses.
    inbox_max_backlog: int = Field(default=10_000, ge=1)
    # A row that failed this many times is kept as dead with the reason and skipped.
    inbox_max_attempts: int = Field(default=5, ge=1)
    # Seconds a process owns a row it is handling (renewed while it does); after a crash,
    # another process sharing PostgreSQL takes it up then (SQLite: at once on restart).
    inbox_lease_s: float = Field(default=60.0, gt=0)
    # On SIGTERM: seconds to go on handling what is stored once nothing new is accepted.
    drain_s: float = Field(default=10.0, ge=0)
    # A webhook body larger than this is refused with 413 (updates are a few KB).
    webhook_max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    sandbox_host: str = "127.0.0.1"
    sandbox_port: int = Field(default=8080, ge=0, le=65535)
    # Which messenger the sandbox's web chat plays: Telegram (the Bot API emulator), WeChat
    # (the Official Account emulator) or mixed (riders on WeChat, staff on Telegram); each
    # keeps its own database file.
    sandbox_platform: Literal["telegram", "wechat", "mixed"] = "telegram"
    # Webhook mode listens here, usually behind a TLS reverse proxy that Telegram calls.
    webhook_host: str = "0.0.0.0"
    webhook_port: int = Field(default=8443, ge=0, le=65535)
    bot_username: str = "gridsnap_bot"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # The Telegram library: python-telegram-bot, or aiogram 3 (polling only). Both serve the
    # same platform, so switching keeps every account and conversation.
    transport: Literal["ptb", "aiogram"] = "ptb"
    # Minutes after a missed acknowledge deadline before the grid leader and community admin
    # are told (the grid itself is reminded at the deadline).
    escalate_after_min: float = Field(default=30.0, gt=0)
    # Days a stored photo that no report, draft or unsent message refers to is kept (a
    # refused or abandoned upload, a sent alert map) before the hourly sweep deletes it.
    photo_orphan_days: float = Field(default=7.0, gt=0)
    # Hours after its last step an unfinished report, registration or worker note is
    # discarded (its location and photos are personal data kept for no purpose any more).
    draft_hours: int = Field(default=24, gt=0)
    # WeChat Official Account (bot/transports/wechat): served beside or instead of Telegram
    # once GRIDSNAP_WECHAT_APPID is set; then the secret and the token are required too.
    wechat_appid: str | None = None
    wechat_secret: str | None = None
    wechat_token: str | None = None  # the callback's signature token (服务器配置 Token)
    # 43 characters: the callback runs in safe mode (AES), else in plain text.
    wechat_aes_key: str | None = Field(default=None, min_length=43, max_length=43)
    wechat_api_url: str = "https://api.weixin.qq.com"
    wechat_host: str = "0.0.0.0"
    wechat_port: int = Field(default=8081, ge=0, le=65535)
    # A template message for pushes to a user who has not written for 48 h (customer-service
    # messages are refused then); unset, such pushes wait until the user writes again.
    wechat_template_status: str | None = None

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("default_locale")
    @classmethod
    def _known_locale(cls, value: str) -> str:
        if value not in LOCALES:
            raise ValueError(f"must be one of {', '.join(LOCALES)}")
        return value

    @field_validator("transport")
    @classmethod
    def _transport_can_serve(cls, value: str, info: ValidationInfo) -> str:
        if value == "aiogram" and info.data.get("webhook_url"):
            raise ValueError("aiogram runs by polling only; unset GRIDSNAP_WEBHOOK_URL or use ptb")
        return value

    @field_validator("database_url")
    @classmethod
    def _supported_async_database(cls, value: str) -> str:
        if value.startswith("postgresql://") or value.startswith("postgres://"):
            value = "postgresql+asyncpg://" + value.split("://", 1)[1]
        elif value.startswith("sqlite://"):
            value = "sqlite+aiosqlite://" + value.split("://", 1)[1]
        try:
            driver = make_url(value).drivername
        except (ArgumentError, ValueError):  # ValueError: a port that is no number
            raise ValueError(f"not a database URL; e.g. {DATABASE_EXAMPLES}") from None
        if driver not in ASYNC_DRIVERS:
            raise ValueError(f"unsupported database {driver!r}; e.g. {DATABASE_EXAMPLES}")
        if driver == "postgresql+asyncpg":
            return _asyncpg_url(value)
        _refuse_missing_folder(value)
        return value

    @property
    def database_configured(self) -> bool:
        """Whether GRIDSNAP_DATABASE_URL was given (environment, ``.env`` or an override),
        rather than left at the default file under ``var/``."""
        return "database_url" in self.model_fields_set

    @property
    def wechat_enabled(self) -> bool:
        """Whether any WeChat setting is given (``require_wechat`` then checks them all)."""
        return any((self.wechat_appid, self.wechat_secret, self.wechat_token, self.wechat_aes_key))

    def require_wechat(self) -> tuple[str, str, str]:
        """(appid, secret, token); raises ``ConfigError`` naming the first one missing."""
        for name in ("wechat_appid", "wechat_secret", "wechat_token"):
            if not getattr(self, name):
                raise ConfigError(f"GRIDSNAP_{name.upper()}: required to serve WeChat")
        assert self.wechat_appid and self.wechat_secret and self.wechat_token
        return self.wechat_appid, self.wechat_secret, self.wechat_token

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @field_validator("instance_dead_s")
    @classmethod
    def _several_heartbeats(cls, value: float, info: ValidationInfo) -> float:
        beat = info.data.get("heartbeat_s")
        if isinstance(beat, float) and value < 3 * beat:
            raise ValueError(f"must be at least three heartbeats (3 × {beat:g} s)")
        return value


def _asyncpg_url(value: str) -> str:
    """``value`` with libpq's options (as managed PostgreSQL services hand them out) put as
    asyncpg takes them; refuses what asyncpg cannot take. Never repeats the password."""
    url = make_url(value)
    if url.host and "@" in url.host:
        # An unencoded @ in the password ends it early: the rest is taken for the host.
        raise ValueError("the host contains '@'; percent-encode @ in the password as %40")
    query = dict(url.query)
    if "sslmode" in query:
        if "ssl" in query:
            raise ValueError("give sslmode or ssl, not both")
        query["ssl"] = query.pop("sslmode")
    if "connect_timeout" in query:  # storage.database hands it to asyncpg as a number
        _check_connect_timeout(query["connect_timeout"])
    for name, given in query.items():
        if name not in (*ASYNCPG_URL_OPTIONS, "connect_timeout"):
            raise ValueError(
                f"unsupported option {name!r}; PostgreSQL URLs take sslmode, connect_timeout"
                f" and {', '.join(ASYNCPG_URL_OPTIONS)}"
            )
        if not isinstance(given, str):
            raise ValueError(f"option {name!r} given more than once")
    if "ssl" in query and query["ssl"] not in SSL_MODES:
        raise ValueError(f"sslmode must be one of {', '.join(SSL_MODES)}")
    if query == dict(url.query):
        return value
    return url.set(query=query).render_as_string(hide_password=False)


def _refuse_missing_folder(value: str) -> None:
    """A SQLite file is created on first use, its folder is not: a typo in the path must not
    become a new, empty database somewhere else."""
    from storage.database import sqlite_file

    database = sqlite_file(value)
    if database is None or database.parent == STATE_DIR:  # var/ is ours: load_settings makes it
        return
    if not database.parent.is_dir():
        raise ValueError(f"folder {database.parent} does not exist; create it first")


def _check_connect_timeout(given: str | tuple[str, ...]) -> None:
    try:
        seconds = float(given) if isinstance(given, str) else -1.0
    except ValueError:
        seconds = -1.0
    if not seconds >= 0:
        raise ValueError("connect_timeout must be a number of seconds")


class ConfigError(Exception):
    """A setting is wrong; the message names the environment variable."""


def load_settings(**overrides: object) -> Settings:
    from storage.database import sqlite_file

    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            name = "GRIDSNAP_" + "_".join(str(p) for p in err["loc"]).upper()
            # pydantic prefixes our validators' messages with "Value error, ".
            problems.append(f"{name}: {err['msg'].removeprefix('Value error, ')}")
        raise ConfigError("; ".join(problems)) from None
    database = sqlite_file(settings.database_url)
    if database is not None and database.parent == STATE_DIR:
        # The project's own state folder (the default file's) is made; any other must exist.
        STATE_DIR.mkdir(parents=True, exist_ok=True)
    return settings
