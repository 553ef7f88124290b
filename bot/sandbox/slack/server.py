"""`SlackSandbox`: a local Slack on 127.0.0.1 that slack_sdk and bolt use unchanged.

One threaded HTTP server carries the Web API (`/api/<method>`), response URLs (`/hooks/...`),
file upload URLs (`/upload/...`), the control API (`/_sandbox/...`, with its live event stream
`/_sandbox/events`) and the web page that shows the workspace as a Slack client would (`/`,
`/ui/...`); a second port carries Socket Mode WebSockets. Both use port 0, so any number of
sandboxes can run side by side, and `stop()` joins every thread it started, open streams included.

    with SlackSandbox() as sb:
        client = WebClient(base_url=sb.api_url, token=sb.bot_token)

Not here: what any endpoint does (see `web_api`, `control`, `responses`, `socket_mode`,
`event_stream`, `ui_files`).
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from bot.sandbox.slack import control, event_stream, ui_files
from bot.sandbox.slack.acting import Interactions
from bot.sandbox.slack.context import ApiContext
from bot.sandbox.slack.ratelimits import RateLimiter
from bot.sandbox.slack.responses import ResponseUrls
from bot.sandbox.slack.socket_mode import SocketModeServer
from bot.sandbox.slack.web_api import WebApi
from bot.sandbox.slack.workspace import Channel, Workspace

Json = dict[str, Any]

MAX_BODY_BYTES = 20 * 1024 * 1024

_log = logging.getLogger(__name__)


class SlackSandbox:
    """The whole stand-in: workspace state, Web API, Socket Mode, response URLs and control API."""

    def __init__(
        self,
        *,
        team_id: str = "T0SANDBOX",
        rate_limits: bool = True,
        ack_timeout: float = 3.0,
        bot_user_id: str = "U0SANDBOT",
        bot_id: str = "B0SANDBOT",
        app_id: str = "A0SANDBOX",
        host: str = "127.0.0.1",
        team_name: str = "Sandbox",
        events_keepalive: float = event_stream.DEFAULT_KEEPALIVE_SECONDS,
        port: int = 0,
    ) -> None:
        """`team_name` heads the web page; `events_keepalive` is the idle time before a keep-alive;
        `port` is where the Web API, control API and page listen (0: any free port)."""
        self.team_id = team_id
        self._requested_port = port
        self.team_name = team_name
        self.events_keepalive = events_keepalive
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.app_id = app_id
        self.host = host
        # Fresh fake tokens per sandbox: a bot configured for one sandbox cannot talk to another.
        self.bot_token = (
            f"xoxb-{secrets.randbelow(10**12)}-{secrets.randbelow(10**12)}-{secrets.token_hex(12)}"
        )
        self.app_token = f"xapp-1-{app_id}-{secrets.randbelow(10**12)}-{secrets.token_hex(32)}"
        self.workspace = Workspace(
            team_id=team_id, bot_user_id=bot_user_id, bot_id=bot_id, app_id=app_id, team_name=team_name
        )
        self.limiter = RateLimiter(enabled=rate_limits)
        self.socket_mode = SocketModeServer(app_id=app_id, ack_timeout=ack_timeout, host=host)
        self.responses = ResponseUrls(
            workspace=self.workspace, http_base=self._http_base, on_bot_message=self._bot_message_posted
        )
        self.interactions = Interactions(
            workspace=self.workspace, socket_mode=self.socket_mode, responses=self.responses
        )
        self.web_api = WebApi(
            context=ApiContext(
                workspace=self.workspace,
                socket_mode=self.socket_mode,
                http_base=self._http_base,
                on_bot_message=self._bot_message_posted,
            ),
            limiter=self.limiter,
            bot_token=self.bot_token,
            app_token=self.app_token,
        )
        self._http: ThreadingHTTPServer | None = None
        self._http_thread: threading.Thread | None = None

    # ----------------------------------------------------------------- lifecycle
    def start(self) -> SlackSandbox:
        if self._http is not None:
            return self
        self.socket_mode.start()
        self.workspace.changes.reopen()
        server = ThreadingHTTPServer((self.host, self._requested_port), _make_handler(self))
        server.daemon_threads = False  # server_close() joins request threads: nothing is left behind
        self._http = server
        self._http_thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="slack-sandbox-http",
            daemon=True,
        )
        self._http_thread.start()
        return self

    def stop(self) -> None:
        if self._http is not None:
            self.workspace.changes.close()  # open event streams end, so their threads can be joined
            self._http.shutdown()
            self._http.server_close()
            if self._http_thread is not None:
                self._http_thread.join(timeout=10)
            self._http = None
            self._http_thread = None
        self.socket_mode.stop()

    def __enter__(self) -> SlackSandbox:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # ----------------------------------------------------------------- addresses
    @property
    def port(self) -> int:
        if self._http is None:
            raise RuntimeError("SlackSandbox is not started")
        return int(self._http.server_address[1])

    def _http_base(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def api_url(self) -> str:
        """Web API base for `WebClient(base_url=...)` (ends with a slash, as slack_sdk expects)."""
        return f"{self._http_base()}/api/"

    @property
    def control_url(self) -> str:
        return f"{self._http_base()}/_sandbox/"

    @property
    def web_url(self) -> str:
        """The web page showing the workspace as a Slack client would (open it in a browser)."""
        return f"{self._http_base()}/"

    # ----------------------------------------------------------------- hooks
    def _bot_message_posted(self, channel: Channel, message: Json) -> None:
        self.interactions.bot_message_posted(channel, message)


def _make_handler(sandbox: SlackSandbox) -> type[BaseHTTPRequestHandler]:
    class Handler(_SandboxHandler):
        sb = sandbox

    return Handler


class _SandboxHandler(BaseHTTPRequestHandler):
    """Routes one HTTP request to the Web API, a response URL, an upload URL or the control API."""

    sb: SlackSandbox
    server_version = "SlackSandbox/1"

    def log_message(self, format: str, *args: Any) -> None:
        _log.debug("%s %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _dispatch(self, verb: str) -> None:
        parts = urlsplit(self.path)
        path = unquote(parts.path)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        try:
            raw = self._read_body()
        except ValueError:
            self._send_json(413, {"ok": False, "error": "request_too_large"})
            return
        if path.startswith("/api/"):
            self._web_api(path.removeprefix("/api/"), query, raw)
        elif verb == "GET" and path.rstrip("/") == "/_sandbox/events":
            self._events()
        elif path.startswith("/_sandbox/"):
            body = self._parse_body(raw) if raw else {}
            if not isinstance(body, dict):
                self._send_json(400, {"ok": False, "error": "invalid_json"})
                return
            status, answer = control.handle(
                self.sb,
                verb=verb,
                path="/" + path.removeprefix("/_sandbox/").strip("/"),
                body={**query, **body},
            )
            self._send_json(status, answer)
        elif path.startswith("/hooks/") and verb == "POST":
            self._response_url(path, raw)
        elif path.startswith("/upload/") and verb == "POST":
            self._upload(path, raw)
        elif verb == "GET" and (path == "/" or path.startswith("/ui/")):
            self._ui(ui_files.INDEX if path == "/" else path.removeprefix("/ui/"))
        else:
            self._send_json(404, {"ok": False, "error": "unknown_path"})

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            raise ValueError("body too large")
        return self.rfile.read(length) if length else b""

    def _parse_body(self, raw: bytes) -> Any:
        try:
            return json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return None

    def _web_api(self, method: str, query: dict[str, str], raw: bytes) -> None:
        params: Json = dict(query)
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if raw:
            if content_type == "application/json":
                body = self._parse_body(raw)
                if not isinstance(body, dict):
                    self._send_json(200, {"ok": False, "error": "invalid_json"})
                    return
                params.update(body)
            elif content_type in ("application/x-www-form-urlencoded", ""):
                params.update(dict(parse_qsl(raw.decode("utf-8", errors="replace"), keep_blank_values=True)))
            else:
                self._send_json(200, {"ok": False, "error": "invalid_form_data"})
                return
        token = None
        authorization = self.headers.get("Authorization") or ""
        if authorization.lower().startswith("bearer "):
            token = authorization[7:].strip()
        token = token or params.pop("token", None)
        params.pop("token", None)
        response = self.sb.web_api.call(method, token=token, params=params)
        self._send_json(response.status, response.body, headers=response.headers)

    def _response_url(self, path: str, raw: bytes) -> None:
        # /hooks/<kind>/<team>/<number>/<secret>
        pieces = path.strip("/").split("/")
        if len(pieces) != 5:
            self._send_json(404, {"ok": False, "error": "no_service"})
            return
        body = self._parse_body(raw) if raw else None
        if not isinstance(body, dict):
            self._send_json(400, {"ok": False, "error": "invalid_payload"})
            return
        status, answer = self.sb.responses.post(f"{pieces[3]}/{pieces[4]}", body)
        self._send_json(status, answer)

    def _upload(self, path: str, raw: bytes) -> None:
        pieces = path.strip("/").split("/")
        ws = self.sb.workspace
        with ws.lock:
            stored = ws.files.get(pieces[1]) if len(pieces) == 3 else None
            if stored is None or not secrets.compare_digest(stored["secret"], pieces[2]):
                self._send_text(404, "file_not_found")
                return
            stored["content"] = raw
        self._send_text(200, f"OK - {len(raw)}")

    def _events(self) -> None:
        """Hold this thread for one event stream until the client leaves or the sandbox stops."""
        subscription = self.sb.workspace.changes.subscribe()  # before the hello: no change is missed
        self.close_connection = True
        try:
            self.send_response(200)
            self.send_header("Content-Type", event_stream.CONTENT_TYPE)
            self.send_header("Cache-Control", "no-cache")
            self.send_header("X-Accel-Buffering", "no")  # a buffering proxy would hold events back
            self.end_headers()
            self.connection.settimeout(event_stream.WRITE_TIMEOUT_SECONDS)
            event_stream.serve(
                connection=self.connection,
                write=self.wfile.write,
                subscription=subscription,
                hello={"team_id": self.sb.team_id},
                keepalive=self.sb.events_keepalive,
            )
        except OSError as exc:
            _log.debug("event stream ended: %s", exc)
        finally:
            subscription.close()

    def _ui(self, name: str) -> None:
        found = ui_files.asset(name)
        if found is None:
            self._send_text(404, "not found")
            return
        self.send_response(200)
        self.send_header("Content-Type", found.content_type)
        self.send_header("Content-Length", str(len(found.body)))
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        self.wfile.write(found.body)

    def _send_json(self, status: int, body: Any, *, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _send_text(self, status: int, text: str) -> None:
        data = text.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
