"""Prometheus metrics every service exports on ``/metrics``.

Metric objects live here, once per process; each carries a ``service`` label so that
several apps in one test process do not collide.
"""

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import Response

HTTP_REQUESTS = Counter(
    "paddock_http_requests_total",
    "HTTP requests handled",
    ["service", "method", "route", "status"],
)
HTTP_LATENCY = Histogram(
    "paddock_http_request_duration_seconds",
    "HTTP request latency",
    ["service", "method", "route"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
OUTBOX_BACKLOG = Gauge(
    "paddock_outbox_backlog", "Outbox rows committed but not yet published", ["service"]
)
OUTBOX_OLDEST_AGE = Gauge(
    "paddock_outbox_oldest_age_seconds",
    "Age of the oldest outbox row not yet published (0 when none waits)",
    ["service"],
)
OUTBOX_PUBLISHED = Counter(
    "paddock_outbox_published_total", "Outbox rows published to Kafka", ["service", "topic"]
)
CONSUMER_LAG = Gauge(
    "paddock_consumer_lag",
    "Records behind the partition end, per partition this replica owns",
    ["service", "consumer", "topic", "partition"],
)
CONSUMER_EVENTS = Counter(
    "paddock_consumer_events_total",
    "Events handled by consumers, by outcome",
    ["service", "consumer", "outcome"],
)
COMPONENT_UP = Gauge(
    "paddock_component_up", "1 when a dependency answered its last check", ["service", "component"]
)


async def metrics_endpoint(_: Request) -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
