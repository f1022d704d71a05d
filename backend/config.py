"""Configuration: read once from the environment (and CLI flags), validated, then passed in.

Nothing deeper in the app reads `os.environ`; a bad value stops start-up with a sentence naming the variable.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import platformdirs

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
DEFAULT_PORT = 8765
DEFAULT_WHATSAPP_URL = "https://web.whatsapp.com"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class ConfigError(ValueError):
    """A setting that cannot be used; the message names the variable and what is wrong."""


@dataclass(frozen=True)
class Config:
    data_dir: Path
    database_url: str
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    public_url: str | None = None
    delivery_job: bool = True
    whatsapp_url: str = DEFAULT_WHATSAPP_URL
    chromium: str | None = None
    chromedriver: str | None = None
    gmail_api_endpoint: str | None = None
    log_level: str = "INFO"
    #: extra Host names accepted besides loopback (DNS-rebinding guard), e.g. the public URL's host.
    allowed_hosts: tuple[str, ...] = ()
    max_upload_bytes: int = 20 * 1024 * 1024
    #: seconds between delivery-status sweeps (DESIGN section 6: 5).
    delivery_interval_s: float = 5.0
    #: seconds between reads of the email inboxes by the poll (IMAP IDLE brings mail sooner where offered).
    inbox_poll_s: float = 30.0
    #: start the scheduler and dispatchers (serve / desktop); off for `--no-jobs` and for most tests.
    jobs: bool = True
    testing: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def replace(self, **changes: Any) -> Config:
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_env(cls, env: Mapping[str, str], **overrides: Any) -> Config:
        """Build a Config from BULKMSG_* variables; keyword overrides (CLI flags) win over the environment.

        Raises ConfigError naming the variable when a value is bad.
        """
        overrides = {k: v for k, v in overrides.items() if v is not None}
        data_dir = Path(
            overrides.pop("data_dir", None)
            or env.get("BULKMSG_DATA_DIR")
            or platformdirs.user_data_dir("bulkmsg", appauthor=False)
        ).expanduser()
        database_url = overrides.pop("database_url", None) or env.get("BULKMSG_DATABASE_URL") or ""
        if not database_url:
            database_url = f"sqlite:///{data_dir / 'bulkmsg.sqlite3'}"
        _check_database_url(database_url)

        host = overrides.pop("host", None) or env.get("BULKMSG_HOST") or "127.0.0.1"
        port = overrides.pop("port", None)
        if port is None:
            port = _int(env, "BULKMSG_PORT", DEFAULT_PORT, low=0, high=65535)
        public_url = overrides.pop("public_url", None) or env.get("BULKMSG_PUBLIC_URL") or None
        if public_url is not None:
            public_url = _url(public_url, "BULKMSG_PUBLIC_URL")
        whatsapp_url = _url(env.get("BULKMSG_WHATSAPP_URL") or DEFAULT_WHATSAPP_URL, "BULKMSG_WHATSAPP_URL")
        gmail_endpoint = env.get("BULKMSG_GMAIL_API_ENDPOINT") or None
        if gmail_endpoint is not None:
            gmail_endpoint = _url(gmail_endpoint, "BULKMSG_GMAIL_API_ENDPOINT")
        log_level = (env.get("BULKMSG_LOG_LEVEL") or "INFO").upper()
        if log_level not in LOG_LEVELS:
            raise ConfigError(f"BULKMSG_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, not {log_level!r}.")
        allowed = tuple(h for h in (env.get("BULKMSG_ALLOWED_HOSTS") or "").split(",") if h.strip())
        if public_url:
            allowed += (urlsplit(public_url).hostname or "",)

        values: dict[str, Any] = dict(
            data_dir=data_dir,
            database_url=database_url,
            host=host,
            port=port,
            public_url=public_url,
            delivery_job=_bool(env, "BULKMSG_DELIVERY_JOB", True),
            whatsapp_url=whatsapp_url,
            chromium=_path(env, "BULKMSG_CHROMIUM"),
            chromedriver=_path(env, "BULKMSG_CHROMEDRIVER"),
            gmail_api_endpoint=gmail_endpoint,
            log_level=log_level,
            allowed_hosts=tuple(h.strip().lower() for h in allowed if h.strip()),
            max_upload_bytes=_int(env, "BULKMSG_MAX_UPLOAD_MB", 20, low=1, high=1024) * 1024 * 1024,
        )
        values.update(overrides)
        return cls(**values)


def _int(env: Mapping[str, str], name: str, default: int, *, low: int, high: int) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, not {raw!r}.") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low} and {high}, not {value}.")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be true or false, not {raw!r}.")


def _url(raw: str, name: str) -> str:
    parts = urlsplit(raw.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"{name} must be an http:// or https:// URL, not {raw!r}.")
    return raw.strip().rstrip("/")


def _path(env: Mapping[str, str], name: str) -> str | None:
    raw = env.get(name)
    if not raw:
        return None
    if not Path(raw).is_file():
        raise ConfigError(f"{name} points to {raw!r}, which is not a file.")
    return raw


def _check_database_url(url: str) -> None:
    if url.startswith("sqlite:///") or url.startswith("postgresql"):
        return
    raise ConfigError(
        "BULKMSG_DATABASE_URL must be sqlite:///PATH or postgresql+psycopg://USER@HOST/DB, "
        f"not {url.split('://')[0]!r}."
    )
