"""Host names a user types for a server (SMTP, IMAP) and URLs (public URL, provider base URLs), checked before
anything connects to them or parses them further (DESIGN section 11: malformed input is a 4xx, never a 500).

`host_problem(host)` says what is wrong with a host name in words, or None: at most 253 characters, labels of
1 to 63 characters that IDNA can encode (`café.example` is fine), or an IP address. The standard library's own
checks raise UnicodeError deep inside `socket.create_connection` instead (a 64-character label, a 300-character
name), which is not an OSError and escaped every connection handler.
"""

from __future__ import annotations

import ipaddress

MAX_HOST = 253
MAX_LABEL = 63


def host_problem(host: str) -> str | None:
    name = host.strip().rstrip(".")
    if not name or any(c.isspace() for c in name):
        return "it is empty or has spaces"
    try:
        ipaddress.ip_address(name.strip("[]"))
        return None
    except ValueError:
        pass
    if len(name) > MAX_HOST:
        return f"a host name has at most {MAX_HOST} characters"
    try:
        encoded = name.encode("idna")
    except UnicodeError:
        return f"each part of a host name between dots has 1 to {MAX_LABEL} letters, digits or hyphens"
    if len(encoded) > MAX_HOST or any(not 0 < len(label) <= MAX_LABEL for label in encoded.split(b".")):
        return f"each part of a host name between dots has 1 to {MAX_LABEL} letters, digits or hyphens"
    return None


def url_host_problem(url: str) -> str | None:
    """What is wrong with the host of an http(s) URL (`http://[::1` has an unclosed bracket), or None."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url.strip())
        host, _port = parts.hostname, parts.port
    except ValueError:
        return "is not a valid URL (check the brackets around an IPv6 address and the port)"
    if not host:
        return "has no host name"
    reason = host_problem(host)
    return f"has a host name that cannot be used ({reason})" if reason else None
