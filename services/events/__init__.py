"""Events: venues, community events, rush signups with a waitlist, draws and QR check-in."""
