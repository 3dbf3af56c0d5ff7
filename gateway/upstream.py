"""One pooled aiohttp client per upstream service, as a :class:`kit.app.Component`.

The session is created in the app's lifespan with a sized keep-alive pool and explicit
timeouts (connect, total), never decompresses (bodies pass through byte for byte) and
never keeps cookies (one session serves every user). Failures become problem documents:
an upstream that cannot be reached or drops the connection (refused, reset, disconnected:
``ClientConnectorError``, ``ClientOSError``, ``ServerDisconnectedError``; a restarting
service) → 503 with ``Retry-After``, timeout → 504, a malformed answer → 502. Its readiness
check asks the upstream's ``/healthz``, so the gateway's ``/readyz`` shows each upstream.
``docs/adr/0004-gateway-upstream-client.md`` records why aiohttp and not httpx.
"""

from dataclasses import dataclass

import aiohttp
from aiohttp.typedefs import LooseHeaders
from yarl import URL

from kit.problems import Problem

RETRY_AFTER_SECONDS = 2
# The upstream could not be reached, or dropped the connection before answering: a service
# restarting or going away, not a bad answer (``ClientConnectorError`` is a ``ClientOSError``).
UNREACHABLE = (aiohttp.ClientOSError, aiohttp.ServerDisconnectedError)


@dataclass(frozen=True, slots=True)
class UpstreamResponse:
    """An upstream's answer, read whole (Paddock's bodies are small)."""

    status: int
    headers: tuple[tuple[bytes, bytes], ...]
    body: bytes


class UpstreamProblem(Problem):
    """An upstream could not give an answer; says which one."""

    def __init__(
        self,
        upstream: str,
        detail: str,
        *,
        status: int,
        code: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(
            f"{upstream}: {detail}", status=status, code=code, headers=headers, upstream=upstream
        )


class Upstream:
    """A named upstream service and the one pooled client that talks to it."""

    def __init__(
        self,
        name: str,
        base_url: str,
        *,
        connect_timeout: float,
        total_timeout: float,
        pool_size: int,
        keepalive_seconds: float,
    ) -> None:
        self.service = name
        self.name = f"upstream:{name}"
        self.base_url = base_url.rstrip("/")
        self.timeout = aiohttp.ClientTimeout(total=total_timeout, sock_connect=connect_timeout)
        self.pool_size = pool_size
        self.keepalive_seconds = keepalive_seconds
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(
            limit=self.pool_size,
            limit_per_host=self.pool_size,
            keepalive_timeout=self.keepalive_seconds,
            ttl_dns_cache=300,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=self.timeout,
            auto_decompress=False,
            cookie_jar=aiohttp.DummyCookieJar(),
            skip_auto_headers=("User-Agent", "Accept-Encoding"),
        )

    async def stop(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def check(self) -> None:
        response = await self.request("GET", "/healthz")
        if response.status != 200:
            raise RuntimeError(f"/healthz answered {response.status}")

    async def request(
        self,
        method: str,
        target: str,
        *,
        headers: LooseHeaders | None = None,
        body: bytes | None = None,
        max_seconds: float | None = None,
    ) -> UpstreamResponse:
        """Send ``method target`` (path and query, already encoded) and read the answer."""
        assert self._session is not None, "Upstream.start() was not awaited"
        url = URL(self.base_url + target, encoded=True)
        call_timeout = self.timeout
        if max_seconds is not None:
            call_timeout = aiohttp.ClientTimeout(total=max_seconds, sock_connect=max_seconds)
        try:
            async with self._session.request(
                method,
                url,
                headers=headers,
                data=body,
                allow_redirects=False,
                timeout=call_timeout,
            ) as response:
                return UpstreamResponse(
                    response.status, response.raw_headers, await response.read()
                )
        except TimeoutError as exc:
            raise UpstreamProblem(
                self.service, "timed out", status=504, code="upstream-timeout"
            ) from exc
        except UNREACHABLE as exc:
            raise UpstreamProblem(
                self.service,
                "unavailable",
                status=503,
                code="upstream-unavailable",
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            ) from exc
        except aiohttp.ClientError as exc:
            raise UpstreamProblem(
                self.service, f"bad answer ({type(exc).__name__})", status=502, code="bad-gateway"
            ) from exc
