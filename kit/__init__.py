"""What every Paddock service is built from: settings, database, bus, auth, app factory."""
