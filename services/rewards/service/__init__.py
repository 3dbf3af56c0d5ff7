"""Rewards' domain logic, one module per concern. Functions take the unit of work's session
(keyword-only), never commit, and move balances only through :mod:`.ledger`."""
