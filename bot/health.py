"""HTTP endpoints for the kubelet and Prometheus: /healthz, /readyz and /metrics.

/healthz answers 200 while the process runs its loop (liveness); /readyz answers 200 only when
every readiness check passes (Socket Mode connected, database reachable), otherwise 503 with the
failing checks named, so `kubectl describe pod` tells an SRE what is wrong.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

log = logging.getLogger(__name__)

Check = Callable[[], bool]


class HealthServer:
    def __init__(self, *, host: str, port: int, checks: Mapping[str, Check]) -> None:
        self._checks = dict(checks)
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/healthz":
                    self._send(200, "text/plain", b"ok\n")
                elif path == "/readyz":
                    failing = server.failing_checks()
                    body = json.dumps({"ready": not failing, "failing": failing}).encode()
                    self._send(503 if failing else 200, "application/json", body)
                elif path == "/metrics":
                    self._send(200, CONTENT_TYPE_LATEST, generate_latest())
                else:
                    self._send(404, "text/plain", b"not found\n")

            def _send(self, status: int, content_type: str, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                return  # probes every few seconds would drown the log

        self._httpd = ThreadingHTTPServer((host, port), Handler)
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    def failing_checks(self) -> list[str]:
        failing = []
        for name, check in self._checks.items():
            try:
                ok = check()
            except Exception:
                log.debug("readiness check %s raised", name, exc_info=True)
                ok = False
            if not ok:
                failing.append(name)
        return failing

    def start(self) -> None:
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="health-http", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
