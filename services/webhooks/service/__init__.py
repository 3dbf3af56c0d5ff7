"""Webhooks' domain logic: keyword-only functions on the unit of work's session."""
