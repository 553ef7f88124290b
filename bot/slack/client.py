"""The bot's Slack Web API client: retries that honour Retry-After, metrics, and typed send helpers.

`slack_sdk.WebClient` retries only connection errors by default, so a 429 would surface as an
exception; here the rate-limit and server-error handlers are switched on explicitly. Every
call is counted by method and outcome for Prometheus. `SlackApiError` never leaves this module:
it becomes `bot.errors.SlackError` / `RateLimited`. This module is the only `slack_sdk` importer
besides the bolt transport.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.web import SlackResponse
from slack_sdk.webhook import WebhookClient

from bot import metrics
from bot.errors import RateLimited, SlackError

log = logging.getLogger(__name__)


class InstrumentedWebClient(WebClient):
    """A WebClient that counts every call by method and outcome (ok, an error code, or ratelimited)."""

    def api_call(self, api_method: str, **kwargs: Any) -> SlackResponse:
        try:
            response = super().api_call(api_method, **kwargs)
        except SlackApiError as exc:
            metrics.SLACK_CALLS.labels(
                method=api_method, status=str(exc.response.get("error", "error"))
            ).inc()
            raise
        except Exception:
            metrics.SLACK_CALLS.labels(method=api_method, status="exception").inc()
            raise
        metrics.SLACK_CALLS.labels(method=api_method, status="ok").inc()
        return response


def build_web_client(
    *,
    token: str,
    base_url: str | None = None,
    max_rate_limit_retries: int = 5,
    logger: logging.Logger | None = None,
) -> WebClient:
    """A WebClient that rides through 429s (sleeping Retry-After), 5xx answers and dropped connections."""
    kwargs: dict[str, Any] = {"token": token, "timeout": 15}
    if logger is not None:
        kwargs["logger"] = logger
    if base_url:
        kwargs["base_url"] = base_url
    client = InstrumentedWebClient(**kwargs)
    client.retry_handlers = [
        ConnectionErrorRetryHandler(max_retry_count=2),
        RateLimitErrorRetryHandler(max_retry_count=max_rate_limit_retries),
        ServerErrorRetryHandler(max_retry_count=2),
    ]
    return client


def _to_error(exc: SlackApiError, method: str) -> SlackError:
    code = str(exc.response.get("error", "unknown_error"))
    if exc.response.status_code == 429:
        retry_after = float(exc.response.headers.get("Retry-After", "1") or 1)
        return RateLimited(f"Slack {method} rate limited", retry_after=retry_after)
    return SlackError(f"Slack {method} failed: {code}", transient=exc.response.status_code >= 500)


class Messenger:
    """Typed send helpers over one WebClient; raises `SlackError`, never `SlackApiError`."""

    def __init__(self, client: WebClient) -> None:
        self.client = client

    def post(
        self,
        *,
        channel: str,
        text: str,
        blocks: Sequence[dict[str, Any]] | None = None,
        thread_ts: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> str:
        """Post a message and return its ts; `metadata` is Slack message metadata."""
        try:
            response = self.client.chat_postMessage(
                channel=channel,
                text=text,
                blocks=list(blocks) if blocks else None,
                thread_ts=thread_ts,
                metadata=dict(metadata) if metadata else None,
            )
        except SlackApiError as exc:
            raise _to_error(exc, "chat.postMessage") from exc
        except SlackClientError as exc:
            raise SlackError(f"Slack chat.postMessage failed: {type(exc).__name__}", transient=True) from exc
        return str(response["ts"])

    def post_ephemeral(
        self,
        *,
        channel: str,
        user: str,
        text: str,
        blocks: Sequence[dict[str, Any]] | None = None,
        thread_ts: str | None = None,
    ) -> None:
        try:
            self.client.chat_postEphemeral(
                channel=channel,
                user=user,
                text=text,
                blocks=list(blocks) if blocks else None,
                thread_ts=thread_ts,
            )
        except SlackApiError as exc:
            raise _to_error(exc, "chat.postEphemeral") from exc
        except SlackClientError as exc:
            raise SlackError(
                f"Slack chat.postEphemeral failed: {type(exc).__name__}", transient=True
            ) from exc

    def update(
        self, *, channel: str, ts: str, text: str, blocks: Sequence[dict[str, Any]] | None = None
    ) -> None:
        try:
            self.client.chat_update(channel=channel, ts=ts, text=text, blocks=list(blocks) if blocks else [])
        except SlackApiError as exc:
            raise _to_error(exc, "chat.update") from exc
        except SlackClientError as exc:
            raise SlackError(f"Slack chat.update failed: {type(exc).__name__}", transient=True) from exc

    def find_by_metadata(
        self,
        *,
        channel: str,
        event_type: str,
        match: Mapping[str, Any],
        thread_ts: str | None = None,
        oldest: str | None = None,
        limit: int = 200,
    ) -> str | None:
        """The ts of the newest message of ours whose metadata has `event_type` and a payload
        containing `match`, or None. Looks at the channel (`conversations.history`) or, for a
        reply, the thread (`conversations.replies`), from `oldest` on, one page of `limit`.
        """
        method = "conversations.replies" if thread_ts else "conversations.history"
        try:
            if thread_ts:
                response = self.client.conversations_replies(
                    channel=channel, ts=thread_ts, oldest=oldest, limit=limit, include_all_metadata=True
                )
            else:
                response = self.client.conversations_history(
                    channel=channel, oldest=oldest, limit=limit, include_all_metadata=True
                )
        except SlackApiError as exc:
            raise _to_error(exc, method) from exc
        except SlackClientError as exc:
            raise SlackError(f"Slack {method} failed: {type(exc).__name__}", transient=True) from exc
        found: list[str] = []
        for message in response.get("messages") or []:
            meta = message.get("metadata") or {}
            payload = meta.get("event_payload") or {}
            if meta.get("event_type") == event_type and all(payload.get(k) == v for k, v in match.items()):
                found.append(str(message["ts"]))
        return max(found, key=float) if found else None

    def open_dm(self, *, user: str) -> str:
        try:
            response = self.client.conversations_open(users=user)
        except SlackApiError as exc:
            raise _to_error(exc, "conversations.open") from exc
        return str(response["channel"]["id"])

    def respond(
        self,
        *,
        response_url: str,
        text: str,
        blocks: Sequence[dict[str, Any]] | None = None,
        in_channel: bool = False,
    ) -> None:
        """Answer through a slash command's response_url (works even where the bot is not a member)."""
        webhook = WebhookClient(response_url, timeout=15)
        try:
            response = webhook.send(
                text=text,
                blocks=list(blocks) if blocks else None,
                response_type="in_channel" if in_channel else "ephemeral",
            )
        except Exception as exc:  # the webhook client raises plain URL/socket errors
            metrics.SLACK_CALLS.labels(method="response_url", status="exception").inc()
            raise SlackError(f"Slack response_url failed: {type(exc).__name__}") from exc
        metrics.SLACK_CALLS.labels(method="response_url", status=str(response.status_code)).inc()
        if response.status_code >= 300:
            raise SlackError(f"Slack response_url answered HTTP {response.status_code}")


def identify(client: WebClient, *, base_url: str | None) -> dict[str, Any]:
    """`auth.test` at start: who the bot is and in which workspace.

    Raises:
        SlackError: Slack refused the token (its error code) or could not be reached; one
            line, never the token.
    """
    # the SDK logs every failed attempt at ERROR; here the one exception says it all
    quiet = logging.getLogger(f"{__name__}.startup")
    quiet.setLevel(logging.CRITICAL)
    probe = build_web_client(token=str(client.token), base_url=base_url, logger=quiet)
    try:
        return dict(probe.auth_test().data)  # type: ignore[arg-type]
    except SlackApiError as exc:
        raise _to_error(exc, "auth.test") from exc
    except (SlackClientError, OSError) as exc:
        where = base_url or "https://slack.com/api/"
        raise SlackError(
            f"cannot reach Slack at {where} ({type(exc).__name__}): is it reachable from here?"
        ) from exc


def call_once(*, token: str, base_url: str | None, method: str) -> dict[str, Any]:
    """One Web API call for `chatops check --connect`, with few retries.

    Raises:
        SlackError: Slack's error code (e.g. `invalid_auth`) or the transport failure, never the token.
    """
    client = build_web_client(token=token, base_url=base_url, max_rate_limit_retries=2)
    try:
        return dict(client.api_call(method).data)  # type: ignore[arg-type]
    except SlackApiError as exc:
        raise _to_error(exc, method) from exc
    except (SlackClientError, OSError) as exc:
        where = base_url or "https://slack.com/api/"
        raise SlackError(f"cannot reach Slack at {where} ({type(exc).__name__})") from exc
