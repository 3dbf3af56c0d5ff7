"""Partner URLs: what check_url, resolve and check_address refuse and why."""

import socket
from ipaddress import IPv4Address, IPv4Network, ip_address

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.webhooks.service.targets import (
    Resolver,
    TargetPolicy,
    TargetRefused,
    check_address,
    check_url,
    resolve,
)

PRODUCTION = TargetPolicy()
DEV = TargetPolicy(require_https=False)
LOOPBACK_NETWORK = TargetPolicy(require_https=False, allowed_hosts=frozenset({"127.0.0.0/8"}))
PUBLIC = "93.184.216.34"


def fake_dns(answers: dict[str, list[str]], calls: list[str] | None = None) -> Resolver:
    async def resolver(host: str, port: int) -> list[str]:
        if calls is not None:
            calls.append(host)
        if host not in answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return answers[host]

    return resolver


async def no_dns(host: str, port: int) -> list[str]:
    raise AssertionError(f"{host} was looked up, and needed no lookup")


def refused(url: str, policy: TargetPolicy = DEV) -> str:
    with pytest.raises(TargetRefused) as caught:
        check_url(url, policy=policy)
    assert str(caught.value) == caught.value.reason
    return caught.value.reason


# --- check_url and check_address ------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1/", "127.0.0.1 is a loopback address"),
        ("http://10.0.0.1/", "10.0.0.1 is a private address"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a cloud metadata address"),
        ("http://[::1]/", "::1 is the loopback address"),
        ("http://[::ffff:127.0.0.1]/", "IPv4-mapped address for 127.0.0.1, a loopback address"),
        ("http://2130706433/", "127.0.0.1 is a loopback address"),
        ("http://0x7f.1/", "127.0.0.1 is a loopback address"),
        ("http://0x7f000001/", "127.0.0.1 is a loopback address"),
        ("http://0177.0.0.1/", "127.0.0.1 is a loopback address"),
        ("http://127.1/", "127.0.0.1 is a loopback address"),
        ("http://127.0.0.1./", "127.0.0.1 is a loopback address"),
        ("http://[fd00::1]/", "fd00::1 is a unique local address"),
        ("http://100.64.0.1/", "100.64.0.1 is a carrier-grade NAT address"),
        ("http://0.0.0.0/", "0.0.0.0 is an unspecified address"),
        ("http://0/", "0.0.0.0 is an unspecified address"),
        ("http://[::]/", ":: is the unspecified address"),
        ("http://[fe80::1%25eth0]/", "has a zone id"),
        ("https://[fd00:ec2::254]/", "fd00:ec2::254 is a cloud metadata address (AWS)"),
        ("https://100.100.100.200/", "100.100.100.200 is a cloud metadata address (Alibaba"),
        ("https://[64:ff9b::a00:1]/", "NAT64 address for 10.0.0.1, a private address"),
        ("https://[2002:c0a8:101::1]/", "6to4 address for 192.168.1.1, a private address"),
        ("https://[2001:0:4136:e378::1]/", "is a Teredo address"),
        ("https://foo.123/", "'foo.123' ends in a number but is not an IPv4 address"),
        ("https://1.2.3.4.5/", "ends in a number but is not an IPv4 address"),
        ("https://08.0.0.1/", "ends in a number but is not an IPv4 address"),
        ("https://user:secret@partner.example/", "credentials (user:password@)"),
        ("https://user@partner.example/", "credentials (user:password@)"),
        ("ftp://partner.example/", "the scheme 'ftp' is not allowed"),
        ("file:///etc/passwd", "the scheme 'file' is not allowed"),
        ("gopher://partner.example:70/", "the scheme 'gopher' is not allowed"),
        ("//partner.example/hook", "the scheme '(none)' is not allowed"),
        ("https:///hook", "the URL has no host"),
        ("https://partner.example/hook#top", "fragment"),
        ("https://partner.example:0/", "port is not a number from 1 to 65535"),
        ("https://partner.example:65536/", "port is not a number from 1 to 65535"),
        ("https://partner.example/a b", "spaces"),
        ("https://partner.example/\r\nX-Injected: 1", "control"),
        ("https://bücher.example/", "non-ASCII"),
        ("https://partner.example\\@127.0.0.1/", "backslashes"),
        ("https://partner.example/" + "a" * 2000, "longer than 2000 characters"),
    ],
)
def test_check_url_refuses_with_a_reason(url: str, reason: str) -> None:
    assert reason in refused(url)


def test_production_refuses_http() -> None:
    assert refused("http://partner.example/hook", PRODUCTION) == "http is not allowed: use https"
    assert check_url("http://partner.example/hook", policy=DEV).scheme == "http"


def test_check_url_keeps_the_parts_it_will_send() -> None:
    target = check_url("https://Partner.Example.:8443/hooks/in?x=1&y=%20", policy=PRODUCTION)
    assert (target.scheme, target.host, target.port) == ("https", "partner.example", 8443)
    assert target.target == "/hooks/in?x=1&y=%20"
    assert target.address is None
    assert target.netloc == "partner.example:8443"
    assert target.url == "https://partner.example:8443/hooks/in?x=1&y=%20"
    assert check_url("https://partner.example", policy=PRODUCTION).netloc == "partner.example"


async def test_a_public_literal_needs_no_lookup() -> None:
    target = check_url(f"https://{PUBLIC}/", policy=PRODUCTION)
    assert target.address == ip_address(PUBLIC)
    assert await resolve(target, policy=PRODUCTION, resolver=no_dns) == [ip_address(PUBLIC)]
    v6 = check_url("https://[2606:4700:4700::1111]:8443/", policy=PRODUCTION)
    assert v6.netloc == "[2606:4700:4700::1111]:8443"


@pytest.mark.parametrize(
    "address",
    [
        "172.16.0.1",
        "172.31.255.255",
        "192.168.1.1",
        "169.254.170.2",
        "168.63.129.16",
        "192.0.0.192",
        "192.0.2.1",
        "198.18.0.1",
        "198.51.100.7",
        "203.0.113.9",
        "224.0.0.251",
        "239.255.255.250",
        "240.0.0.1",
        "255.255.255.255",
        "fe80::1",
        "fec0::1",
        "fc00::1",
        "ff02::1",
        "2001:db8::1",
        "3fff::1",
        "100::1",
        "64:ff9b:1::a00:1",
        "::ffff:10.0.0.1",
        "::ffff:169.254.169.254",
        "::127.0.0.1",
        "::8.8.8.8",
        "4000::1",
    ],
)
def test_check_address_refuses_what_is_not_public(address: str) -> None:
    with pytest.raises(TargetRefused, match=r" is "):
        check_address(address)


@pytest.mark.parametrize(
    "address",
    [
        PUBLIC,
        "8.8.8.8",
        "1.1.1.1",
        "2606:4700:4700::1111",
        "2a00:1450:4001:82b::200e",
        "::ffff:93.184.216.34",
        "64:ff9b::5db8:d822",
        "2002:5db8:d822::1",
    ],
)
def test_check_address_lets_public_addresses_through(address: str) -> None:
    check_address(address)
    check_address(ip_address(address))


def test_check_address_refuses_what_is_no_address() -> None:
    with pytest.raises(TargetRefused, match="is not an IP address"):
        check_address("partner.example")


BASES = ("decimal", "hex", "HEX", "octal")
PRIVATE_NETWORKS = [IPv4Network(n) for n in ("127.0.0.0/8", "10.0.0.0/8", "192.168.0.0/16")]


def _encoded(value: int, base: str, padding: int) -> str:
    if base == "decimal":
        return str(value)
    if base == "octal":
        return "0" * (1 + padding) + format(value, "o")
    prefix = "0x" if base == "hex" else "0X"
    return prefix + "0" * padding + format(value, "x" if base == "hex" else "X")


@st.composite
def private_ipv4_spellings(draw: st.DrawFn) -> tuple[IPv4Address, str]:
    """An address in 127/8, 10/8 or 192.168/16, written in one to four parts (the last part
    taking the remaining bytes, as inet_aton reads 127.1 or 10.65535), each in decimal,
    hex or octal, some with leading zeros."""
    network = draw(st.sampled_from(PRIVATE_NETWORKS))
    value = draw(st.integers(int(network.network_address), int(network.broadcast_address)))
    count = draw(st.integers(1, 4))
    octets = value.to_bytes(4, "big")
    parts = [*octets[: count - 1], int.from_bytes(octets[count - 1 :], "big")]
    spelled = [
        _encoded(part, draw(st.sampled_from(BASES)), draw(st.integers(0, 3))) for part in parts
    ]
    return IPv4Address(value), ".".join(spelled)


@settings(max_examples=400, deadline=None)
@given(private_ipv4_spellings())
def test_every_spelling_of_a_private_ipv4_is_refused(spelling: tuple[IPv4Address, str]) -> None:
    address, host = spelling
    for url in (f"http://{host}/", f"https://{host}:8443/hook"):
        assert refused(url).startswith(f"{address} is "), (url, refused(url))


# --- resolve and the allow-list -------------------------------------------------------


@pytest.mark.parametrize(
    ("answers", "reason"),
    [
        (["10.0.0.1"], "partner.test resolves to 10.0.0.1, a private address"),
        ([PUBLIC, "10.0.0.1"], "partner.test resolves to 10.0.0.1, a private address"),
        (["127.0.0.1", PUBLIC], "partner.test resolves to 127.0.0.1, a loopback address"),
        ([PUBLIC, "::ffff:127.0.0.1"], "for 127.0.0.1, a loopback address"),
        (["2606:4700:4700::1111", "fd00::1"], "resolves to fd00::1, a unique local address"),
        (["169.254.169.254"], "resolves to 169.254.169.254, a cloud metadata address"),
    ],
)
async def test_resolve_refuses_a_name_when_any_address_is_not_public(
    answers: list[str], reason: str
) -> None:
    target = check_url("https://partner.test/hook", policy=PRODUCTION)
    resolver = fake_dns({"partner.test": answers})
    with pytest.raises(TargetRefused) as caught:
        await resolve(target, policy=PRODUCTION, resolver=resolver)
    assert reason in caught.value.reason


async def test_resolve_gives_every_public_address_once() -> None:
    target = check_url("https://partner.test/hook", policy=PRODUCTION)
    answers = [PUBLIC, "2606:4700:4700::1111", PUBLIC]
    dns = fake_dns({"partner.test": answers})
    addresses = await resolve(target, policy=PRODUCTION, resolver=dns)
    assert addresses == [ip_address(PUBLIC), ip_address("2606:4700:4700::1111")]


async def test_a_name_that_does_not_resolve_is_an_os_error() -> None:
    target = check_url("https://nowhere.test/", policy=PRODUCTION)
    with pytest.raises(OSError, match="not known"):
        await resolve(target, policy=PRODUCTION, resolver=fake_dns({}))
    with pytest.raises(OSError, match="has no address"):
        await resolve(target, policy=PRODUCTION, resolver=fake_dns({"nowhere.test": []}))


async def test_the_allow_list_lets_loopback_through_only_when_configured() -> None:
    url = "http://127.0.0.1:8080/hook"
    assert "loopback" in refused(url, DEV)
    for entries in ({"127.0.0.1"}, {"127.0.0.0/8"}):
        policy = TargetPolicy(require_https=False, allowed_hosts=frozenset(entries))
        assert check_url(url, policy=policy).address == ip_address("127.0.0.1")
        assert check_url("http://127.1:8080/", policy=policy).host == "127.0.0.1"
    allow_name = TargetPolicy(require_https=False, allowed_hosts=frozenset({"LocalHost"}))
    assert "loopback" in refused(url, allow_name)  # a name allows the name, not its address
    localhost = check_url("http://localhost:8080/", policy=allow_name)
    dns = fake_dns({"localhost": ["127.0.0.1", "::1"]})
    assert len(await resolve(localhost, policy=allow_name, resolver=dns)) == 2
    with pytest.raises(TargetRefused, match=r"localhost resolves to 127\.0\.0\.1"):
        await resolve(localhost, policy=DEV, resolver=dns)
    https_only = TargetPolicy(allowed_hosts=frozenset({"127.0.0.1"}))
    assert "http is not allowed" in refused(url, https_only)


async def test_an_allowed_network_lets_only_its_own_addresses_through() -> None:
    target = check_url("http://partner.test/", policy=LOOPBACK_NETWORK)
    dns = fake_dns({"partner.test": ["127.0.0.5", "10.0.0.1"]})
    with pytest.raises(TargetRefused, match=r"resolves to 10\.0\.0\.1"):
        await resolve(target, policy=LOOPBACK_NETWORK, resolver=dns)
    assert "10.0.0.1 is a private" in refused("http://10.0.0.1/", LOOPBACK_NETWORK)


@pytest.mark.parametrize("entry", ["10.0.0.1/8", "exa mple", "foo.12", "127.0.0.0/33", "a/b"])
def test_the_allow_list_refuses_entries_it_cannot_read(entry: str) -> None:
    with pytest.raises(ValueError, match="is not a name or a network"):
        TargetPolicy(allowed_hosts=frozenset({entry}))


def test_the_policy_defaults_to_production() -> None:
    assert PRODUCTION.require_https
    assert PRODUCTION.allowed_hosts == frozenset()
    assert not PRODUCTION.allows_address(ip_address("127.0.0.1"))
