"""Partner URLs: what check_url, resolve and check_address refuse and why, and post() on real
sockets: delivered to the checked address under the partner's name (Host, TLS SNI and
certificate), never following a redirect, bounded in time and in what it keeps."""

import asyncio
import socket
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address, IPv4Network, ip_address
from pathlib import Path

import httpx
import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from services.webhooks.service.targets import (
    PIN,
    Pin,
    PinnedTransport,
    Resolver,
    Sent,
    TargetPolicy,
    TargetRefused,
    check_address,
    check_url,
    new_client,
    post,
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


async def test_a_name_that_does_not_resolve_is_refused() -> None:
    target = check_url("https://nowhere.test/", policy=PRODUCTION)
    with pytest.raises(TargetRefused, match=r"nowhere\.test does not resolve \(.*not known\)"):
        await resolve(target, policy=PRODUCTION, resolver=fake_dns({}))
    with pytest.raises(TargetRefused, match=r"nowhere\.test does not resolve \(no address\)"):
        await resolve(target, policy=PRODUCTION, resolver=fake_dns({"nowhere.test": []}))


async def test_the_system_resolver_is_checked_too() -> None:
    target = check_url("http://localhost/", policy=DEV)  # /etc/hosts: no network needed
    with pytest.raises(TargetRefused, match=r"localhost resolves to \S+, (a|the) loopback"):
        await resolve(target, policy=DEV)


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


# --- post() on real sockets -----------------------------------------------------------


@dataclass
class Seen:
    host: str | None
    path: str
    body: bytes
    headers: dict[str, str]
    peer_port: int


Answer = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def ok(request: web.Request) -> web.StreamResponse:
    headers = {"X-Receipt": "r-1", "Set-Cookie": "session=partner; Path=/"}
    return web.Response(status=202, text="accepted", headers=headers)


@dataclass
class Receiver:
    answer: Answer = ok
    seen: list[Seen] = field(default_factory=list)
    sni: list[str | None] = field(default_factory=list)
    port: int = 0

    async def handle(self, request: web.Request) -> web.StreamResponse:
        peer = request.transport.get_extra_info("peername") if request.transport else None
        self.seen.append(
            Seen(
                host=request.headers.get("Host"),
                path=request.path_qs,
                body=await request.read(),
                headers=dict(request.headers),
                peer_port=peer[1] if peer else 0,
            )
        )
        return await self.answer(request)


@asynccontextmanager
async def receiving(
    answer: Answer = ok, *, tls: ssl.SSLContext | None = None
) -> AsyncIterator[Receiver]:
    """A real HTTP(S) server on 127.0.0.1 and a free port, recording what reaches it."""
    receiver = Receiver(answer)
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", receiver.handle)
    runner = web.AppRunner(app, shutdown_timeout=0.2)
    await runner.setup()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    receiver.port = sock.getsockname()[1]
    if tls is not None:
        tls.sni_callback = lambda _sslobj, name, _ctx: receiver.sni.append(name)
    await web.SockSite(runner, sock, ssl_context=tls).start()
    try:
        yield receiver
    finally:
        await runner.cleanup()


async def send(
    url: str,
    *,
    policy: TargetPolicy = LOOPBACK_NETWORK,
    resolver: Resolver | None = None,
    timeout: float = 5.0,
    client: httpx.AsyncClient | None = None,
) -> Sent:
    """post() a small JSON body, on ``client`` (the caller closes it) or a new one."""
    if client is None:
        async with new_client() as own:
            return await send(url, policy=policy, resolver=resolver, timeout=timeout, client=own)
    return await post(
        client,
        url=url,
        content=b'{"type":"test"}',
        headers={"Content-Type": "application/json", "webhook-id": "msg_1"},
        timeout=timeout,
        policy=policy,
        resolver=resolver,
    )


async def test_post_delivers_to_an_allow_listed_receiver() -> None:
    async with receiving() as receiver, new_client() as client:
        sent = await send(f"http://127.0.0.1:{receiver.port}/hooks/in?x=1", client=client)
        assert not client.cookies  # kept, it would go to the next partner on that address
    assert [(s.path, s.body) for s in receiver.seen] == [("/hooks/in?x=1", b'{"type":"test"}')]
    headers = receiver.seen[0].headers
    assert headers["Content-Type"] == "application/json"
    assert headers["webhook-id"] == "msg_1"
    assert headers["Accept-Encoding"] == "identity"
    assert sent.status == 202
    assert sent.headers["x-receipt"] == "r-1"
    assert sent.excerpt == "accepted"
    assert 0 <= sent.duration_ms < 5000


async def test_post_refuses_before_connecting() -> None:
    async with receiving() as receiver:
        with pytest.raises(TargetRefused, match="loopback"):
            await send(f"http://127.0.0.1:{receiver.port}/", policy=DEV)
        with pytest.raises(TargetRefused, match="http is not allowed"):
            await send(f"http://127.0.0.1:{receiver.port}/", policy=PRODUCTION)
    assert receiver.seen == []


async def test_a_redirect_is_returned_never_followed() -> None:
    async with receiving() as other:

        async def redirect(request: web.Request) -> web.StreamResponse:
            return web.Response(status=302, headers={"Location": f"http://127.0.0.1:{other.port}/"})

        async with receiving(redirect) as first:
            following = httpx.AsyncClient(transport=PinnedTransport(), follow_redirects=True)
            async with following:
                sent = await send(f"http://127.0.0.1:{first.port}/", client=following)
    assert sent.status == 302
    assert sent.headers["location"] == f"http://127.0.0.1:{other.port}/"
    assert len(first.seen) == 1
    assert other.seen == []


async def test_the_connection_goes_to_the_checked_address_under_the_partners_name() -> None:
    calls: list[str] = []
    dns = fake_dns({"partner.test": ["127.0.0.1"]}, calls)
    async with receiving() as receiver:
        url = f"http://partner.test:{receiver.port}/hook"
        await send(url, resolver=dns)
        await send(url, resolver=dns)
    assert [s.host for s in receiver.seen] == [f"partner.test:{receiver.port}"] * 2
    assert calls == ["partner.test", "partner.test"]  # resolved again at every delivery


async def test_a_name_that_rebinds_to_a_private_address_is_refused_at_the_next_delivery() -> None:
    answers = {"partner.test": ["127.0.0.1"]}
    async with receiving() as receiver:
        url = f"http://partner.test:{receiver.port}/hook"
        await send(url, resolver=fake_dns(answers))
        answers["partner.test"] = [PUBLIC, "10.0.0.1"]
        with pytest.raises(TargetRefused, match=r"partner\.test resolves to 10\.0\.0\.1"):
            await send(url, resolver=fake_dns(answers))
    assert len(receiver.seen) == 1


async def test_a_name_that_does_not_resolve_is_refused_at_delivery() -> None:
    with pytest.raises(TargetRefused, match=r"nowhere\.test does not resolve"):
        await send("http://nowhere.test/", resolver=fake_dns({}))


async def test_the_answer_kept_is_bounded() -> None:
    async def big(request: web.Request) -> web.StreamResponse:
        return web.Response(status=500, body=b"x" * 1_000_000)

    async with receiving(big) as receiver:
        sent = await send(f"http://127.0.0.1:{receiver.port}/")
    assert sent.status == 500
    assert sent.excerpt == "x" * 4096


async def test_an_endless_answer_is_not_read_past_the_excerpt() -> None:
    async def endless(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(status=200)
        await response.prepare(request)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            await response.write(b"y" * 65536)
        return response

    async with receiving(endless) as receiver:
        started = time.monotonic()
        sent = await send(f"http://127.0.0.1:{receiver.port}/", timeout=5.0)
        assert time.monotonic() - started < 1.0
    assert sent.excerpt == "y" * 4096


async def test_the_timeout_bounds_the_whole_attempt() -> None:
    async def slow(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(2)
        return web.Response(text="late")

    async with receiving(slow) as receiver:
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            await send(f"http://127.0.0.1:{receiver.port}/", timeout=0.3)
        elapsed = time.monotonic() - started
    assert elapsed < 1.0


async def test_a_slow_resolver_counts_against_the_timeout() -> None:
    async def slow_dns(host: str, port: int) -> list[str]:
        await asyncio.sleep(2)
        return ["127.0.0.1"]

    started = time.monotonic()
    with pytest.raises(TimeoutError):
        await send("http://partner.test/", resolver=slow_dns, timeout=0.3)
    assert time.monotonic() - started < 1.0


async def test_the_pinned_transport_sends_nothing_that_post_did_not_check() -> None:
    async with receiving() as receiver, new_client() as client:
        url = f"http://127.0.0.1:{receiver.port}/"
        with pytest.raises(TargetRefused, match="was not checked"):
            await client.post(url, content=b"{}")
        forged = Pin(host="127.0.0.1", address=ip_address("127.0.0.2"))
        with pytest.raises(TargetRefused, match="was not checked"):
            await client.post(url, content=b"{}", extensions={PIN: forged})
    assert receiver.seen == []


async def test_every_delivery_has_a_connection_of_its_own() -> None:
    dns = fake_dns({"a.test": ["127.0.0.1"], "b.test": ["127.0.0.1"]})
    async with receiving() as receiver, new_client() as client:
        for name in ("a.test", "b.test", "a.test"):
            await send(f"http://{name}:{receiver.port}/", resolver=dns, client=client)
    assert [s.host.split(":")[0] for s in receiver.seen if s.host] == ["a.test", "b.test", "a.test"]
    assert len({s.peer_port for s in receiver.seen}) == 3


# --- TLS: the certificate is checked for the partner's name, not the address -----------


@dataclass(frozen=True)
class Certificate:
    server: ssl.SSLContext
    client: ssl.SSLContext


@pytest.fixture(scope="module")
def partner_certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    """A self-signed certificate for partner.test only (no IP address among its names)."""
    directory: Path = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "partner.test")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("partner.test")]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    pem = certificate.public_bytes(serialization.Encoding.PEM)
    (directory / "cert.pem").write_bytes(pem)
    (directory / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(directory / "cert.pem", directory / "key.pem")
    return Certificate(server=server, client=ssl.create_default_context(cadata=pem.decode()))


async def test_tls_verifies_the_partners_name_on_the_checked_address(
    partner_certificate: Certificate,
) -> None:
    production = TargetPolicy(allowed_hosts=frozenset({"127.0.0.0/8"}))  # https required
    dns = fake_dns({"partner.test": ["127.0.0.1"], "other.test": ["127.0.0.1"]})
    async with receiving(tls=partner_certificate.server) as receiver:
        async with new_client(verify=partner_certificate.client) as client:
            url = f"https://partner.test:{receiver.port}/hook"
            sent = await send(url, policy=production, resolver=dns, client=client)
        assert sent.status == 202
        assert receiver.sni == ["partner.test"]
        assert [s.host for s in receiver.seen] == [f"partner.test:{receiver.port}"]

        async with new_client(verify=partner_certificate.client) as client:
            url = f"https://other.test:{receiver.port}/hook"
            with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                await send(url, policy=production, resolver=dns, client=client)
        assert receiver.sni == ["partner.test", "other.test"]
        assert len(receiver.seen) == 1  # nothing was sent to a name the certificate is not for
