"""Turn what a caller sent (text, blocks, attachments) into message fields, or Slack's refusal.

One place decides `no_text`, `invalid_blocks` (with Slack's `errors` list), `msg_blocks_too_long`
and the 40,000-character text rule, so chat.postMessage, chat.update, chat.postEphemeral,
response_url posts and slash-command ack payloads all behave alike. chat.postMessage truncates long
text as Slack documents; the other paths refuse it with `msg_too_long`.
Not here: where the message goes. Called by `methods_chat` and `responses`.
"""

from __future__ import annotations

from typing import Any

from bot.sandbox.slack import blocks as block_kit
from bot.sandbox.slack.context import ApiError, json_value

Json = dict[str, Any]


def message_content(params: Json, *, truncate: bool, require_content: bool = True) -> Json:
    """Validated `text`/`blocks`/`attachments`/`metadata` fields present in `params`.

    Raises:
        ApiError: no_text, invalid_blocks, invalid_blocks_format, msg_blocks_too_long, msg_too_long.
    """
    content: Json = {}
    text = params.get("text")
    blocks = json_value(params, "blocks") if "blocks" in params else None
    attachments = json_value(params, "attachments") if "attachments" in params else None
    if require_content and not text and not blocks and not attachments:
        raise ApiError("no_text")
    if text is not None:
        text = str(text)
        if len(text) > block_kit.MAX_MESSAGE_TEXT:
            if not truncate:
                raise ApiError("msg_too_long")
            text = text[: block_kit.MAX_MESSAGE_TEXT]
        content["text"] = text
    if "blocks" in params:
        if blocks is not None:
            problems = block_kit.check_message_blocks(blocks)
            if problems:
                raise ApiError("invalid_blocks", errors=problems)
            if block_kit.combined_text_length(blocks) > block_kit.MAX_COMBINED_BLOCK_TEXT:
                raise ApiError("msg_blocks_too_long")
        content["blocks"] = blocks if blocks else None
    if "attachments" in params:
        if attachments is not None and not isinstance(attachments, list):
            raise ApiError("invalid_attachments")
        content["attachments"] = attachments if attachments else None
    metadata = json_value(params, "metadata") if "metadata" in params else None
    if metadata:
        content["metadata"] = metadata
    return content
