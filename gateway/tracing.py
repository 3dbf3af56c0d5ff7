"""W3C Trace Context (``traceparent``) for requests the gateway forwards.

A valid incoming ``traceparent`` (version ``00``, 32-hex trace id and 16-hex parent id,
neither all zeros, 2-hex flags) keeps its trace id and flags; anything else starts a new
trace. Each upstream call gets a fresh span id as its parent id: the gateway is a hop.
"""

import re
import secrets

TRACEPARENT_HEADER = "traceparent"
_TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")
_ZERO_TRACE = "0" * 32
_ZERO_SPAN = "0" * 16
SAMPLED = "01"


def trace_context(incoming: str | None) -> tuple[str, str]:
    """``(trace_id, flags)`` from a valid incoming ``traceparent``, or a new trace's."""
    if incoming:
        match = _TRACEPARENT.fullmatch(incoming.strip())
        if match and match[1] != _ZERO_TRACE and match[2] != _ZERO_SPAN:
            return match[1], match[3]
    return secrets.token_hex(16), SAMPLED


def child_traceparent(trace_id: str, flags: str) -> str:
    """A ``traceparent`` for one upstream call: same trace, a new span id."""
    return f"00-{trace_id}-{secrets.token_hex(8)}-{flags}"
