"""Route table, public rules, trace context, response headers and rate-limit counters."""

from datetime import UTC, datetime

from gateway import ratelimit
from gateway.config import GatewaySettings
from gateway.proxy import downstream_headers
from gateway.routing import PublicRoutes, RouteTable
from gateway.tracing import child_traceparent, trace_context
from gateway.upstream import UpstreamResponse
from kit.testing.clock import FakeClock


def test_longest_prefix_wins_on_segment_boundaries() -> None:
    table = RouteTable({"/v1/me": "identity", "/v1/me/wallet": "rewards", "/v1/events": "events"})
    assert table.owner("/v1/me") == "identity"
    assert table.owner("/v1/me/") == "identity"
    assert table.owner("/v1/me/vehicles/1") == "identity"
    assert table.owner("/v1/me/wallet/history") == "rewards"
    assert table.owner("/v1/meow") is None
    assert table.owner("/v1") is None
    assert table.owner("/") is None


def test_routes_to_services_without_a_url_are_off() -> None:
    settings = GatewaySettings(upstreams={"identity": "http://127.0.0.1:8001"})
    assert set(settings.routes.values()) == {"identity"}
    assert "/v1/events" not in settings.routes
    both = GatewaySettings(
        upstreams={"identity": "http://127.0.0.1:8001", "events": "http://127.0.0.1:8002"}
    )
    assert both.routes["/v1/me/signups"] == "events"
    assert RouteTable(both.routes).owner("/v1/me/signups") == "events"
    assert RouteTable(both.routes).owner("/v1/me/vehicles") == "identity"


def test_public_rules_by_method_and_prefix() -> None:
    public = PublicRoutes(["/v1/auth", "GET /v1/users"])
    assert public.allows("POST", "/v1/auth/login")
    assert public.allows("GET", "/v1/users/123")
    assert public.allows("HEAD", "/v1/users/123")
    assert not public.allows("PATCH", "/v1/users/123")
    assert not public.allows("GET", "/v1/authx")
    assert not public.allows("GET", "/v1/me")


def test_content_reads_are_public_but_the_home_feed_and_writes_are_not() -> None:
    settings = GatewaySettings(
        upstreams={"identity": "http://127.0.0.1:8001", "content": "http://127.0.0.1:8003"}
    )
    table, public = RouteTable(settings.routes), PublicRoutes(settings.public_routes)
    for path in ("/v1/posts/1", "/v1/feed", "/v1/me/bookmarks", "/v1/moderation/queue"):
        assert table.owner(path) == "content", path
    assert table.owner("/v1/me") == "identity"
    for path in ("/v1/posts/1", "/v1/feed/trending", "/v1/feed/cities/Oslo", "/v1/search"):
        assert public.allows("GET", path), path
    assert not public.allows("GET", "/v1/feed"), "the home feed is the caller's own"
    assert not public.allows("GET", "/v1/feedback")
    assert not public.allows("POST", "/v1/posts")
    assert not public.allows("GET", "/v1/me/bookmarks")
    assert not public.allows("GET", "/v1/reports")


def test_rewards_catalogues_are_public_but_balances_and_orders_are_not() -> None:
    settings = GatewaySettings(
        upstreams={"identity": "http://127.0.0.1:8001", "rewards": "http://127.0.0.1:8004"}
    )
    table, public = RouteTable(settings.routes), PublicRoutes(settings.public_routes)
    for path in (
        "/v1/me/wallet",
        "/v1/me/ledger",
        "/v1/me/expiring",
        "/v1/me/checkins",
        "/v1/me/gifts",
        "/v1/me/orders/1/cancel",
        "/v1/me/tier",
        "/v1/me/rank",
        "/v1/mall/items/1",
        "/v1/rewards/rules",
        "/v1/rewards/tiers",
        "/v1/leaderboards/value",
        "/v1/club",
    ):
        assert table.owner(path) == "rewards", path
    assert table.owner("/v1/me") == "identity"
    assert table.owner("/v1/me/walletx") == "identity"
    for path in ("/v1/mall/items", "/v1/rewards/tiers", "/v1/leaderboards/value", "/v1/club"):
        assert public.allows("GET", path), path
    assert not public.allows("GET", "/v1/me/wallet")
    assert not public.allows("GET", "/v1/mall/orders")
    assert not public.allows("POST", "/v1/mall/items")
    assert not public.allows("GET", "/v1/rewards/rules")
    assert not public.allows("GET", "/v1/me/rank")


def test_a_share_link_and_its_form_are_public_but_a_referrers_own_and_staff_are_not() -> None:
    settings = GatewaySettings(
        upstreams={"identity": "http://127.0.0.1:8001", "referrals": "http://127.0.0.1:8005"}
    )
    table, public = RouteTable(settings.routes), PublicRoutes(settings.public_routes)
    for path in (
        "/v1/me/referral-code",
        "/v1/me/referrals",
        "/v1/me/referrals/summary",
        "/v1/me/referrer",
        "/v1/referrals",
        "/v1/referral-codes/FAN7Q2",
        "/v1/referrals/leads",
        "/v1/referral-blocklist/1",
        "/v1/referrals/leads/1/personal-data",
    ):
        assert table.owner(path) == "referrals", path
    assert table.owner("/v1/me") == "identity"
    assert table.owner("/v1/me/referrers") == "identity"
    assert public.allows("GET", "/v1/referral-codes/FAN7Q2")
    assert public.allows("POST", "/v1/referrals/leads")
    assert not public.allows("GET", "/v1/referrals/leads")
    assert not public.allows("DELETE", "/v1/referrals/leads/1/personal-data")
    assert not public.allows("POST", "/v1/referral-codes/FAN7Q2")
    for path in ("/v1/referrals", "/v1/referrals/1", "/v1/referral-blocklist"):
        assert not public.allows("GET", path), path
    for path in ("/v1/me/referral-code", "/v1/me/referrals/summary", "/v1/me/referrer"):
        assert not public.allows("GET", path), path


def test_partners_reach_event_types_keys_inbound_and_portal_without_a_token_admins_not() -> None:
    settings = GatewaySettings(
        upstreams={"identity": "http://127.0.0.1:8001", "webhooks": "http://127.0.0.1:8006"}
    )
    table, public = RouteTable(settings.routes), PublicRoutes(settings.public_routes)
    for path in (
        "/v1/partner-apps",
        "/v1/partner-apps/1/rotate-credentials",
        "/v1/webhook-endpoints/1/deliveries",
        "/v1/webhook-messages/msg_1/attempts",
        "/v1/webhook-event-types",
        "/v1/webhook-keys",
        "/v1/partners/inbound/dealer-1",
        "/v1/partners/portal",
        "/v1/partners/portal/endpoints/1",
    ):
        assert table.owner(path) == "webhooks", path
    assert table.owner("/v1/partner-appsx") is None
    assert table.owner("/v1/me") == "identity"
    for method, path in (
        ("GET", "/v1/webhook-event-types"),
        ("HEAD", "/v1/webhook-event-types"),
        ("GET", "/v1/webhook-event-types/events.signup.created.v1"),
        ("GET", "/v1/webhook-keys"),
        ("POST", "/v1/partners/inbound/dealer-1"),
        # the portal is HTML with its own cookie session and form posts: every method
        ("GET", "/v1/partners/portal"),
        ("GET", "/v1/partners/portal/login"),
        ("POST", "/v1/partners/portal/login"),
        ("POST", "/v1/partners/portal/endpoints/1/rotate-secret"),
    ):
        assert public.allows(method, path), (method, path)
    for method, path in (
        ("POST", "/v1/webhook-event-types"),
        ("POST", "/v1/webhook-keys"),
        ("GET", "/v1/partners/inbound/dealer-1"),
        ("GET", "/v1/partners"),
        ("GET", "/v1/partners/portalx"),
        ("GET", "/v1/partner-apps"),
        ("POST", "/v1/partner-apps"),
        ("PATCH", "/v1/partner-apps/1"),
        ("GET", "/v1/webhook-endpoints"),
        ("POST", "/v1/webhook-endpoints/1/replay"),
        ("GET", "/v1/webhook-messages/msg_1"),
        ("POST", "/v1/webhook-messages/msg_1/replay"),
    ):
        assert not public.allows(method, path), (method, path)


def test_trace_context_keeps_valid_and_replaces_invalid() -> None:
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    assert trace_context(f"00-{trace}-00f067aa0ba902b7-00") == (trace, "00")
    for bad in [
        None,
        "",
        f"01-{trace}-00f067aa0ba902b7-01",
        f"00-{'0' * 32}-00f067aa0ba902b7-01",
        f"00-{trace}-{'0' * 16}-01",
        f"00-{trace.upper()}-00f067aa0ba902b7-01",
    ]:
        new_trace, flags = trace_context(bad)
        assert new_trace != trace
        assert len(new_trace) == 32
        assert flags == "01"
    first, second = child_traceparent(trace, "01"), child_traceparent(trace, "01")
    assert first != second
    assert first.startswith(f"00-{trace}-")


def test_downstream_headers_drop_hop_by_hop_and_fix_length() -> None:
    response = UpstreamResponse(
        200,
        (
            (b"Content-Type", b"application/json"),
            (b"Connection", b"keep-alive, X-Hop"),
            (b"X-Hop", b"1"),
            (b"Transfer-Encoding", b"chunked"),
            (b"Proxy-Authenticate", b"Basic"),
            (b"Set-Cookie", b"a=1"),
            (b"Set-Cookie", b"b=2"),
            (b"Date", b"yesterday"),
            (b"X-Request-ID", b"abc"),
        ),
        b"{}",
    )
    assert downstream_headers(response, head=False) == [
        (b"content-type", b"application/json"),
        (b"set-cookie", b"a=1"),
        (b"set-cookie", b"b=2"),
        (b"content-length", b"2"),
    ]


async def test_window_counters_expire_and_sweep() -> None:
    clock = FakeClock(datetime.fromtimestamp(1000.0, UTC))
    counters = ratelimit.WindowCounters(clock)
    assert await counters.incr("a", 1) == 1
    assert await counters.incr("a", 1) == 2
    assert await counters.get_expiry("a") == 1001.0
    clock.advance(1)
    assert await counters.get("a") == 0
    assert await counters.incr("a", 1) == 1
    await counters.incr("b", 1)
    clock.advance(ratelimit.SWEEP_SECONDS)
    await counters.incr("c", 60)
    assert set(counters._counts) == {"c"}
