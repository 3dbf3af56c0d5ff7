"""Gateway tests: real uvicorn upstreams on loopback, the gateway driven over ASGI."""
