"""Import every contract module so that the catalog is complete."""

from contracts import content, events, identity, partners, referrals, rewards, webhooks

MODULES = (content, events, identity, partners, referrals, rewards, webhooks)
