"""The Socket Mode side of the sandbox: a WebSocket server that hands envelopes to the app.

What Slack does, and so what this does: `apps.connections.open` issues a single-use ticket URL;
a connection with a valid ticket gets a `hello`; at most 10 connections per app; every envelope
goes to exactly one connection (round robin here); the app must answer `{"envelope_id": ...}`
within the ack timeout (3 s). An un-acked `events_api` envelope is sent again as a new envelope
with `retry_attempt` 1, 2, 3 and `retry_reason: "timeout"`; an un-acked slash command or
interaction is reported to its sender through `on_timeout` (the user sees an error in Slack).
Forced disconnects: a `disconnect` message (refresh), a close frame, or a TCP drop.
Not here: what is inside an envelope (see `acting`). Owned and started by `server.SlackSandbox`.
"""

from __future__ import annotations

import itertools
import json
import logging
import secrets
import socket
import struct
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.sync.server import Server, ServerConnection, serve

from bot.sandbox.slack.workspace import SlackStateError

Json = dict[str, Any]
AckCallback = Callable[[Json | None], None]
TimeoutCallback = Callable[[str], None]

MAX_CONNECTIONS = 10
MAX_RETRIES = 3
TICKET_TTL_SECONDS = 60.0
CLOSE_TIMEOUT_SECONDS = 2.0
DISCONNECT_MODES = ("refresh", "close", "abrupt")

_log = logging.getLogger(__name__)


@dataclass
class _Envelope:
    envelope_id: str
    type: str
    payload: Json
    accepts_response_payload: bool
    retry_attempt: int
    on_ack: AckCallback | None
    on_timeout: TimeoutCallback | None
    record: Json
    created: float
    deadline: float | None = None
    sent_at: float | None = None
    connection_id: int | None = None

    def to_wire(self) -> Json:
        message: Json = {
            "envelope_id": self.envelope_id,
            "type": self.type,
            "payload": self.payload,
            "accepts_response_payload": self.accepts_response_payload,
        }
        if self.type == "events_api":
            message["retry_attempt"] = self.retry_attempt
            message["retry_reason"] = "timeout" if self.retry_attempt else ""
        return message


@dataclass
class _Connection:
    id: int
    ws: ServerConnection
    draining: bool = False
    opened: float = field(default_factory=time.monotonic)


class SocketModeServer:
    """WebSocket endpoint plus envelope bookkeeping (delivery, acks, timeouts, redelivery)."""

    def __init__(
        self,
        *,
        app_id: str,
        ack_timeout: float = 3.0,
        max_connections: int = MAX_CONNECTIONS,
        host: str = "127.0.0.1",
    ) -> None:
        self.app_id = app_id
        self.ack_timeout = ack_timeout
        self.max_connections = max_connections
        self._host = host
        self._cond = threading.Condition()
        self._tickets: dict[str, float] = {}
        self._connections: dict[int, _Connection] = {}
        self._connection_ids = itertools.count(1)
        self._round_robin = itertools.count()
        self._pending: list[_Envelope] = []
        self._in_flight: dict[str, _Envelope] = {}
        self._timed_out: dict[str, _Envelope] = {}
        self._acks: list[Json] = []
        self._opened_total = 0
        self._stopping = False
        self._server: Server | None = None
        self._threads: list[threading.Thread] = []
        self.port = 0

    # ----------------------------------------------------------------- lifecycle
    def start(self) -> None:
        self._server = serve(
            self._handle,
            self._host,
            0,
            process_request=self._check_ticket,
            close_timeout=CLOSE_TIMEOUT_SECONDS,
            logger=logging.getLogger(f"{__name__}.ws"),
        )
        self.port = self._server.socket.getsockname()[1]
        self._threads = [
            threading.Thread(target=self._server.serve_forever, name="slack-sandbox-ws", daemon=True),
            threading.Thread(target=self._watch_deadlines, name="slack-sandbox-acks", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._server is not None:
            self._server.shutdown()
        for thread in self._threads:
            thread.join(timeout=10)
        self._threads = []

    # ----------------------------------------------------------------- tickets
    def issue_url(self) -> str:
        """A fresh single-use WebSocket URL (what apps.connections.open answers).

        Raises:
            SlackStateError: `too_many_websockets` when the app already holds the maximum.
        """
        with self._cond:
            if len(self._connections) >= self.max_connections:
                raise SlackStateError("too_many_websockets")
            now = time.monotonic()
            for ticket, issued in list(self._tickets.items()):
                if now - issued > TICKET_TTL_SECONDS:
                    del self._tickets[ticket]
            ticket = secrets.token_hex(16)
            self._tickets[ticket] = now
        return f"ws://{self._host}:{self.port}/link/?ticket={ticket}&app_id={self.app_id}"

    def _check_ticket(self, connection: ServerConnection, request: Request) -> Response | None:
        parts = urlsplit(request.path)
        ticket = (parse_qs(parts.query).get("ticket") or [""])[0]
        with self._cond:
            issued = self._tickets.pop(ticket, None)
            if parts.path.rstrip("/") != "/link" or issued is None:
                return connection.respond(401, "invalid or used ticket\n")
            if time.monotonic() - issued > TICKET_TTL_SECONDS:
                return connection.respond(401, "expired ticket\n")
            if len(self._connections) >= self.max_connections:
                return connection.respond(429, "too_many_websockets\n")
        return None

    # ----------------------------------------------------------------- connections
    def _handle(self, ws: ServerConnection) -> None:
        with self._cond:
            connection = _Connection(id=next(self._connection_ids), ws=ws)
            self._connections[connection.id] = connection
            self._opened_total += 1
            count = len(self._connections)
        try:
            ws.send(
                json.dumps(
                    {
                        "type": "hello",
                        "num_connections": count,
                        "debug_info": {
                            "host": "applink-sandbox",
                            "build_number": 1,
                            "approximate_connection_time": 18060,
                        },
                        "connection_info": {"app_id": self.app_id},
                    }
                )
            )
            with self._cond:
                self._cond.notify_all()  # pending envelopes may go out now
            for raw in ws:
                self._on_message(raw)
        except ConnectionClosed:
            pass
        finally:
            with self._cond:
                self._connections.pop(connection.id, None)
                self._cond.notify_all()

    def _on_message(self, raw: str | bytes) -> None:
        try:
            message = json.loads(raw)
        except ValueError:
            _log.warning("ignoring a Socket Mode frame that is not JSON")
            return
        if not isinstance(message, dict) or "envelope_id" not in message:
            return
        self._ack(str(message["envelope_id"]), message.get("payload"))

    def connections(self) -> list[Json]:
        with self._cond:
            return [
                {"id": c.id, "draining": c.draining, "age_s": round(time.monotonic() - c.opened, 3)}
                for c in self._connections.values()
            ]

    @property
    def opened_total(self) -> int:
        """How many connections were ever opened (tests use it to see a reconnect happen)."""
        with self._cond:
            return self._opened_total

    def disconnect(self, mode: str) -> int:
        """Force every live connection down in one of three ways; returns how many were hit.

        `refresh`: send Slack's `{"type":"disconnect","reason":"refresh_requested"}` and stop routing
        envelopes to that connection (the client opens a new one and closes the old).
        `close`: a WebSocket close frame (1001 going away). `abrupt`: drop TCP without a close frame.
        """
        if mode not in DISCONNECT_MODES:
            raise ValueError(f"mode must be one of {', '.join(DISCONNECT_MODES)}")
        with self._cond:
            targets = [c for c in self._connections.values() if not c.draining]
            for connection in targets:
                connection.draining = True
                if mode != "refresh":
                    self._connections.pop(connection.id, None)
        for connection in targets:
            try:
                if mode == "refresh":
                    connection.ws.send(
                        json.dumps(
                            {
                                "type": "disconnect",
                                "reason": "refresh_requested",
                                "debug_info": {"host": "applink-sandbox"},
                            }
                        )
                    )
                elif mode == "close":
                    # Blocks until the client answers the close frame (at most close_timeout).
                    connection.ws.close(code=1001, reason="going away")
                else:
                    # SO_LINGER 0 makes close() send RST: the peer sees the socket die mid-stream.
                    connection.ws.socket.setsockopt(
                        socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                    )
                    connection.ws.close_socket()
            except (ConnectionClosed, OSError):
                pass
        return len(targets)

    # ----------------------------------------------------------------- envelopes
    def dispatch(
        self,
        *,
        type: str,
        payload: Json,
        accepts_response_payload: bool,
        on_ack: AckCallback | None = None,
        on_timeout: TimeoutCallback | None = None,
        retry_attempt: int = 0,
        label: str = "",
    ) -> str:
        """Queue one envelope for delivery and return its envelope_id.

        For slash commands and interactions the ack clock starts now (what the user waits for);
        for events it starts when the envelope is written to a connection.
        """
        now = time.monotonic()
        envelope = _Envelope(
            envelope_id=str(uuid.uuid4()),
            type=type,
            payload=payload,
            accepts_response_payload=accepts_response_payload,
            retry_attempt=retry_attempt,
            on_ack=on_ack,
            on_timeout=on_timeout,
            created=now,
            record={},
        )
        envelope.record.update(
            {
                "envelope_id": envelope.envelope_id,
                "type": type,
                "payload_type": label or payload.get("type") or type,
                "acked": False,
                "latency_ms": None,
                "retry_attempt": retry_attempt,
                "retry_reason": "timeout" if retry_attempt else None,
                "outcome": "pending",
                "response": None,
            }
        )
        if type != "events_api":
            envelope.deadline = now + self.ack_timeout
        with self._cond:
            self._acks.append(envelope.record)
            self._pending.append(envelope)
            self._cond.notify_all()
        self._flush_pending()
        return envelope.envelope_id

    def acks(self) -> list[Json]:
        with self._cond:
            return [dict(record) for record in self._acks]

    def _flush_pending(self) -> None:
        """Write pending envelopes to live connections, one connection per envelope."""
        while True:
            with self._cond:
                live = [c for c in self._connections.values() if not c.draining]
                if not self._pending or not live or self._stopping:
                    return
                envelope = self._pending.pop(0)
                connection = live[next(self._round_robin) % len(live)]
                envelope.connection_id = connection.id
                envelope.sent_at = time.monotonic()
                if envelope.deadline is None:
                    envelope.deadline = envelope.sent_at + self.ack_timeout
                envelope.record["outcome"] = "delivered"
                self._in_flight[envelope.envelope_id] = envelope
                self._cond.notify_all()
            try:
                connection.ws.send(json.dumps(envelope.to_wire()))
            except (ConnectionClosed, OSError):
                with self._cond:
                    # The socket died under us: try another connection (or wait for one).
                    self._in_flight.pop(envelope.envelope_id, None)
                    self._connections.pop(connection.id, None)
                    envelope.record["outcome"] = "pending"
                    self._pending.insert(0, envelope)

    def _ack(self, envelope_id: str, response: Any) -> None:
        now = time.monotonic()
        with self._cond:
            envelope = self._in_flight.pop(envelope_id, None)
            if envelope is None:
                late = self._timed_out.get(envelope_id)
                if late is not None and late.sent_at is not None:
                    late.record["late_ack_ms"] = round((now - late.sent_at) * 1000, 3)
                return
            assert envelope.sent_at is not None
            envelope.record.update(
                {
                    "acked": True,
                    "latency_ms": round((now - envelope.sent_at) * 1000, 3),
                    "outcome": "acked",
                    "response": response if isinstance(response, dict) else None,
                }
            )
        if envelope.on_ack is not None:
            try:
                envelope.on_ack(response if isinstance(response, dict) else None)
            except Exception:
                _log.exception("handling the ack of envelope %s failed", envelope_id)

    def _watch_deadlines(self) -> None:
        """One thread for all ack deadlines, so envelopes need no timer threads of their own."""
        while True:
            with self._cond:
                if self._stopping:
                    return
                flush_needed = bool(self._pending) and any(not c.draining for c in self._connections.values())
                now = time.monotonic()
                expired = [
                    e
                    for e in [*self._in_flight.values(), *self._pending]
                    if e.deadline is not None and e.deadline <= now
                ]
                for envelope in expired:
                    self._in_flight.pop(envelope.envelope_id, None)
                    if envelope in self._pending:
                        self._pending.remove(envelope)
                    self._timed_out[envelope.envelope_id] = envelope
                    envelope.record["outcome"] = "timeout" if envelope.sent_at else "dispatch_failed"
                deadlines = [
                    e.deadline for e in [*self._in_flight.values(), *self._pending] if e.deadline is not None
                ]
                if not expired and not flush_needed:
                    wait = min(deadlines) - now if deadlines else None
                    self._cond.wait(timeout=wait)
                    continue
            if flush_needed:
                self._flush_pending()
            for envelope in expired:
                self._expire(envelope)

    def _expire(self, envelope: _Envelope) -> None:
        if envelope.type == "events_api" and envelope.retry_attempt < MAX_RETRIES:
            self.dispatch(
                type=envelope.type,
                payload=envelope.payload,
                accepts_response_payload=envelope.accepts_response_payload,
                on_ack=envelope.on_ack,
                on_timeout=envelope.on_timeout,
                retry_attempt=envelope.retry_attempt + 1,
                label=envelope.record["payload_type"],
            )
            return
        if envelope.on_timeout is not None:
            try:
                envelope.on_timeout(envelope.record["outcome"])
            except Exception:
                _log.exception("handling the timeout of envelope %s failed", envelope.envelope_id)
