"""Events' domain logic, one module per concern; every function takes the request's
session, never commits, and checks authorization per object.

* :mod:`.venues` — clubhouses and outside locations.
* :mod:`.events` — the event lifecycle (draft → approval → published → completed or
  cancelled), edits and browsing.
* :mod:`.signups` — the rush: seats, waitlist, promotion, cancellation.
* :mod:`.draw` — the weighted, provably fair draw of draw-mode events: the seed's
  commitment and reveal, applicants' weights, the allocation and its audit record.
* :mod:`.checkin` — rotating QR tokens and door check-in.
"""
