"""A loopback HTTP server for the download tests: ``python mirror_server.py ROOT``; prints its port.

``/ok/<file>`` serves ``ROOT/<file>`` (with ``Range`` support), ``/corrupt/<file>`` the same bytes with
a stretch in the middle inverted, ``/truncate/<file>`` only the first half on a request without
``Range`` (then drops the connection), the rest on a ranged one. Every request is logged to stdout.
"""

import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(sys.argv[1])


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's name)
        parts = self.path.strip("/").split("/")
        if len(parts) != 2 or parts[0] not in ("ok", "corrupt", "truncate") or not (ROOT / parts[1]).is_file():
            self.send_error(404)
            return
        mode, data = parts[0], (ROOT / parts[1]).read_bytes()
        if mode == "corrupt":
            mid = len(data) // 2
            data = data[:mid] + bytes(255 - b for b in data[mid:mid + 4096]) + data[mid + 4096:]
        start = 0
        ranged = self.headers.get("Range")
        if ranged and ranged.startswith("bytes="):
            start = int(ranged[6:].split("-")[0])
        print(f"GET {self.path} range={ranged}", flush=True)
        self.send_response(206 if ranged else 200)
        self.send_header("Content-Length", str(len(data) - start))
        if ranged:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.end_headers()
        body = data[start:]
        if mode == "truncate" and not ranged:
            self.wfile.write(body[:len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
