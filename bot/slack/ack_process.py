"""The bot's side of the Socket Mode acker: start it, read its envelopes, restart it if it dies.

The acker (`bot.slack.acker`) holds the connection and acks; this class runs it as a child
process and feeds each envelope it forwards into the bolt app, whose listeners only parse and
queue (`bot.slack.listeners`). If the acker dies, it is started again (backing off to 30 s),
and `is_connected` says false meanwhile, so `/healthz` shows it. Closing this class closes the
acker's stdin: it closes its connection (Slack routes new envelopes to the other replicas) and
exits; it also exits on its own when the bot dies, because its stdin closes then too.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
from typing import Any

from slack_bolt import App
from slack_bolt.adapter.socket_mode.internals import run_bolt_app
from slack_sdk.socket_mode.request import SocketModeRequest

from bot import metrics
from bot.errors import BotError
from bot.slack.acker import API_URL_VARIABLE, TOKEN_VARIABLE

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 30.0
STOP_TIMEOUT = 5.0
MAX_BACKOFF = 30.0


class AckerFailed(BotError):
    """The acker could not connect to Slack (a refused token, Slack out of reach)."""


class AckProcess:
    """A Socket Mode connection held by a child process; envelopes are dispatched here."""

    def __init__(self, app: App, *, app_token: str, api_url: str | None, log_level: str = "INFO") -> None:
        self._app = app
        self._token = app_token
        self._api_url = api_url
        self._log_level = log_level
        self._lock = threading.Lock()
        self._process: subprocess.Popen[str] | None = None
        self._connected = threading.Event()
        self._failure: str | None = None
        self._settled = threading.Event()  # connected once, or failed
        self._closing = threading.Event()
        self._reader: threading.Thread | None = None
        self.restarts = 0
        self._backoff = 0.0

    # ------------------------------------------------------------------ lifecycle
    def connect(self, timeout: float = CONNECT_TIMEOUT) -> None:
        """Start the acker and wait until it is connected; raise `AckerFailed` if it cannot."""
        self._start()
        if not self._settled.wait(timeout):
            self.close()
            raise AckerFailed(f"no Socket Mode connection to Slack within {timeout:.0f}s")
        if self._failure is not None:
            failure = self._failure
            self.close()
            raise AckerFailed(failure)

    def is_connected(self) -> bool:
        return self._connected.is_set()

    @property
    def pid(self) -> int | None:
        process = self._process
        return process.pid if process is not None else None

    def close(self) -> None:
        """Close the connection (the acker's stdin) and wait for the acker to exit."""
        self._closing.set()
        with self._lock:
            process = self._process
        if process is None:
            return
        try:
            if process.stdin is not None:
                process.stdin.close()
        except OSError:
            pass
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            log.warning("the Socket Mode acker did not stop within %.0fs; killing it", STOP_TIMEOUT)
            process.kill()
            process.wait()
        if self._reader is not None and self._reader is not threading.current_thread():
            self._reader.join(STOP_TIMEOUT)
        self._connected.clear()

    # ------------------------------------------------------------------ internals
    def _start(self) -> None:
        environ = dict(os.environ)
        environ[TOKEN_VARIABLE] = self._token
        environ["CHATOPS_LOG_LEVEL"] = self._log_level
        if self._api_url:
            environ[API_URL_VARIABLE] = self._api_url
        else:
            environ.pop(API_URL_VARIABLE, None)
        process = subprocess.Popen(
            [sys.executable, "-m", "bot.slack.acker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=environ,
            text=True,
            bufsize=1,
        )
        with self._lock:
            self._process = process
        self._reader = threading.Thread(target=self._read, args=(process,), name="acker-reader", daemon=True)
        self._reader.start()

    def _read(self, process: subprocess.Popen[str]) -> None:
        started = time.monotonic()
        assert process.stdout is not None
        for line in process.stdout:
            try:
                message = json.loads(line)
            except ValueError:
                log.warning("the Socket Mode acker wrote a line that is not JSON; ignored")
                continue
            self._handle(message)
        process.wait()
        self._connected.clear()
        if self._closing.is_set() or not self._settled.is_set():
            self._settled.set()  # connect() reports the failure; nothing restarts before it succeeded
            return
        # a long-lived acker starts again at once; one that keeps dying backs off up to 30 s
        self._backoff = (
            0.0 if time.monotonic() - started > MAX_BACKOFF else min(MAX_BACKOFF, max(1.0, self._backoff * 2))
        )
        log.error(
            "the Socket Mode acker exited (code %s); starting it again in %.0fs",
            process.returncode,
            self._backoff,
        )
        if self._closing.wait(self._backoff):
            return
        self.restarts += 1
        try:
            self._start()
        except OSError as exc:
            log.error("cannot start the Socket Mode acker: %s", exc)

    def _handle(self, message: dict[str, Any]) -> None:
        kind = message.get("kind")
        if kind == "request":
            metrics.ACK_SECONDS.observe(float(message.get("ack_seconds") or 0.0))
            self._dispatch(message)
        elif kind == "status":
            if message.get("connected"):
                self._connected.set()
                self._settled.set()
            else:
                self._connected.clear()
        elif kind == "failed" and not self._settled.is_set():
            self._failure = str(message.get("error") or "the Socket Mode connection failed")
        elif kind == "failed":
            log.error("Socket Mode: %s", message.get("error"))

    def _dispatch(self, message: dict[str, Any]) -> None:
        request = SocketModeRequest(
            type=str(message.get("type") or ""),
            envelope_id=str(message.get("envelope_id") or ""),
            payload=message.get("payload") or {},
            accepts_response_payload=bool(message.get("accepts_response_payload")),
            retry_attempt=message.get("retry_attempt"),
            retry_reason=message.get("retry_reason"),
        )
        try:
            run_bolt_app(self._app, request)  # already acked: bolt's answer is not sent anywhere
        except Exception:
            log.exception("dispatching a Slack envelope failed (%s)", request.type)
