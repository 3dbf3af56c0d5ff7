"""Date-times in requests: RFC 3339 text only.

pydantic's lax mode reads a number as a Unix timestamp, so ``?from=123`` would mean
1970-01-01T00:02:03Z. :data:`IsoDateTime` accepts only an RFC 3339 date-time with an
offset (``2026-05-01T09:00:00Z``, ``2026-05-01T11:00:00+02:00``), in query parameters and
bodies alike; anything else is a 422.
"""

import re
from datetime import datetime
from typing import Annotated

from pydantic import AwareDatetime, BeforeValidator

RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,6})?([Zz]|[+-]\d{2}:\d{2})", re.ASCII
)


def _rfc3339(value: object) -> object:
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not RFC3339.fullmatch(value):
        raise ValueError("expected an RFC 3339 date-time with an offset, e.g. 2026-05-01T09:00:00Z")
    return value


IsoDateTime = Annotated[AwareDatetime, BeforeValidator(_rfc3339)]
"""An aware date-time given as RFC 3339 text (never a Unix number)."""
