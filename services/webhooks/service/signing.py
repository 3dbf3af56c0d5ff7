"""Standard Webhooks signatures: signing what webhooks sends, verifying what partners send.

The signed content is ``{webhook-id}.{webhook-timestamp}.{body}``. ``v1,`` is its
HMAC-SHA256 under a ``whsec_`` secret (base64 after the prefix); ``v1a,`` its Ed25519
signature, whose public key partners read from the key set (``/v1/webhook-keys``). A message
signed by several keys (during a secret rotation) carries every signature, space-separated,
and a receiver accepts it when one of them verifies.
"""

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.webhooks.models import Signing

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32


class SignatureRefused(Exception):
    """An inbound message whose headers or signature do not verify; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class SigningKey:
    """A key that signs deliveries: an HMAC secret (``whsec_...``) or an Ed25519 seed."""

    kind: Signing
    secret: str

    def sign(self, content: bytes) -> str:
        if self.kind == Signing.HMAC:
            digest = hmac.new(_hmac_key(self.secret), content, hashlib.sha256).digest()
            return f"v1,{base64.b64encode(digest).decode()}"
        private = Ed25519PrivateKey.from_private_bytes(base64.b64decode(self.secret))
        return f"v1a,{base64.b64encode(private.sign(content)).decode()}"


def new_hmac_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def new_ed25519_seed() -> tuple[str, str]:
    """A fresh Ed25519 key: (the private seed, base64; the public key, base64url unpadded)."""
    private = Ed25519PrivateKey.generate()
    seed = private.private_bytes_raw()
    public = private.public_key().public_bytes_raw()
    return base64.b64encode(seed).decode(), base64.urlsafe_b64encode(public).decode().rstrip("=")


def signed_content(message_id: str, timestamp: int, body: bytes) -> bytes:
    return f"{message_id}.{timestamp}.".encode() + body


def signature_header(
    keys: list[SigningKey], *, message_id: str, timestamp: int, body: bytes
) -> str:
    content = signed_content(message_id, timestamp, body)
    return " ".join(key.sign(content) for key in keys)


def verify(
    *, secret: str, headers: dict[str, str], body: bytes, now: datetime, tolerance_seconds: int
) -> str:
    """Check an inbound message signed with the partner's ``whsec_`` secret and return its
    ``webhook-id``; raise :class:`SignatureRefused` for missing headers, a timestamp outside
    the tolerance (old or new) or no matching ``v1`` signature (compared in constant time)."""
    message_id = headers.get("webhook-id", "")
    timestamp_text = headers.get("webhook-timestamp", "")
    signatures = headers.get("webhook-signature", "")
    if not (message_id and timestamp_text and signatures):
        raise SignatureRefused("webhook-id, webhook-timestamp and webhook-signature are required")
    if not timestamp_text.isdigit():
        raise SignatureRefused("webhook-timestamp is not a number of seconds")
    if abs(now.timestamp() - int(timestamp_text)) > tolerance_seconds:
        raise SignatureRefused("webhook-timestamp is too old or too new")
    expected = SigningKey(Signing.HMAC, secret).sign(
        signed_content(message_id, int(timestamp_text), body)
    )
    matched = False
    for candidate in signatures.split(" "):
        matched |= hmac.compare_digest(candidate.encode(), expected.encode())
    if not matched:
        raise SignatureRefused("no webhook-signature matches")
    return message_id


def _hmac_key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))
