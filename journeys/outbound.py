"""Where a `webhook` step may send requests: https only, and never to this network's own
machines (SSRF: a journey must not become a way into the loopback, private, link-local —
cloud metadata — or otherwise reserved addresses), unless settings allow either.

A URL is checked when the journey is saved and again at each call, after DNS resolution:
the call then connects to an address it checked, not to what a second lookup might say.
"""

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from journeys.settings import Settings

MAX_URL = 2048
# A name that resolves slowly is not refused at save for that (it is checked at each call).
SAVE_LOOKUP_SECONDS = 2.0
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class Outbound:
    allow_http: bool = False
    allow_private: bool = False

    @classmethod
    def of(cls, settings: Settings) -> "Outbound":
        return cls(settings.webhook_allow_http, settings.webhook_allow_private)


def parsed(url: str, policy: Outbound) -> SplitResult:
    """The URL's parts, or `ValueError` saying what is wrong with it (before any lookup)."""
    if len(url) > MAX_URL:
        raise ValueError(f"must be at most {MAX_URL} characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise ValueError(f"is not a URL: {error}") from None
    schemes = ("https", "http") if policy.allow_http else ("https",)
    if parts.scheme not in schemes:
        allowed = "http or https" if policy.allow_http else "https (plain http is not allowed)"
        raise ValueError(f"must be an {allowed} URL, not {parts.scheme or 'one without a scheme'}")
    if not parts.hostname:
        raise ValueError("must name a host")
    if parts.username is not None or parts.password is not None:
        raise ValueError("must not hold credentials: send them in headers")
    if port == 0:
        raise ValueError("must not use port 0")
    literal = _literal(parts.hostname)
    if literal is not None:
        refused(literal, policy)
    return parts


# IPv6 prefixes that carry an IPv4 address a gateway reaches for us (NAT64, 6to4, Teredo,
# the old IPv4-compatible form): `is_global` says nothing of the machine behind them.
_EMBEDDING = tuple(
    ipaddress.ip_network(prefix)
    for prefix in ("64:ff9b::/96", "64:ff9b:1::/48", "2002::/16", "2001::/32", "::/96")
)


def kind(address: Address) -> str | None:
    """What makes `address` one webhooks may not call by default ("loopback", …), if
    anything."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return kind(address.ipv4_mapped)
    if address.is_global:
        embedding = isinstance(address, ipaddress.IPv6Address) and any(
            address in prefix for prefix in _EMBEDDING
        )
        return "IPv4-embedding" if embedding else None
    flags = (
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("private", address.is_private),
        ("multicast", address.is_multicast),
    )
    return next((name for name, flag in flags if flag), "reserved")


def port_of(parts: SplitResult) -> int:
    """The port a parsed URL connects to."""
    return parts.port or (443 if parts.scheme == "https" else 80)


def refused(address: Address, policy: Outbound, *, shown: bool = True) -> None:
    """`ValueError` if the policy forbids connecting to `address` (naming it if `shown`)."""
    found = None if policy.allow_private else kind(address)
    if found is not None:
        what = f"{address}, a" if shown else "a"
        raise ValueError(f"resolves to {what} {found} address, which webhooks may not call")


async def resolve(host: str, port: int, policy: Outbound, *, shown: bool = True) -> list[Address]:
    """Every address `host` resolves to, each allowed by the policy (`ValueError` about the
    one that isn't, naming it if `shown`); `OSError` when it can't be resolved."""
    literal = _literal(host)
    if literal is not None:
        refused(literal, policy)
        return [literal]
    found = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    addresses = list(dict.fromkeys(ipaddress.ip_address(info[4][0]) for info in found))
    for address in addresses:
        refused(address, policy, shown=shown)
    return addresses


async def problem(url: str, policy: Outbound) -> str | None:
    """What refuses `url` when a journey is saved: its form, and where its host resolves
    now (a name that doesn't resolve yet, or not quickly, is left to the calls). Which
    internal address a name resolves to is not said: the API is no way to map a network."""
    try:
        parts = parsed(url, policy)
        assert parts.hostname is not None
        port = port_of(parts)
        async with asyncio.timeout(SAVE_LOOKUP_SECONDS):
            await resolve(parts.hostname, port, policy, shown=False)
    except ValueError as error:
        return str(error)
    except (OSError, TimeoutError):
        return None
    return None


def _literal(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None
