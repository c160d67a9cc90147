"""A loopback HTTP server for the download tests: serves a folder on 127.0.0.1 with HTTP Range support, records
every request, and can break a transfer off or ignore ranges on purpose. Never the internet.

    with LoopbackServer(folder) as server:          # server.url: "http://127.0.0.1:PORT"
        server.break_after["mnist/train-images-idx3-ubyte.gz"] = 100   # the next transfer of it stops at 100 bytes
        ...
        server.requests                             # [(path, Range header or None), ...]
"""

from __future__ import annotations

import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class LoopbackServer:
    """A threaded HTTP server of ``root`` on a free loopback port, for use as a context manager."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.requests: list[tuple[str, str | None]] = []
        self.break_after: dict[str, int] = {}  # path -> bytes to send before closing the connection (once)
        self.ignore_range = False  # answer 200 and the whole file even when a Range is asked for
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> LoopbackServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def paths(self) -> list[str]:
        """The paths asked for, in order."""
        return [path for path, _ in self.requests]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # quiet: the tests read server.requests instead
                pass

            def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
                path = self.path.lstrip("/")
                asked = self.headers.get("Range")
                server.requests.append((path, asked))
                file = server.root / path
                if not file.is_file():
                    self.send_error(404, "Not Found")
                    return
                data = file.read_bytes()
                start = 0
                match = re.fullmatch(r"bytes=(\d+)-", asked or "")
                if match and not server.ignore_range:
                    start = int(match.group(1))
                    if start >= len(data):
                        self.send_error(416, "Range Not Satisfiable")
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(data) - start))
                self.end_headers()
                body = data[start:]
                cut = server.break_after.pop(path, None)
                if cut is not None:  # promise the whole body, send part of it, hang up
                    self.wfile.write(body[:cut])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

        return Handler
