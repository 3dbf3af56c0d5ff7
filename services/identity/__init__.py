"""Identity: users, sessions (access and refresh tokens), roles and vehicles.

Identity signs the access tokens every other service verifies through its JWKS, owns
who is a fan, owner, volunteer, staff or admin, and publishes account lifecycle events
on ``identity.users``.
"""
