"""Where a web source may send requests: http(s) only, and never into private, loopback,
link-local or reserved address space unless the source says `allow_private = true`.

Pure functions with the resolver injected, so the policy is tested without any traffic. Every
address a host resolves to is checked (a name with one public and one private address is refused),
and numeric host spellings that resolvers accept (`2130706433`, `0177.0.0.1`, `0x7f.1`, `127.1`,
`[::ffff:127.0.0.1]`) are read the way the resolver would read them.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable, Sequence
from urllib.parse import urlsplit

from db.vocabulary import BAD_SCHEME, PRIVATE_ADDRESS, UNRESOLVABLE

__all__ = ["BAD_SCHEME", "PRIVATE_ADDRESS", "UNRESOLVABLE", "check_url", "needs_resolver"]
ALLOWED_SCHEMES = ("http", "https")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str], Iterable[str]]

# IPv6 prefixes that carry an IPv4 address inside: the embedded address is what is reached.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")


def system_resolver(host: str) -> list[str]:
    """Every address the system resolver gives for `host` (raises OSError when it gives none)."""
    infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    return sorted({str(info[4][0]) for info in infos})


def literal_address(host: str) -> IPAddress | None:
    """The address a numeric host names, in any spelling a resolver accepts; None for a name."""
    host = host.strip("[]")
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])  # zone ids (fe80::1%eth0) dropped
    except ValueError:
        pass
    if not host or not all(part for part in host.split(".")):
        return None
    if not all(c in "0123456789abcdefxABCDEFX." for c in host) or not host[0].isdigit():
        return None
    try:  # inet_aton reads decimal, octal (0177), hex (0x7f) and short (127.1) forms like libc
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in _NAT64 or ip in _NAT64_LOCAL:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def is_forbidden(ip: IPAddress) -> bool:
    """True for any address that is not plainly public: private, loopback, link-local, shared
    (100.64/10), reserved, multicast, unspecified, documentation, and IPv6 forms that embed one."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None or ip in _NAT64:
            # translated to IPv4 on the way (NAT64 networks synthesise these for every IPv4-only
            # site): the IPv4 address is the one reached, and decides alone
            return is_forbidden(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
        embedded = _embedded_ipv4(ip)
        if embedded is not None and is_forbidden(embedded):
            return True
    return (
        not ip.is_global
        or ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
    )


def needs_resolver(url: str, allow_private: bool | Sequence[IPNetwork] = False) -> bool:
    """True when `check_url` would ask the resolver: an http(s) URL whose host is a name."""
    if allow_private is True:
        return False
    parts = urlsplit(url)
    host = parts.hostname
    return (
        parts.scheme.lower() in ALLOWED_SCHEMES
        and bool(host)
        and literal_address(host or "") is None
    )


def check_url(
    url: str,
    *,
    allow_private: bool | Sequence[IPNetwork] = False,
    resolve: Resolver = system_resolver,
) -> tuple[str, str] | None:
    """None when `url` may be fetched, else (reason, detail) for the ledger. `allow_private` is
    True (any address) or the private addresses/networks this source may reach."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in ALLOWED_SCHEMES:
        return BAD_SCHEME, f"scheme {parts.scheme or '(none)'!r} is not http or https"
    host = parts.hostname
    if not host:
        return BAD_SCHEME, "no host"
    if allow_private is True:
        return None
    allowed = allow_private or ()
    literal = literal_address(host)
    if literal is not None:
        addresses: list[IPAddress] = [literal]
    else:
        try:
            resolved = list(resolve(host))
        except OSError as exc:
            return UNRESOLVABLE, f"{host}: {exc.strerror or exc}"
        if not resolved:
            return UNRESOLVABLE, f"{host}: no address"
        addresses = [ipaddress.ip_address(a.split("%", 1)[0]) for a in resolved]
    forbidden = [a for a in addresses if is_forbidden(a) and not any(a in net for net in allowed)]
    if forbidden:
        return PRIVATE_ADDRESS, f"{host} is {forbidden[0]}, not a public address"
    return None
