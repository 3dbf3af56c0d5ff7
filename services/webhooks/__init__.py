"""Partners' webhooks: signed deliveries of the community's events, verified inbound reports."""
