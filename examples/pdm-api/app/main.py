"""A plain ASGI app (no framework, uvicorn only): GET /health answers 200; GET / names the app and its version."""

from __future__ import annotations

import json
import typing as t
from importlib.metadata import version

Scope = dict[str, t.Any]
Receive = t.Callable[[], t.Awaitable[dict[str, t.Any]]]
Send = t.Callable[[dict[str, t.Any]], t.Awaitable[None]]


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    routes = {"/health": {"status": "ok"}, "/": {"name": "pdm-api", "version": version("pdm-api")}}
    found = routes.get(scope["path"]) if scope["method"] == "GET" else None
    body = json.dumps(found if found is not None else {"detail": "Not Found"}).encode()
    await send({"type": "http.response.start", "status": 200 if found is not None else 404,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
