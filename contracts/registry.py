"""Import every contract module so that the catalog is complete."""

from contracts import content, events, identity, partners, referrals, rewards

MODULES = (content, events, identity, partners, referrals, rewards)
