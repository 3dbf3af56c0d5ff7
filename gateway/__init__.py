"""The gateway: Paddock's only public entry.

It routes ``/v1/<area>/...`` by longest path prefix to the owning service over one pooled
aiohttp client per upstream (:mod:`gateway.proxy`, :mod:`gateway.upstream`), verifies
access tokens against identity's JWKS and rate-limits per user and per client IP
(:mod:`gateway.guard`, :mod:`gateway.ratelimit`), propagates ``X-Request-ID`` and W3C
``traceparent`` (:mod:`gateway.tracing`), serves one merged OpenAPI document
(:mod:`gateway.openapi`) and aggregates the app's home screen (:mod:`gateway.aggregate`).
The app factory is :func:`gateway.app.create_app`.
"""
