"""Identity's domain logic, one module per concern. Every function takes the unit of work's
session (keyword-only, ``async def f(*, session, ...)``) and never commits: a refusal whose
cause must stay recorded is raised with ``commit=True`` (see :mod:`kit.db`).

* :mod:`.accounts` — registration, profiles, account deletion.
* :mod:`.sessions` — login, refresh-token rotation, logout.
* :mod:`.throttle` — login throttling per account and client, known devices.
* :mod:`.roles` — who holds which role, grants and revocations, the first admin.
* :mod:`.vehicles` — vehicles submitted by users and their verification (owners).

Events name their actor (the user whose action caused them); staff and admin actions are
also written to the audit record (:mod:`kit.audit`) in the same unit of work.
"""
