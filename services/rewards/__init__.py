"""Rewards: community value and points — ledgers, rules, check-in, mall, tiers, the club."""
