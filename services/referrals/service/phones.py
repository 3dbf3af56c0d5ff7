"""Phone numbers as referrals keeps them: parsed and validated by ``phonenumbers``,
written in E.164, compared by their HMAC (``REFERRALS_PHONE_HASH_KEY``) and shown to
staff on the blocklist with the middle digits masked."""

import hashlib
import hmac

import phonenumbers

from kit.problems import Problem

PHONE_INPUT_MAX = 32


class InvalidPhone(Problem):
    status, code = 422, "invalid-phone"

    def __init__(self) -> None:
        super().__init__("not a valid phone number; write it with its country code (+86 ...)")


class PhoneBook:
    """Normalises and hashes phone numbers with one key and one default region."""

    def __init__(self, *, key: bytes, default_region: str) -> None:
        self._key = key
        self._region = default_region

    def normalise(self, raw: str) -> str:
        """``raw`` in E.164 (``+8613800138000``), or :class:`InvalidPhone`."""
        if len(raw) > PHONE_INPUT_MAX:
            raise InvalidPhone()
        try:
            number = phonenumbers.parse(raw, self._region)
        except phonenumbers.NumberParseException as exc:
            raise InvalidPhone() from exc
        if not phonenumbers.is_valid_number(number):
            raise InvalidPhone()
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)

    def hash(self, e164: str) -> str:
        """The number's keyed hash (hex): what duplicate and blocklist checks compare."""
        return hmac.new(self._key, e164.encode(), hashlib.sha256).hexdigest()


def masked(e164: str) -> str:
    """``+8613800138000`` as ``+86138****8000``: enough for staff to recognise it."""
    if len(e164) <= 8:
        return e164[:2] + "*" * (len(e164) - 2)
    return e164[:6] + "*" * (len(e164) - 10) + e164[-4:]
