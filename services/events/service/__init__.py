"""Events' domain logic, one module per concern; every function takes the request's
session, never commits, and checks authorization per object.

* :mod:`.venues` — clubhouses and outside locations.
* :mod:`.events` — the event lifecycle (draft → approval → published → completed or
  cancelled), edits and browsing.
* :mod:`.signups` — the rush: seats, waitlist, promotion, cancellation.
* :mod:`.draw` — the seeded lottery of draw-mode events.
* :mod:`.checkin` — rotating QR tokens, door check-in, check-in lists and offline scans.
* :mod:`.penalties` — no-show penalties: issuing, the signup delay, waiving.
"""
