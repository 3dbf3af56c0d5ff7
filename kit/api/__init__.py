"""The API conventions every service shares, so that no service writes its own:

* :mod:`kit.api.schemas` — ``StrictBody`` (request bodies refuse unknown fields),
  ``PublicModel`` (what responses show) and ``CursorPage[T]``.
* :mod:`kit.api.pagination` — ``?cursor=&limit=`` (``PageDep``) and :class:`Keyset`, which
  pages any query by an ordering over its columns.
* :mod:`kit.api.idempotency` — the ``Idempotency-Key`` header and its replay record.
* :mod:`kit.api.times` — ``IsoDateTime``: date-times as RFC 3339 text, never a Unix number.
* :mod:`kit.api.devices` — the app's ``X-Device-Id`` header and the hash services compare.
"""
