"""The Socket Mode acker: a small process of its own that holds the connection to Slack and acks.

Why a process: Slack wants every envelope acknowledged within 3 s, and people see the ack as
the command being taken. In the bot's own process the thread that reads the envelope and writes
the ack shares Python's GIL with the command workers, the outbox and the watches; under a burst
of commands it waited for them (measured: ack p99 1 s at 500 commands/s against 10 ms for a bare
bolt app). Here nothing else runs: each envelope is acked as soon as it is read, then handed to
the bot over this process's stdout, one JSON line each, in the order Slack sent them.

Run by `bot.slack.ack_process.AckProcess`, never by hand:

- the app token comes in `SLACK_APP_TOKEN` (removed from the environment once read) and the Web
  API base URL, for the local sandbox, in `CHATOPS_SLACK_API_URL`;
- lines out: `{"kind": "request", ...}` per envelope, `{"kind": "status", "connected": bool}`
  when the connection comes or goes, `{"kind": "failed", "error": ...}` when Slack refused to
  open a connection (then the process exits 2);
- it exits when its stdin closes (the bot stopped or died), so it never outlives the bot.

Acks carry no payload: every listener of the bot acks empty and answers through the Web API or
the `response_url`, so acking here loses nothing the bot would have said in the ack.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import signal
import sys
import threading
import time
from typing import IO, Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse

from bot import redaction
from bot.logsetup import configure_logging
from bot.slack.socket import DEFAULT_PING_INTERVAL, DEFAULT_PING_TIMEOUT, PromptSocketModeClient

log = logging.getLogger(__name__)

TOKEN_VARIABLE = "SLACK_APP_TOKEN"
API_URL_VARIABLE = "CHATOPS_SLACK_API_URL"
STATUS_INTERVAL = 0.2
LIBRARY_LOG = logging.getLogger("slack_sdk.socket_mode.acker")


class LineWriter:
    """Writes JSON lines from its own thread, so a slow reader never delays an ack."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._lines: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="acker-writer", daemon=True)
        self._thread.start()

    def put(self, message: dict[str, Any]) -> None:
        self._lines.put(json.dumps(message, separators=(",", ":")))

    def close(self, timeout: float = 5.0) -> None:
        self._lines.put(None)
        self._thread.join(timeout)

    def _run(self) -> None:
        while (line := self._lines.get()) is not None:
            try:
                self._stream.write(line + "\n")
                if self._lines.empty():
                    self._stream.flush()
            except (BrokenPipeError, ValueError):
                os._exit(0)  # the bot is gone: nobody to hand envelopes to


class AckingSocketModeClient(PromptSocketModeClient):
    """Acks each envelope on the thread that read it, then hands it to the bot.

    The library's client queues every message for a dispatcher thread that hands it to a
    worker pool; here an envelope is acked before any of that, so its ack waits for no other
    thread. Everything else (`hello`, `disconnect`, reconnects) takes the library's own path.
    """

    writer: LineWriter

    def enqueue_message(self, message: str) -> None:
        received = time.perf_counter()
        request = envelope(message)
        if request is None:
            super().enqueue_message(message)
            return
        self.send_socket_mode_response(SocketModeResponse(envelope_id=request.envelope_id))
        self.writer.put(
            {
                "kind": "request",
                "type": request.type,
                "envelope_id": request.envelope_id,
                "payload": request.payload,
                "accepts_response_payload": request.accepts_response_payload,
                "retry_attempt": request.retry_attempt,
                "retry_reason": request.retry_reason,
                "ack_seconds": time.perf_counter() - received,
            }
        )


def envelope(message: str) -> SocketModeRequest | None:
    """The request an envelope carries; None for Slack's own messages (`hello`, `disconnect`)."""
    if not message.startswith("{"):
        return None
    try:
        data = json.loads(message)
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("type") == "disconnect":
        return None
    return SocketModeRequest.from_dict(data)


def report_status(writer: LineWriter, client: PromptSocketModeClient, stop: threading.Event) -> None:
    connected: bool | None = None
    while not stop.wait(STATUS_INTERVAL):
        now = bool(client.is_connected())
        if now != connected:
            connected = now
            writer.put({"kind": "status", "connected": now})


def main() -> int:
    # Ctrl-C in a terminal reaches the whole process group: it is the bot's to handle (it drains
    # its work, then closes our stdin). Taken here too, it would kill the connection mid-drain
    # and print a traceback beside the bot's own shutdown.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    configure_logging(os.environ.get("CHATOPS_LOG_LEVEL", "INFO"))
    token = os.environ.pop(TOKEN_VARIABLE, "")
    redaction.register(token)
    writer = LineWriter(sys.stdout)
    if not token:
        writer.put({"kind": "failed", "error": f"{TOKEN_VARIABLE} is not set"})
        writer.close()
        return 2
    api_url = os.environ.get(API_URL_VARIABLE) or None
    web_client = WebClient(base_url=api_url) if api_url else WebClient()
    client = AckingSocketModeClient(
        app_token=token,
        logger=LIBRARY_LOG,
        web_client=web_client,
        ping_interval=DEFAULT_PING_INTERVAL,
        concurrency=1,
    )
    client.ping_timeout = DEFAULT_PING_TIMEOUT
    client.writer = writer
    try:
        # the library logs a refused token at ERROR before raising; the bot says it in one line
        LIBRARY_LOG.disabled = True
        client.connect()
    except SlackApiError as exc:
        writer.put({"kind": "failed", "error": f"Slack refused the app token: {exc.response.get('error')}"})
        writer.close()
        return 2
    except (SlackClientError, OSError) as exc:
        writer.put({"kind": "failed", "error": f"cannot reach Slack: {type(exc).__name__}: {exc}"})
        writer.close()
        return 2
    finally:
        LIBRARY_LOG.disabled = False
    stop = threading.Event()
    threading.Thread(
        target=report_status, args=(writer, client, stop), name="acker-status", daemon=True
    ).start()
    sys.stdin.read()  # returns when the bot closes our stdin or dies
    stop.set()
    client.close()
    writer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
