"""The baseline of the event-page line: a plain FastAPI endpoint returning a small JSON."""

from fastapi import FastAPI

app = FastAPI()


@app.get("/hello")
async def hello() -> dict[str, str]:
    return {"hello": "world"}
