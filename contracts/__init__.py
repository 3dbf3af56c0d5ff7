"""The event catalog: every topic, event type and payload schema, in one place.

Services import their payload models from here (never from each other); the
AsyncAPI document in ``contracts/asyncapi.yaml`` is generated from this catalog.
"""
