"""Uvicorn's floor for the static rows: a bare ASGI app that sends, byte for byte, the answers the
app gave (recorded by benchmarks/app.py in the JSON file FLOOR_ANSWERS names), gzip or plain by
the request's Accept-Encoding. No front, no WhiteNoise, no Django: what is left is Uvicorn's
own work per request, which no app under it can go below."""

import base64
import json
import os

with open(os.environ["FLOOR_ANSWERS"]) as file:
    ANSWERS = {
        encoding: (
            [(name.encode(), value.encode()) for name, value in answer["headers"]],
            base64.b64decode(answer["body"]),
        )
        for encoding, answer in json.load(file).items()
    }


async def app(scope, receive, send):
    if scope["type"] != "http":  # lifespan: nothing to start
        return
    accepted = dict(scope["headers"]).get(b"accept-encoding", b"")
    headers, body = ANSWERS["gzip" if b"gzip" in accepted else "plain"]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})
