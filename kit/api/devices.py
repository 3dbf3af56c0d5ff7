"""The app's ``X-Device-Id`` header, read the same way by every service that reads it:
identity (login throttling, the registering device) and referrals (self-referral by
device). Only the id's SHA-256 (:func:`device_hash`) is kept or announced."""

import hashlib
from typing import Any

from fastapi import Header

DEVICE_ID_PATTERN = r"^[A-Za-z0-9._:-]{8,128}$"


def device_id_header(description: str) -> Any:
    """The optional ``X-Device-Id`` header (use as ``Annotated[str | None, ...] = None``)."""
    return Header(alias="X-Device-Id", pattern=DEVICE_ID_PATTERN, description=description)


def device_hash(device_id: str | None) -> str | None:
    """SHA-256 (hex) of a device id, as ``identity.user.registered.v1`` announces it."""
    return hashlib.sha256(device_id.encode()).hexdigest() if device_id else None
