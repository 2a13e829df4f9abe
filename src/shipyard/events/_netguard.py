"""Outbound request guard: refuse loopback, private, link-local and cloud-metadata addresses unless allow-listed."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from shipyard.errors import InvalidParameter

__all__ = [
    "ALLOWLIST_SETTING",
    "Destination",
    "HostNotResolved",
    "IPAddress",
    "OutboundGuard",
    "OutboundRefused",
    "Resolver",
    "address_class",
    "system_resolver",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Sequence[str]]

ALLOWLIST_SETTING = "SHIPYARD_OUTBOUND_ALLOWLIST"
_SCHEMES = {"http": 80, "https": 443}

# Instance metadata services: AWS, GCP, Azure, OpenStack and Oracle (169.254.169.254), AWS over IPv6, AWS ECS
# task metadata, Alibaba Cloud, and Azure's wire server (a global address, reachable only from inside Azure).
_METADATA = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "fd00:ec2::254", "169.254.170.2", "100.100.100.200", "168.63.129.16")
)
_THIS_NETWORK = ipaddress.IPv4Network("0.0.0.0/8")
_SHARED = ipaddress.IPv4Network("100.64.0.0/10")  # carrier-grade NAT (RFC 6598)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


class OutboundRefused(InvalidParameter):
    """A URL's host is, or resolves to, an address the server may not call (and the allow-list does not cover)."""


class HostNotResolved(InvalidParameter):
    """A URL's host name did not resolve (now); it is checked again before every request."""


def system_resolver(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to, as text, through the system resolver (``socket.getaddrinfo``).

    Numeric spellings the C library accepts (``2130706433``, ``0x7f.1``, ``127.1``) resolve to the address they
    spell, so checking the resolved addresses covers them.
    """
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def _embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 transition form carries (IPv4-mapped, 6to4, NAT64), if any."""
    if isinstance(ip, ipaddress.IPv4Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def _plain_class(ip: IPAddress) -> str | None:
    checks: tuple[tuple[bool, str], ...] = (
        (ip in _METADATA, "cloud metadata"),
        (ip.is_unspecified or (isinstance(ip, ipaddress.IPv4Address) and ip in _THIS_NETWORK), "unspecified"),
        (ip.is_loopback, "loopback"),
        (ip.is_link_local, "link-local"),
        (ip.is_multicast, "multicast"),
        (isinstance(ip, ipaddress.IPv4Address) and ip in _SHARED, "shared (carrier-grade NAT)"),
        (ip.is_private, "private"),
        (ip.is_reserved, "reserved"),
        (not ip.is_global, "special-purpose"),
    )
    return next((name for hit, name in checks if hit), None)


def address_class(ip: IPAddress) -> str | None:
    """The kind of non-public address ``ip`` is (``"loopback"``, ``"private"``, ``"cloud metadata"``, …), or None.

    IPv6 forms that carry an IPv4 address (``::ffff:127.0.0.1``, 6to4, NAT64) are judged by that address.

    Example:
        >>> address_class(ipaddress.ip_address("::ffff:10.0.0.1"))
        'private (IPv4 10.0.0.1 inside IPv6)'
    """
    embedded = _embedded_ipv4(ip)
    if embedded is None:
        return _plain_class(ip)
    found = _plain_class(embedded)
    return f"{found} (IPv4 {embedded} inside IPv6)" if found else None


@dataclass(frozen=True, slots=True)
class Destination:
    """A URL that passed the guard, with the addresses it may be sent to.

    Attributes:
        url: the URL as given.
        host: its host, lower-case, without brackets or a trailing dot.
        port: its port (80 or 443 by default).
        addresses: every address the host resolved to, in resolver order; all were checked.
    """

    url: str
    host: str
    port: int
    addresses: tuple[IPAddress, ...]


def _normal_host(host: str) -> str:
    return host.strip().lower().rstrip(".")


def _parse_allowlist(entries: Iterable[str]) -> tuple[frozenset[str], tuple[IPNetwork, ...]]:
    names: set[str] = set()
    networks: list[IPNetwork] = []
    for raw in entries:
        entry = raw.strip().strip("[]")
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
            continue
        except ValueError:
            if "/" in entry or ":" in entry:
                raise InvalidParameter(
                    f"Invalid {ALLOWLIST_SETTING} entry {raw!r}: expected a host name, an IP address or a CIDR "
                    "network such as 10.0.0.0/8."
                ) from None
        names.add(_normal_host(entry))
    return frozenset(names), tuple(networks)


class OutboundGuard:
    """Decides whether the server may send a request to a URL.

    A URL passes when it is http(s) and every address its host resolves to is a public (global) address, or the
    allow-list names its host or covers the address. Loopback, private, link-local (which includes the cloud
    metadata address 169.254.169.254), multicast, reserved, unspecified and shared (100.64.0.0/10) addresses,
    and IPv6 forms carrying one of them, are refused otherwise.

    Args:
        allowlist: host names, IP addresses or CIDR networks (``Settings.outbound_allowlist``).
        resolve: the resolver (``socket.getaddrinfo`` by default; tests replace it to simulate DNS).

    Raises:
        InvalidParameter: an allow-list entry is neither a host name, an address nor a network.

    Example:
        >>> guard = OutboundGuard(["10.20.0.0/16", "hooks.internal"])
        >>> guard.check("http://127.0.0.1:8080/hook")  # doctest: +SKIP
        Traceback (most recent call last):
        OutboundRefused: ... 127.0.0.1 is a loopback address ...
    """

    def __init__(self, allowlist: Iterable[str] = (), *, resolve: Resolver = system_resolver) -> None:
        self._names, self._networks = _parse_allowlist(allowlist)
        self._resolve = resolve

    def _covered(self, ip: IPAddress) -> bool:
        embedded = _embedded_ipv4(ip)
        return any(ip in net or (embedded is not None and embedded in net) for net in self._networks)

    def split(self, url: str) -> tuple[str, int]:
        """The host and port of an http(s) URL.

        Raises:
            OutboundRefused: another scheme, or no host.
        """
        try:
            parts = urlsplit(url)
            host, port = parts.hostname, parts.port
        except ValueError as exc:
            raise OutboundRefused(f"Invalid URL {url!r}: {exc}.") from exc
        scheme = parts.scheme.lower()
        if scheme not in _SCHEMES:
            raise OutboundRefused(f"Invalid URL scheme {parts.scheme!r} in {url!r}: expected http or https.")
        if not host:
            raise OutboundRefused(f"Invalid URL {url!r}: it names no host.")
        return _normal_host(host), port or _SCHEMES[scheme]

    def check(self, url: str) -> Destination:
        """Resolve ``url``'s host and check every address.

        Returns:
            The destination, with the checked addresses to connect to.

        Raises:
            OutboundRefused: not http(s), or an address is not public and the allow-list does not cover it.
            HostNotResolved: the host name does not resolve.
        """
        host, port = self.split(url)
        try:
            literal = [ipaddress.ip_address(host)]
        except ValueError:
            literal = []
        try:
            resolved = literal or [ipaddress.ip_address(a) for a in self._resolve(host, port)]
        except (OSError, UnicodeError, ValueError) as exc:
            raise HostNotResolved(f"Cannot resolve the host {host!r} of {url!r}: {exc}.") from exc
        if not resolved:
            raise HostNotResolved(f"Cannot resolve the host {host!r} of {url!r}: no addresses.")
        addresses = tuple(dict.fromkeys(resolved))
        if host not in self._names:
            for ip in addresses:
                kind = address_class(ip)
                if kind is not None and not self._covered(ip):
                    raise OutboundRefused(_refusal(url, host, ip, kind))
        return Destination(url, host, port, addresses)

    def check_configured(self, url: str) -> None:
        """`check`, for a URL being saved: a host that does not resolve now is accepted (it is checked again
        before every request), any other refusal raises.

        Raises:
            OutboundRefused: as for `check`.
        """
        try:
            self.check(url)
        except HostNotResolved:
            return


def _refusal(url: str, host: str, ip: IPAddress, kind: str) -> str:
    try:
        is_literal = ipaddress.ip_address(host) == ip
    except ValueError:
        is_literal = False
    said = f"{host} is" if is_literal else f"its host {host!r} resolves to {ip},"
    article = "an" if kind[0] in "aeiou" else "a"
    # Never suggest opening a metadata service: that is what an attacker would want the reader to do.
    example = "" if kind.startswith("cloud metadata") else f"; for example {ALLOWLIST_SETTING}={host}"
    return (
        f"Refused to call {url!r}: {said} {article} {kind} address. The server does not send requests to loopback, "
        "private, link-local, cloud metadata, multicast or reserved addresses unless "
        f"{ALLOWLIST_SETTING} names the host or covers the address (host names, IP addresses or CIDR networks, "
        f"comma-separated{example})."
    )
