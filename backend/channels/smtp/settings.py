"""The SMTP channel's settings and its inbox's, declared once (backend/channels/fields.py).

`validate_settings(raw, current)` -> (settings, secrets {"password"?, "imap_password"?}); raises SettingsError
listing each problem. The form's values go over the stored ones; a password of `****` or none keeps the stored
one. Sending: host, port (1..65535, default by security), security (`starttls` | `ssl` | `none`), username,
password, from_address, from_name, verify_tls, timeout_s (1..300, not in the form), connections (1..20).
The inbox (DESIGN section 9) is there when `imap_host` is: imap_port (default 993 for ssl, 143 otherwise),
imap_security (default ssl), imap_username, imap_password (bound to the IMAP host, port and user: changing one of
them asks for the password again), imap_folder (default INBOX). Without `imap_host` the imap_* values are ignored.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import ValidationInfo, field_validator

from backend.channels.base import SendError
from backend.channels.email_mime import check_address
from backend.channels.fields import ChannelSettings, check, problem, setting
from backend.security.hosts import host_problem
from backend.security.masking import MASK

SECURITY = ("starttls", "ssl", "none")
DEFAULT_PORTS = {"starttls": 587, "ssl": 465, "none": 25}
DEFAULT_TIMEOUT_S = 30.0
DEFAULT_CONNECTIONS = 4
MAX_CONNECTIONS = 20
IMAP_KEYS = frozenset({"imap_host", "imap_port", "imap_security", "imap_username", "imap_password", "imap_folder"})
IMAP_SECURITY = ("ssl", "starttls", "none")
IMAP_PORTS = {"ssl": 993, "starttls": 143, "none": 143}
#: what the inbox password is bound to: changing one of these asks for the password again.
BOUND_TO = ("imap_host", "imap_port", "imap_username")
PORT_REASON = "must be a port number between 1 and 65535"
LOGIN_FIX = "Check the user name and password. Gmail and Outlook need an app password, not your normal password."
SECURITY_FIX = "Port 587 usually needs STARTTLS, port 465 needs SSL/TLS."
ONE_LINE = "must not contain line breaks"


class SmtpSettings(ChannelSettings):
    intro: ClassVar[str] = "Sends through any mail server: your provider, Microsoft 365, Amazon SES, Mailgun…"

    host: str = setting(
        "",
        label="Server",
        placeholder="smtp.example.com",
        required=True,
        reason="give the mail server's host name",
        fix="Check the server name and port, and that this computer can reach it.",
        validate_default=True,
    )
    port: int | None = setting(
        None,
        label="Port",
        widget="number",
        placeholder="587",
        reason=PORT_REASON,
        ge=1,
        le=65535,
        validate_default=True,
    )
    security: str = setting(
        "starttls",
        label="Security",
        widget="select",
        options=[("starttls", "STARTTLS (port 587)"), ("ssl", "SSL/TLS (port 465)"), ("none", "None")],
        reason="must be starttls, ssl or none",
        fix=SECURITY_FIX,
    )
    username: str = setting("", label="User name", autocomplete="username", reason=ONE_LINE)
    password: str = setting(
        "",
        label="Password",
        secret=True,
        autocomplete="new-password",
        reason=ONE_LINE,
        fix=LOGIN_FIX,
        validate_default=True,
    )
    from_address: str = setting(
        "",
        label="From address",
        widget="email",
        placeholder="news@example.com",
        required=True,
        reason="must be an email address like news@example.com",
        validate_default=True,
    )
    from_name: str = setting("", label="From name", placeholder="Acme", reason=ONE_LINE)
    verify_tls: bool = setting(
        True,
        label="Check the server's TLS certificate",
        widget="checkbox",
        reason="must be true or false",
        fix=SECURITY_FIX,
        strict=True,
    )
    timeout_s: float = setting(
        DEFAULT_TIMEOUT_S,
        label="Timeout (seconds)",
        widget="number",
        reason="must be between 1 and 300 seconds",
        ge=1,
        le=300,
        in_form=False,
    )
    connections: int = setting(
        DEFAULT_CONNECTIONS,
        label="Connections at once",
        widget="number",
        placeholder=str(DEFAULT_CONNECTIONS),
        help="More connections send faster when the server is far away; some servers allow only a few.",
        reason=f"must be a whole number from 1 to {MAX_CONNECTIONS} (default 4)",
        ge=1,
        le=MAX_CONNECTIONS,
    )
    imap_host: str | None = setting(
        None,
        label="Inbox server (IMAP)",
        placeholder="imap.example.com",
        help="Optional: replies and bounces are read from this inbox into the conversations.",
        reason="give the mail server's host name",
        fix="Check the server name and port, and that this computer can reach it.",
    )
    imap_port: int | None = setting(
        None, label="Inbox port", widget="number", placeholder="993", reason=PORT_REASON, ge=1, le=65535
    )
    imap_security: str | None = setting(
        None,
        label="Inbox security",
        widget="select",
        options=[("ssl", "SSL/TLS (port 993)"), ("starttls", "STARTTLS (port 143)"), ("none", "None")],
        reason="must be ssl, starttls or none",
        fix=SECURITY_FIX,
    )
    imap_username: str | None = setting(
        None, label="Inbox user name", autocomplete="off", reason="give the mailbox's user name"
    )
    imap_password: str | None = setting(
        None,
        label="Inbox password",
        secret=True,
        autocomplete="new-password",
        reason="give the mailbox's password",
        fix=LOGIN_FIX,
    )
    imap_folder: str | None = setting(
        None, label="Inbox folder", placeholder="INBOX", reason="give a folder name such as INBOX"
    )

    @field_validator("host", "imap_host", mode="before")
    @classmethod
    def _host(cls, value: Any, info: ValidationInfo) -> str | None:
        host = str(value or "").strip()
        if info.field_name == "imap_host" and not host:
            return None
        bad = host_problem(host)
        if bad:
            raise problem("host", f"give the mail server's host name: {bad}")
        return host

    @field_validator("security", "imap_security", mode="before")
    @classmethod
    def _security(cls, value: Any, info: ValidationInfo) -> str | None:
        imap = info.field_name == "imap_security"
        if imap and not _inbox(info):
            return None
        text = str(value or ("ssl" if imap else "starttls")).lower()
        if text not in (IMAP_SECURITY if imap else SECURITY):
            raise problem("choice", "must be ssl, starttls or none" if imap else "must be starttls, ssl or none")
        return text

    @field_validator("port", "imap_port", mode="before")
    @classmethod
    def _port(cls, value: Any, info: ValidationInfo) -> Any:
        imap = info.field_name == "imap_port"
        if imap and not _inbox(info):
            return None
        if not value:
            value = _default_port(_values_of(info), imap)
        if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) < 10:
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise problem("int_type", PORT_REASON)
        return value

    @field_validator("username", "from_name", mode="before")
    @classmethod
    def _one_line(cls, value: Any) -> str:
        return _line(str(value or "").strip())

    @field_validator("password", mode="before")
    @classmethod
    def _password(cls, value: Any, info: ValidationInfo) -> str:
        password = _line(str(value or ""))
        if str(_values_of(info).get("username") or "").strip() and not password:
            raise problem("missing", "give the password for this username")
        return password

    @field_validator("from_address", mode="before")
    @classmethod
    def _from_address(cls, value: Any) -> str:
        address = str(value or "").strip()
        try:
            return check_address(address, "from address")
        except SendError:
            raise problem("email", "must be an email address like news@example.com") from None

    @field_validator("timeout_s", "connections", mode="before")
    @classmethod
    def _number(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, bool) or (info.field_name == "timeout_s" and isinstance(value, str)):
            raise problem("number_type", "")  # the field's own sentence
        if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit() and len(value) < 10:
            return int(value)
        return value

    @field_validator("imap_username", mode="before")
    @classmethod
    def _imap_username(cls, value: Any, info: ValidationInfo) -> str | None:
        if not _inbox(info):
            return None
        username = str(value or "").strip()
        if not username:
            raise problem("missing", "give the mailbox's user name")
        return _line(username)

    @field_validator("imap_folder", mode="before")
    @classmethod
    def _imap_folder(cls, value: Any, info: ValidationInfo) -> str | None:
        if not _inbox(info):
            return None
        folder = str(value or "INBOX").strip()
        if len(folder) > 200 or not folder.isprintable():
            raise problem("folder", "give a folder name such as INBOX")
        return folder

    @field_validator("imap_password", mode="before")
    @classmethod
    def _imap_password(cls, value: Any, info: ValidationInfo) -> str | None:
        if not _inbox(info):
            return None
        context = info.context if isinstance(info.context, dict) else {}
        raw, current = context.get("raw", {}), context.get("current", {})
        password = raw.get("imap_password")
        if password is None or password == MASK:
            moved = any(k in raw and raw[k] != current.get(k) for k in BOUND_TO) and bool(current.get("imap_host"))
            if moved:
                raise problem("password_unbound", "give the password again for the new host or user")
            password = current.get("imap_password")
        if not password:
            raise problem("missing", "give the mailbox's password")
        return _line(str(password))


def validate_settings(raw: dict[str, Any], current: dict[str, Any] | None) -> tuple[dict[str, Any], dict[str, str]]:
    """See the module. Raises SettingsError("Invalid SMTP settings") listing each problem."""
    current = current or {}
    values = _values(raw, current)
    model = check(SmtpSettings, values, "Invalid SMTP settings", {"values": values, "raw": raw, "current": current})
    sending = ("host", "port", "security", "username", "from_address", "from_name", "verify_tls")
    settings: dict[str, Any] = {key: getattr(model, key) for key in sending}
    settings["timeout_s"] = float(model.timeout_s)
    if model.imap_host:
        inbox = ("imap_host", "imap_port", "imap_security", "imap_username", "imap_folder")
        settings.update({key: getattr(model, key) for key in inbox})
    settings["connections"] = model.connections
    secrets = {"password": model.password} if model.password else {}
    if model.imap_password:
        secrets["imap_password"] = model.imap_password
    return settings, secrets


def _values(raw: dict[str, Any], current: dict[str, Any]) -> dict[str, Any]:
    """The form's values over the stored ones (a masked password keeps the stored one); every imap_* key is
    checked when there is an inbox, so each is present."""
    known = SmtpSettings.model_fields
    values = {key: value for key, value in current.items() if key in known}
    values.update({key: value for key, value in raw.items() if not (key == "password" and value == MASK)})
    for key in IMAP_KEYS:
        values.setdefault(key, None)
    return values


def _values_of(info: ValidationInfo) -> dict[str, Any]:
    context = info.context if isinstance(info.context, dict) else {}
    values = context.get("values")
    return values if isinstance(values, dict) else {}


def _inbox(info: ValidationInfo) -> bool:
    return bool(str(_values_of(info).get("imap_host") or "").strip())


def _default_port(values: dict[str, Any], imap: bool) -> int:
    if imap:
        security = str(values.get("imap_security") or "ssl").lower()
        return IMAP_PORTS.get(security, IMAP_PORTS["ssl"])
    return DEFAULT_PORTS.get(str(values.get("security") or "starttls").lower(), 587)


def _line(text: str) -> str:
    if "\r" in text or "\n" in text:
        raise problem("line_break", ONE_LINE)
    return text
