"""Events' domain logic, one module per concern; every function takes the request's
session, never commits, and checks authorization per object.

* :mod:`.venues` — clubhouses and outside locations.
* :mod:`.events` — the event lifecycle (draft → approval → published → completed or
  cancelled), edits and browsing.
* :mod:`.signups` — the rush: seats, waitlist, promotion, cancellation.
* :mod:`.holds` — seats held by waitlist offers: making offers and ending them.
* :mod:`.offers` — waitlist offers as users answer them (accept, decline) and the expiry
  job lapses them.
* :mod:`.jobs` — the scheduled job (``python -m services.events.cli jobs``).
* :mod:`.draw` — the weighted, provably fair draw of draw-mode events: the seed's
  commitment and reveal, applicants' weights, the allocation and its audit record.
* :mod:`.checkin` — rotating QR tokens and door check-in.
* :mod:`.pools` — capacity pools of queue events, their waves and what the page shows.
* :mod:`.tickets` — queue tickets in arrival order: issuing, reading, long-polling.
* :mod:`.allocator` — answers queue tickets strictly in ticket order, in batches.
"""
