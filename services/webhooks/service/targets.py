"""Partners' URLs: deciding whether one may be called, and calling it so that the connection
goes to the address that was checked (issue 17: no request to our own network, ever).

:func:`check_url` reads a URL without DNS: scheme, no userinfo or fragment, a host, and an
IP literal in any encoding a resolver accepts (``2130706433``, ``0x7f.1``, ``0177.0.0.1``,
``127.1``, ``[::ffff:127.0.0.1]``) normalised and checked. :func:`resolve` resolves a name and
refuses it when any of its addresses is not public (DNS may answer a different one each time).
:func:`check_address` is the one verdict on an address, from the tables below. :func:`post`
does all three at every delivery, then connects to the checked address itself (TLS still
verifies the partner's name), follows no redirect and keeps only the start of the answer.
"""

import asyncio
import re
import socket
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http.cookiejar import CookieJar, DefaultCookiePolicy
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network
from urllib.parse import SplitResult, urlsplit

import httpx

IPAddress = IPv4Address | IPv6Address
IPNetwork = IPv4Network | IPv6Network
Resolver = Callable[[str, int], Awaitable[list[str]]]
"""``(host, port) -> addresses as strings``: the system's DNS, or a test's fake one."""

MAX_URL_LENGTH = 2000
DEFAULT_PORTS = {"http": 80, "https": 443}

# Refused IPv4 networks, most specific first (the first match names the reason). ipaddress'
# own flags (is_global, is_multicast, ...) are checked after these as a backstop, but they
# miss multicast and CGNAT in is_private and change between Python releases: this table is
# the verdict that tests pin down.
REFUSED_IPV4: tuple[tuple[IPv4Network, str], ...] = (
    (IPv4Network("0.0.0.0/8"), "an unspecified address ('this network', RFC 791)"),
    (IPv4Network("10.0.0.0/8"), "a private address (RFC 1918)"),
    # Alibaba Cloud's instance metadata; inside CGNAT, listed first to be named.
    (IPv4Network("100.100.100.200/32"), "a cloud metadata address (Alibaba Cloud)"),
    (IPv4Network("100.64.0.0/10"), "a carrier-grade NAT address (RFC 6598)"),
    (IPv4Network("127.0.0.0/8"), "a loopback address"),
    # AWS, GCP, Azure, OCI and OpenStack instance metadata; inside link-local.
    (IPv4Network("169.254.169.254/32"), "a cloud metadata address"),
    (IPv4Network("169.254.0.0/16"), "a link-local address"),
    # Azure's WireServer: a public address every Azure VM reaches, serving the platform.
    (IPv4Network("168.63.129.16/32"), "a cloud platform address (Azure WireServer)"),
    (IPv4Network("172.16.0.0/12"), "a private address (RFC 1918)"),
    # IETF protocol assignments, including OCI's metadata alias 192.0.0.192.
    (IPv4Network("192.0.0.0/24"), "an IETF protocol assignment (RFC 6890)"),
    (IPv4Network("192.0.2.0/24"), "a documentation address (TEST-NET-1)"),
    (IPv4Network("192.88.99.0/24"), "a 6to4 relay anycast address (RFC 7526)"),
    (IPv4Network("192.168.0.0/16"), "a private address (RFC 1918)"),
    (IPv4Network("198.18.0.0/15"), "a benchmarking address (RFC 2544)"),
    (IPv4Network("198.51.100.0/24"), "a documentation address (TEST-NET-2)"),
    (IPv4Network("203.0.113.0/24"), "a documentation address (TEST-NET-3)"),
    (IPv4Network("224.0.0.0/4"), "a multicast address"),
    (IPv4Network("255.255.255.255/32"), "the broadcast address"),
    (IPv4Network("240.0.0.0/4"), "a reserved address (RFC 1112)"),
)

# Refused IPv6 networks, most specific first. The three forms that carry an IPv4 address
# (EMBEDDING_IPV4 below) are judged by that address before this table is read.
REFUSED_IPV6: tuple[tuple[IPv6Network, str], ...] = (
    (IPv6Network("::/128"), "the unspecified address"),
    (IPv6Network("::1/128"), "the loopback address"),
    # ::a.b.c.d, deprecated (RFC 4291): refused whatever it embeds.
    (IPv6Network("::/96"), "an IPv4-compatible address (deprecated)"),
    (IPv6Network("64:ff9b:1::/48"), "a local-use NAT64 address (RFC 8215)"),
    (IPv6Network("100::/64"), "a discard-only address (RFC 6666)"),
    (IPv6Network("2001::/32"), "a Teredo address"),
    (IPv6Network("2001::/23"), "an IETF protocol assignment (RFC 2928)"),
    (IPv6Network("2001:db8::/32"), "a documentation address"),
    (IPv6Network("3fff::/20"), "a documentation address (RFC 9637)"),
    # AWS's instance metadata over IPv6 (Nitro); inside the unique local range.
    (IPv6Network("fd00:ec2::254/128"), "a cloud metadata address (AWS)"),
    (IPv6Network("fc00::/7"), "a unique local address (RFC 4193)"),
    (IPv6Network("fe80::/10"), "a link-local address"),
    (IPv6Network("fec0::/10"), "a site-local address (deprecated)"),
    (IPv6Network("ff00::/8"), "a multicast address"),
)
# Every public IPv6 unicast address is in 2000::/3; the rest is reserved or unassigned.
GLOBAL_UNICAST_IPV6 = IPv6Network("2000::/3")
NAT64_IPV6 = IPv6Network("64:ff9b::/96")

_HOSTNAME = re.compile(r"[a-z0-9_-]{1,63}(\.[a-z0-9_-]{1,63})*")
# A host whose last label is a number is an IPv4 address (WHATWG URL, and what inet_aton and
# so getaddrinfo make of it), or nothing: never a name to look up.
_NUMERIC_LABEL = re.compile(r"0x[0-9a-f]*|[0-9]+")


class TargetRefused(Exception):
    """A partner URL that may not be called; ``reason`` says why, for people."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class TargetPolicy:
    """What may be called: https only in production; in development (``make run``, tests)
    http too, and the allow-listed hosts (exact names, lowercased) and networks (CIDR, or
    one address) even when they are not public. Entries are parsed once, here."""

    require_https: bool = True
    allowed_hosts: frozenset[str] = frozenset()
    _names: frozenset[str] = field(init=False, repr=False, compare=False)
    _networks: tuple[IPNetwork, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        names, networks = _parse_allowed(self.allowed_hosts)
        object.__setattr__(self, "_names", names)
        object.__setattr__(self, "_networks", networks)

    def allows_name(self, host: str) -> bool:
        return host in self._names

    def allows_address(self, address: IPAddress) -> bool:
        return any(address in network for network in self._networks)


def _parse_allowed(entries: frozenset[str]) -> tuple[frozenset[str], tuple[IPNetwork, ...]]:
    names: set[str] = set()
    networks: list[IPNetwork] = []
    for entry in entries:
        value = entry.strip().lower().removeprefix("[").removesuffix("]")
        try:
            networks.append(ip_network(value))
        except ValueError as exc:
            name = value.removesuffix(".")
            if not _HOSTNAME.fullmatch(name) or _NUMERIC_LABEL.fullmatch(name.rsplit(".")[-1]):
                raise ValueError(f"allowed host {entry!r} is not a name or a network") from exc
            names.add(name)
    return frozenset(names), tuple(networks)


@dataclass(frozen=True)
class ParsedTarget:
    """A URL that passed :func:`check_url`: its parts as they will be sent.

    ``host`` is a lowercased name (no trailing dot) or an address' normal form; ``address``
    is that address when the URL named one; ``target`` is the path and query."""

    scheme: str
    host: str
    port: int
    target: str
    address: IPAddress | None = None

    @property
    def netloc(self) -> str:
        """The Host header: the host, in brackets for IPv6, and the port unless default."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.netloc}{self.target}"


# --- addresses ------------------------------------------------------------------------


def check_address(address: str | IPAddress) -> None:
    """Refuse (:class:`TargetRefused`) any address that is not a public unicast one."""
    parsed = address if isinstance(address, IPv4Address | IPv6Address) else _parse(address)
    what = refusal(parsed)
    if what is not None:
        raise TargetRefused(f"{parsed} is {what}")


def refusal(address: IPAddress) -> str | None:
    """What ``address`` is when it may not be called ("a loopback address"); None if public."""
    return _ipv4_refusal(address) if isinstance(address, IPv4Address) else _ipv6_refusal(address)


def _parse(address: str) -> IPAddress:
    try:
        return ip_address(address)
    except ValueError:
        raise TargetRefused(f"{address!r} is not an IP address") from None


def _ipv4_refusal(address: IPv4Address) -> str | None:
    for network, what in REFUSED_IPV4:
        if address in network:
            return what
    if not address.is_global or address.is_multicast or address.is_reserved:
        return "not a public address"
    return None


def _ipv6_refusal(address: IPv6Address) -> str | None:
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        kind, ipv4 = embedded
        what = _ipv4_refusal(ipv4)
        return None if what is None else f"{kind} for {ipv4}, {what}"
    for network, what in REFUSED_IPV6:
        if address in network:
            return what
    if address not in GLOBAL_UNICAST_IPV6:
        return "a reserved address (outside 2000::/3)"
    if not address.is_global or address.is_multicast:
        return "not a public address"
    return None


def _embedded_ipv4(address: IPv6Address) -> tuple[str, IPv4Address] | None:
    """The IPv4 address an IPv4-mapped, NAT64 (64:ff9b::/96) or 6to4 address reaches."""
    if address.ipv4_mapped is not None:
        return "an IPv4-mapped address", address.ipv4_mapped
    if address in NAT64_IPV6:
        return "a NAT64 address", IPv4Address(int(address) & 0xFFFFFFFF)
    if address.sixtofour is not None:
        return "a 6to4 address", address.sixtofour
    return None


# --- URLs -----------------------------------------------------------------------------


def check_url(url: str, *, policy: TargetPolicy) -> ParsedTarget:
    """Refuse a URL that may not be called, by its text alone (no DNS); else its parts.

    A host that is an IP address, in any encoding, is checked here (unless allow-listed);
    a name is checked by :func:`resolve`."""
    parts = _split(url)
    scheme = _scheme(parts.scheme, policy=policy)
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise TargetRefused("a URL with credentials (user:password@) is not allowed")
    port = _port(parts, scheme)
    host, address = _host(parts)
    if address is not None and not policy.allows_address(address):
        check_address(address)
    target = parts.path or "/"
    if parts.query:
        target = f"{target}?{parts.query}"
    return ParsedTarget(scheme=scheme, host=host, port=port, target=target, address=address)


def _split(url: str) -> SplitResult:
    if len(url) > MAX_URL_LENGTH:
        raise TargetRefused(f"the URL is longer than {MAX_URL_LENGTH} characters")
    if not url.isascii() or not url.isprintable() or " " in url or "\\" in url:
        raise TargetRefused(
            "the URL has spaces, backslashes, control or non-ASCII characters "
            "(a name is written in its xn-- form, a path percent-encoded)"
        )
    if "#" in url:
        raise TargetRefused("a URL with a fragment (#...) is not allowed")
    try:
        return urlsplit(url)
    except ValueError as exc:
        raise TargetRefused(f"the URL cannot be read: {exc}") from None


def _scheme(scheme: str, *, policy: TargetPolicy) -> str:
    if scheme not in DEFAULT_PORTS:
        raise TargetRefused(f"the scheme {scheme or '(none)'!r} is not allowed: use https")
    if scheme == "http" and policy.require_https:
        raise TargetRefused("http is not allowed: use https")
    return scheme


def _port(parts: SplitResult, scheme: str) -> int:
    try:
        port = parts.port
    except ValueError:
        raise TargetRefused("the URL's port is not a number from 1 to 65535") from None
    if port == 0:
        raise TargetRefused("the URL's port is not a number from 1 to 65535")
    return DEFAULT_PORTS[scheme] if port is None else port


def _host(parts: SplitResult) -> tuple[str, IPAddress | None]:
    host = parts.hostname or ""
    if not host:
        raise TargetRefused("the URL has no host")
    if "[" in parts.netloc:
        return _ipv6_literal(host)
    host = host.removesuffix(".")
    if len(host) > 253 or not _HOSTNAME.fullmatch(host):
        raise TargetRefused(f"{host!r} is not a host name")
    address = _ipv4_literal(host)
    return (host, None) if address is None else (str(address), address)


def _ipv6_literal(host: str) -> tuple[str, IPAddress]:
    if "%" in host:
        raise TargetRefused(f"{host!r} has a zone id, which is not allowed")
    try:
        address = IPv6Address(host)
    except ValueError:
        raise TargetRefused(f"{host!r} is not an IPv6 address") from None
    return address.compressed, address


def _ipv4_literal(host: str) -> IPv4Address | None:
    """The address a host ending in a number stands for, as inet_aton reads it (decimal,
    octal with a leading 0, hex with 0x, one to four parts); None for a name."""
    if not _NUMERIC_LABEL.fullmatch(host.rsplit(".", 1)[-1]):
        return None
    try:
        return IPv4Address(socket.inet_aton(host))
    except OSError:
        raise TargetRefused(f"{host!r} ends in a number but is not an IPv4 address") from None


# --- names ----------------------------------------------------------------------------


async def system_resolver(host: str, port: int) -> list[str]:
    """Every address the system's resolver gives for ``host``, IPv4 and IPv6."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


async def resolve(
    target: ParsedTarget, *, policy: TargetPolicy, resolver: Resolver | None = None
) -> list[IPAddress]:
    """The addresses to connect to, each checked: refused when any one of them is not
    public (and not allow-listed), since the resolver may hand out another one next time,
    and refused when there is none (a name that does not resolve cannot be called)."""
    if target.address is not None:
        return [target.address]
    addresses = await _lookup(target.host, target.port, resolver or system_resolver)
    if policy.allows_name(target.host):
        return addresses
    for address in addresses:
        what = None if policy.allows_address(address) else refusal(address)
        if what is not None:
            raise TargetRefused(f"{target.host} resolves to {address}, {what}")
    return addresses


async def _lookup(host: str, port: int, resolver: Resolver) -> list[IPAddress]:
    try:
        names = await resolver(host, port)
    except TimeoutError:
        raise
    except OSError as exc:
        raise TargetRefused(f"{host} does not resolve ({exc})") from None
    addresses = list(dict.fromkeys(_parse(name) for name in names))
    if not addresses:
        raise TargetRefused(f"{host} does not resolve (no address)")
    return addresses


# --- sending --------------------------------------------------------------------------

EXCERPT_BYTES = 4096
PIN = "paddock.webhooks.pin"
"""The request extension :func:`post` sets: the :class:`Pin` the request was checked for."""


@dataclass(frozen=True)
class Pin:
    """The name a request was checked for and the checked address it goes to."""

    host: str
    address: IPAddress


@dataclass(frozen=True)
class Sent:
    """One attempt's answer: status, headers, the first bytes of the body, how long it took."""

    status: int
    headers: dict[str, str]
    excerpt: str
    duration_ms: int


class PinnedTransport(httpx.AsyncBaseTransport):
    """The webhooks client's transport: it sends only what :func:`post` checked and pinned,
    each request to its checked address (the URL's host is that address; TLS SNI,
    certificate verification and Host stay the partner's name), and keeps no idle
    connection, so that a connection verified for one name never carries another's request
    (httpcore pools by address: two names on one address would share one otherwise).

    The pin guards against sending around :func:`post` by mistake; it is not a secret."""

    def __init__(self, *, verify: ssl.SSLContext | bool = True, max_connections: int = 100):
        limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=0)
        self._inner = httpx.AsyncHTTPTransport(verify=verify, limits=limits, trust_env=False)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        pin = request.extensions.get(PIN)
        if not isinstance(pin, Pin) or not _is_pinned(request, pin):
            raise TargetRefused(f"{request.url.host} was not checked: send through targets.post")
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


def _is_pinned(request: httpx.Request, pin: Pin) -> bool:
    try:
        address = ip_address(request.url.host)
    except ValueError:
        return False
    sni = request.extensions.get("sni_hostname")
    return address == pin.address and (request.url.scheme == "http" or sni == pin.host)


def new_client(*, verify: ssl.SSLContext | bool = True) -> httpx.AsyncClient:
    """The client to :func:`post` with: pinned, no proxy from the environment, no redirects,
    no cookie jar (a partner's cookie would go to whoever shares its address)."""
    return httpx.AsyncClient(
        transport=PinnedTransport(verify=verify),
        trust_env=False,
        follow_redirects=False,
        cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])),
        headers={"User-Agent": "Paddock-Webhooks"},
    )


async def post(
    client: httpx.AsyncClient,
    *,
    url: str,
    content: bytes,
    headers: dict[str, str],
    timeout: float,  # noqa: ASYNC109 - one bound for the whole attempt, DNS included
    policy: TargetPolicy,
    resolver: Resolver | None = None,
) -> Sent:
    """POST ``content`` to a partner's ``url``, checked and resolved again now, connecting
    to the first checked address; a redirect is an answer like any other, never followed.

    ``timeout`` bounds the whole attempt (DNS, connect, write, read). Raises
    :class:`TargetRefused` (a name that does not resolve too), :class:`TimeoutError` or an
    :class:`httpx.HTTPError`. Use a client from :func:`new_client`
    (any client still connects to the checked address, but may reuse a connection across
    names that share one)."""
    started = time.monotonic()
    target = check_url(url, policy=policy)
    try:
        async with asyncio.timeout(timeout):
            addresses = await resolve(target, policy=policy, resolver=resolver)
            request = _request(client, target, addresses[0], content, headers, timeout)
            status, answer, excerpt = await _send(client, request)
    except httpx.TimeoutException as exc:
        raise TimeoutError(f"{target.host} did not answer within {timeout} s") from exc
    duration_ms = round((time.monotonic() - started) * 1000)
    return Sent(status=status, headers=answer, excerpt=excerpt, duration_ms=duration_ms)


def _request(
    client: httpx.AsyncClient,
    target: ParsedTarget,
    address: IPAddress,
    content: bytes,
    headers: dict[str, str],
    timeout: float,
) -> httpx.Request:
    """The request to ``address`` itself, for the partner's name (Host header and SNI)."""
    sent_headers = httpx.Headers(headers)
    sent_headers["Host"] = target.netloc
    sent_headers["Accept-Encoding"] = "identity"  # the excerpt is the body's first bytes
    port = None if target.port == DEFAULT_PORTS[target.scheme] else target.port
    pinned_url = httpx.URL(
        scheme=target.scheme, host=address.compressed, port=port, raw_path=target.target.encode()
    )
    return client.build_request(
        "POST",
        pinned_url,
        content=content,
        headers=sent_headers,
        timeout=httpx.Timeout(timeout),
        extensions={"sni_hostname": target.host, PIN: Pin(host=target.host, address=address)},
    )


async def _send(
    client: httpx.AsyncClient, request: httpx.Request
) -> tuple[int, dict[str, str], str]:
    response = await client.send(request, stream=True, follow_redirects=False)
    try:
        kept = bytearray()
        async for chunk in response.aiter_raw():
            kept += chunk[: EXCERPT_BYTES - len(kept)]
            if len(kept) >= EXCERPT_BYTES:
                break
    finally:
        await response.aclose()
    excerpt = kept.decode("utf-8", errors="replace")
    return response.status_code, dict(response.headers.items()), excerpt
