"""A minimal app with a health endpoint, on the standard library's http.server."""

from __future__ import annotations

import http.server
import json


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # the name http.server calls
        status = 200 if self.path in ("/", "/health") else 404
        body = json.dumps({"app": "byod", "path": self.path}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def main() -> None:
    http.server.ThreadingHTTPServer(("0.0.0.0", 8000), Handler).serve_forever()


if __name__ == "__main__":
    main()
