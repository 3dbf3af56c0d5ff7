"""Secrets at rest: the partners' signing secrets and inbound keys are encrypted with
``WEBHOOKS_SECRETS_KEY`` (Fernet: AES-128-CBC with an HMAC-SHA256 tag, under keys derived
from each comma-separated secret; the first encrypts, all decrypt, so a key is rotated by
putting a new one first), and credentials that are only compared are kept as their SHA-256.
"""

import base64
import hashlib
import hmac
import secrets

from cryptography.fernet import Fernet, MultiFernet

CREDENTIAL_BYTES = 32


class SecretBox:
    """Encrypts and decrypts secrets under the service's keys."""

    def __init__(self, keys: str) -> None:
        self._fernet = MultiFernet([Fernet(_fernet_key(key)) for key in keys.split(",")])

    def seal(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode()).decode()

    def open(self, sealed: str) -> str:
        return self._fernet.decrypt(sealed.encode()).decode()


def new_credential(prefix: str) -> str:
    """A random credential shown once (``pk_...``): only its :func:`digest` is kept."""
    return prefix + secrets.token_urlsafe(CREDENTIAL_BYTES)


def digest(credential: str) -> str:
    return hashlib.sha256(credential.encode()).hexdigest()


def same_digest(credential: str, stored: str) -> bool:
    return hmac.compare_digest(digest(credential), stored)


def _fernet_key(secret: str) -> bytes:
    return base64.urlsafe_b64encode(hashlib.sha256(secret.strip().encode()).digest())
