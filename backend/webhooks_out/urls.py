"""Which URLs and addresses an outgoing webhook may reach (DESIGN section 17: no SSRF into the host's network).

Always refused: schemes other than http and https, link-local (169.254.0.0/16, fe80::/10), multicast, the
unspecified address (0.0.0.0, ::), cloud metadata addresses (AWS/GCP/Azure 169.254.169.254, AWS IPv6
fd00:ec2::254, Alibaba 100.100.100.200, Oracle 192.0.0.192) and reserved ranges. Loopback and private
addresses only while the server itself binds loopback (`AddressPolicy.allow_private`). A name is resolved and
every address it gives is checked; the transport checks again when it connects, and connects to the address it
checked, so a name that later resolves elsewhere cannot slip through.

Hand-written because the libraries that do this (advocate, for requests) are unmaintained; the rules are a few
lines over the standard `ipaddress` module.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
#: (host, port) -> the addresses it resolves to (socket.getaddrinfo by default; tests give their own).
Resolver = Callable[[str, int], list[str]]

METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200", "192.0.0.192")
)
METADATA_NAMES = frozenset({"metadata.google.internal", "metadata", "metadata.azure.internal", "instance-data"})
MAX_URL = 2000


class UrlRefused(Exception):
    """The URL or an address it resolves to may not be reached; `reason` says why in words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True)
class AddressPolicy:
    #: loopback and private ranges are reachable (the server binds loopback: a desktop user's own receivers).
    allow_private: bool
    resolver: Resolver = system_resolver

    def check_address(self, address: IPAddress) -> None:
        """Raises UrlRefused when `address` may not be reached."""
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if address in METADATA_ADDRESSES:
            raise UrlRefused(f"{address} is a cloud metadata address")
        if address.is_unspecified:
            raise UrlRefused(f"{address} is the unspecified address")
        if address.is_link_local:
            raise UrlRefused(f"{address} is a link-local address")
        if address.is_multicast:
            raise UrlRefused(f"{address} is a multicast address")
        if address.is_loopback or address.is_private:
            if not self.allow_private:
                raise UrlRefused(
                    f"{address} is a loopback or private address, allowed only while the server binds loopback"
                )
            return
        if address.is_reserved or not address.is_global:
            raise UrlRefused(f"{address} is a reserved address")

    def resolve(self, host: str, port: int) -> list[IPAddress]:
        """Every address `host` gives, each checked; raises UrlRefused when any is refused or none is found."""
        if host.lower().rstrip(".") in METADATA_NAMES:
            raise UrlRefused(f"{host} is a cloud metadata name")
        try:
            literal: IPAddress | None = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        if literal is not None:
            addresses = [literal]
        else:
            try:
                addresses = [ipaddress.ip_address(a.split("%", 1)[0]) for a in self.resolver(host, port)]
            except (OSError, UnicodeError):
                raise UrlRefused(f"the name {host} cannot be resolved") from None
        if not addresses:
            raise UrlRefused(f"the name {host} cannot be resolved")
        for address in addresses:
            self.check_address(address)
        return addresses


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str


def parse_url(url: str) -> Target:
    """The parts of an http(s) URL; raises UrlRefused for anything else (other schemes, user info, no host)."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL or any(c in url for c in "\r\n\t "):
        raise UrlRefused(f"give an http or https URL of at most {MAX_URL} characters")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise UrlRefused("only http and https URLs are allowed")
    if parts.username is not None or parts.password is not None:
        raise UrlRefused("a URL with a user name or password is not allowed; the signature authenticates")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise UrlRefused("the port is not a number from 1 to 65535") from None
    host = parts.hostname
    if not host:
        raise UrlRefused("the URL has no host")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(parts.scheme, host, port, path)


def check_url(url: str, policy: AddressPolicy) -> Target:
    """Parse `url` and check every address its host resolves to now; raises UrlRefused."""
    target = parse_url(url)
    policy.resolve(target.host, target.port)
    return target
