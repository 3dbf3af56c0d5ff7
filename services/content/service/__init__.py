"""Content's domain logic, one module per concern. Functions take the request's session
(keyword-only), never commit, and stage events with :func:`kit.bus.outbox.publish`."""
