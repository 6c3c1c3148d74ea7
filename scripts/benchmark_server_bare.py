"""A bare uvicorn + Starlette JSON endpoint: the yardstick of scripts/benchmark_server.py.

Every request, whatever its method and path, has its body parsed as JSON and is
answered 200 with a small JSON object holding a new id (`data` is a string for
/auth/authorize, as the reference server answers), so the benchmark's client runs
unchanged against it. uvicorn is set up as the reference server sets it up (httptools,
asyncio's loop, one worker, no access log, a loopback socket created with IPPROTO_TCP so
TCP_NODELAY is on), so the difference between the two is the reference server's own
work: routing, authentication, rate limiting, schema validation, SQLite and rendering.
`h11` as the argument parses with uvicorn's pure-Python default instead (the yardstick
issue 21 was measured with).

    .venv/bin/python scripts/benchmark_server_bare.py [h11]   # prints "base URL: ..."
"""

from __future__ import annotations

import json
import socket
import sys
import uuid

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

PREFIX = "/api/storefront/v1"


async def endpoint(request: Request) -> JSONResponse:
    raw = await request.body()
    body = json.loads(raw) if raw else None
    if request.url.path.endswith("/auth/authorize"):
        return JSONResponse({"data": "bare-token"})
    return JSONResponse({"data": {"id": str(uuid.uuid4()), "fields": len(body or ())}})


def main() -> int:
    methods = ["GET", "POST", "PUT", "PATCH"]
    app = Starlette(routes=[Route("/{path:path}", endpoint, methods=methods)])
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(2048)  # before the URL is out: uvicorn only listens once it has started
    print(f"base URL: http://127.0.0.1:{sock.getsockname()[1]}{PREFIX}", flush=True)
    http = sys.argv[1] if len(sys.argv) > 1 else "httptools"
    config = uvicorn.Config(
        app, http=http, loop="asyncio", log_level="warning", access_log=False, lifespan="off"
    )
    uvicorn.Server(config).run(sockets=[sock])
    return 0


if __name__ == "__main__":
    sys.exit(main())
