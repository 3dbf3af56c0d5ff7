"""Referrals: codes, links, leads, the funnel to delivery, attribution, fraud checks."""
