"""The outbound guard: which addresses a server-side request may reach, and how the allow-list opens some."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Sequence

import pytest

from shipyard.errors import InvalidParameter
from shipyard.events._netguard import (
    ALLOWLIST_SETTING,
    HostNotResolved,
    OutboundGuard,
    OutboundRefused,
    address_class,
)


def fixed_dns(answers: dict[str, Sequence[str]]) -> Callable[[str, int], Sequence[str]]:
    """A resolver that knows only ``answers`` (DNS is an edge these tests cannot control otherwise)."""

    def resolve(host: str, _port: int) -> Sequence[str]:
        if host not in answers:
            raise OSError(f"unknown host {host}")
        return answers[host]

    return resolve


def refusal(guard: OutboundGuard, url: str) -> str:
    with pytest.raises(OutboundRefused) as caught:
        guard.check(url)
    return caught.value.message


# --- address classes -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("127.0.0.1", "loopback"),
        ("127.255.255.254", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("fd12:3456::1", "private"),
        ("169.254.1.1", "link-local"),
        ("fe80::1", "link-local"),
        ("169.254.169.254", "cloud metadata"),
        ("169.254.170.2", "cloud metadata"),
        ("fd00:ec2::254", "cloud metadata"),
        ("100.100.100.200", "cloud metadata"),
        ("168.63.129.16", "cloud metadata"),
        ("0.0.0.0", "unspecified"),
        ("0.1.2.3", "unspecified"),
        ("::", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("100.64.0.1", "shared (carrier-grade NAT)"),
        ("240.0.0.1", "private"),  # reserved 240/4: Python files it under is_private
        ("255.255.255.255", "private"),
        ("198.18.0.1", "private"),  # benchmarking
        ("2001:db8::1", "private"),  # documentation
        ("::ffff:127.0.0.1", "loopback (IPv4 127.0.0.1 inside IPv6)"),
        ("::ffff:169.254.169.254", "cloud metadata (IPv4 169.254.169.254 inside IPv6)"),
        ("::ffff:10.0.0.1", "private (IPv4 10.0.0.1 inside IPv6)"),
        ("2002:7f00:1::", "loopback (IPv4 127.0.0.1 inside IPv6)"),  # 6to4
        ("64:ff9b::a9fe:a9fe", "cloud metadata (IPv4 169.254.169.254 inside IPv6)"),  # NAT64
        ("::127.0.0.1", "reserved"),  # IPv4-compatible, deprecated
    ],
)
def test_non_public_addresses_are_classified(address: str, expected: str) -> None:
    assert expected == address_class(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "address", ["93.184.216.34", "8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"]
)
def test_public_addresses_have_no_class(address: str) -> None:
    assert address_class(ipaddress.ip_address(address)) is None


# --- URLs ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://10.0.0.5/hook",
        "http://0.0.0.0:5000/",
        "http://2130706433/",  # decimal 127.0.0.1
        "http://0x7f.1/",  # hex
        "http://0177.0.0.1/",  # octal
        "http://127.1/",  # short form
        "https://100.64.0.1/",
    ],
)
def test_a_url_reaching_a_non_public_address_is_refused(url: str) -> None:
    with pytest.raises(OutboundRefused):
        OutboundGuard().check(url)


def test_refusal_names_the_address_class_and_the_setting() -> None:
    message = refusal(OutboundGuard(), "http://169.254.169.254/latest/meta-data/")
    assert ("cloud metadata address" in message, ALLOWLIST_SETTING in message) == (True, True)


def test_a_refused_error_is_an_invalid_parameter() -> None:
    assert issubclass(OutboundRefused, InvalidParameter)


def test_a_name_resolving_to_a_private_address_is_refused_naming_both() -> None:
    guard = OutboundGuard(resolve=fixed_dns({"hooks.internal": ["10.0.0.7"]}))
    message = refusal(guard, "https://hooks.internal/x")
    assert ("'hooks.internal' resolves to 10.0.0.7" in message, "private" in message) == (True, True)


def test_one_private_address_among_public_ones_refuses_the_name() -> None:
    guard = OutboundGuard(resolve=fixed_dns({"mixed.example": ["93.184.216.34", "127.0.0.1"]}))
    with pytest.raises(OutboundRefused):
        guard.check("https://mixed.example/")


def test_a_public_name_passes_with_its_addresses() -> None:
    guard = OutboundGuard(resolve=fixed_dns({"hooks.example": ["93.184.216.34", "2606:2800:220:1::1"]}))
    destination = guard.check("https://hooks.example/x")
    expected = ("hooks.example", 443, ("93.184.216.34", "2606:2800:220:1::1"))
    assert expected == (destination.host, destination.port, tuple(map(str, destination.addresses)))


def test_a_public_ip_literal_passes() -> None:
    assert 8080 == OutboundGuard().check("http://93.184.216.34:8080/x").port


@pytest.mark.parametrize("url", ["ftp://hooks.example/x", "file:///etc/passwd", "gopher://127.0.0.1/", "http:///x"])
def test_only_http_and_https_urls_with_a_host_pass(url: str) -> None:
    with pytest.raises(OutboundRefused):
        OutboundGuard(resolve=fixed_dns({"hooks.example": ["93.184.216.34"]})).check(url)


def test_a_name_that_does_not_resolve_is_reported_as_unresolved() -> None:
    with pytest.raises(HostNotResolved):
        OutboundGuard(resolve=fixed_dns({})).check("https://nowhere.example/")


def test_check_configured_accepts_a_name_that_does_not_resolve_yet() -> None:
    OutboundGuard(resolve=fixed_dns({})).check_configured("https://later.example/")


def test_check_configured_still_refuses_a_loopback_literal() -> None:
    with pytest.raises(OutboundRefused):
        OutboundGuard(resolve=fixed_dns({})).check_configured("http://127.0.0.1/")


# --- the allow-list --------------------------------------------------------------------------------------------


def test_allowlist_by_ip_opens_that_address() -> None:
    assert "127.0.0.1" == str(OutboundGuard(["127.0.0.1"]).check("http://127.0.0.1:9/").addresses[0])


def test_allowlist_by_ip_does_not_open_another_address() -> None:
    with pytest.raises(OutboundRefused):
        OutboundGuard(["127.0.0.1"]).check("http://127.0.0.2/")


def test_allowlist_by_cidr_opens_the_network() -> None:
    guard = OutboundGuard(["10.20.0.0/16"])
    assert "10.20.5.6" == str(guard.check("http://10.20.5.6/").addresses[0])


def test_allowlist_by_cidr_does_not_open_a_neighbour() -> None:
    with pytest.raises(OutboundRefused):
        OutboundGuard(["10.20.0.0/16"]).check("http://10.21.0.1/")


def test_allowlist_by_host_opens_whatever_it_resolves_to() -> None:
    guard = OutboundGuard(["Hooks.Internal."], resolve=fixed_dns({"hooks.internal": ["10.0.0.7"]}))
    assert "10.0.0.7" == str(guard.check("https://HOOKS.internal/x").addresses[0])


def test_allowlist_by_host_does_not_open_another_name_on_the_same_address() -> None:
    guard = OutboundGuard(["hooks.internal"], resolve=fixed_dns({"other.internal": ["10.0.0.7"]}))
    with pytest.raises(OutboundRefused):
        guard.check("https://other.internal/x")


def test_allowlist_by_ipv6_cidr_opens_ipv6() -> None:
    assert "fd12::5" == str(OutboundGuard(["fd12::/16"]).check("http://[fd12::5]/").addresses[0])


def test_allowlist_by_ipv4_covers_its_ipv4_mapped_form() -> None:
    guard = OutboundGuard(["127.0.0.1"])
    assert "::ffff:7f00:1" == str(guard.check("http://[::ffff:127.0.0.1]/").addresses[0])


def test_allowlist_by_ip_covers_a_numeric_spelling_of_it() -> None:
    assert "127.0.0.1" == str(OutboundGuard(["127.0.0.1"]).check("http://2130706433/").addresses[0])


@pytest.mark.parametrize("entry", ["10.0.0.0/33", "localhost:8080", "fe80::zz"])
def test_a_malformed_allowlist_entry_is_refused(entry: str) -> None:
    with pytest.raises(InvalidParameter):
        OutboundGuard([entry])
