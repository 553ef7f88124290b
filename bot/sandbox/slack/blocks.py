"""Block Kit limits, checked the way Slack checks them, with Slack's error strings.

Pure functions: a list of blocks (or a view) in, a list of problems out, each problem in Slack's
`"<what> [json-pointer:/blocks/0/text/text]"` form as returned in `invalid_blocks` errors.
It covers the limits the bot can run into (counts, lengths, text objects, buttons, selects);
it does not try to be a full schema validator of every element Slack knows.
Called by `web_api` (chat.*, views.*) and `responses` (response_url posts).
"""

from __future__ import annotations

from typing import Any

Json = dict[str, Any]

MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_SECTION_TEXT = 3000
MAX_SECTION_FIELDS = 10
MAX_FIELD_TEXT = 2000
MAX_HEADER_TEXT = 150
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 2000
MAX_ID = 255
MAX_PRIVATE_METADATA = 3000
MAX_VIEW_TITLE = 24
MAX_MARKDOWN_BLOCK_TEXT = 12000
MAX_CONTEXT_ELEMENTS = 10
MAX_ACTIONS_ELEMENTS = 25
MAX_OPTIONS = 100
MAX_OPTION_TEXT = 75
MAX_OPTION_VALUE = 150
MAX_URL = 3000
MAX_MESSAGE_TEXT = 40000
# Measured on Slack (bolt-js issue 2509): a message whose blocks carry about 13,200 characters of
# text in total is refused with msg_blocks_too_long although every single block is within limits.
MAX_COMBINED_BLOCK_TEXT = 13200

BLOCK_TYPES = frozenset(
    {
        "section",
        "divider",
        "header",
        "actions",
        "context",
        "image",
        "input",
        "rich_text",
        "markdown",
        "file",
        "video",
        "call",
    }
)
TEXT_TYPES = frozenset({"plain_text", "mrkdwn"})


def check_message_blocks(blocks: Any) -> list[str]:
    """Problems with the `blocks` of a message (chat.postMessage, chat.update, response_url, acks)."""
    return _check_blocks(blocks, pointer="/blocks", max_blocks=MAX_MESSAGE_BLOCKS)


def check_view(view: Any) -> list[str]:
    """Problems with a modal or home tab view (views.open / views.update / views.push / views.publish)."""
    if not isinstance(view, dict):
        return ["must provide an object [json-pointer:/view]"]
    problems: list[str] = []
    kind = view.get("type")
    if kind not in ("modal", "home"):
        problems.append("must be one of: modal, home [json-pointer:/view/type]")
    if kind == "modal":
        if "title" not in view:
            problems.append("must provide a title [json-pointer:/view/title]")
        for key in ("title", "submit", "close"):
            if key in view:
                problems += _check_text(view[key], f"/view/{key}", max_len=MAX_VIEW_TITLE, plain_only=True)
        has_input = any(isinstance(b, dict) and b.get("type") == "input" for b in view.get("blocks") or [])
        if has_input and "submit" not in view:
            problems.append(
                "must provide a submit button when input blocks are present [json-pointer:/view/submit]"
            )
    for key, limit in (
        ("private_metadata", MAX_PRIVATE_METADATA),
        ("callback_id", MAX_ID),
        ("external_id", MAX_ID),
    ):
        value = view.get(key)
        if value is not None and len(str(value)) > limit:
            problems.append(f"must be less than {limit + 1} characters [json-pointer:/view/{key}]")
    problems += _check_blocks(view.get("blocks"), pointer="/view/blocks", max_blocks=MAX_VIEW_BLOCKS)
    return problems


def combined_text_length(blocks: Any) -> int:
    """Characters of text carried by all blocks (the measure behind msg_blocks_too_long)."""
    total = 0
    stack: list[Any] = [blocks]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, value in item.items():
                if key == "text" and isinstance(value, str):
                    total += len(value)
                else:
                    stack.append(value)
        elif isinstance(item, list):
            stack.extend(item)
    return total


def _check_blocks(blocks: Any, *, pointer: str, max_blocks: int) -> list[str]:
    if blocks is None:
        return []
    if not isinstance(blocks, list):
        return [f"must provide an array [json-pointer:{pointer}]"]
    problems: list[str] = []
    if len(blocks) > max_blocks:
        problems.append(f"no more than {max_blocks} items allowed [json-pointer:{pointer}]")
    seen_ids: set[str] = set()
    for index, block in enumerate(blocks):
        where = f"{pointer}/{index}"
        if not isinstance(block, dict):
            problems.append(f"must provide an object [json-pointer:{where}]")
            continue
        block_id = block.get("block_id")
        if block_id is not None:
            if len(str(block_id)) > MAX_ID:
                problems.append(f"must be less than {MAX_ID + 1} characters [json-pointer:{where}/block_id]")
            if block_id in seen_ids:
                problems.append(f"duplicate block_id [json-pointer:{where}/block_id]")
            seen_ids.add(str(block_id))
        problems += _check_block(block, where)
    return problems


def _check_block(block: Json, where: str) -> list[str]:
    kind = block.get("type")
    if kind not in BLOCK_TYPES:
        return [f"failed to match all allowed schemas [json-pointer:{where}]"]
    problems: list[str] = []
    if kind == "section":
        if "text" not in block and "fields" not in block:
            problems.append(f"must provide either text or fields [json-pointer:{where}]")
        if "text" in block:
            problems += _check_text(block["text"], f"{where}/text", max_len=MAX_SECTION_TEXT)
        fields = block.get("fields")
        if fields is not None:
            if not isinstance(fields, list):
                problems.append(f"must provide an array [json-pointer:{where}/fields]")
            else:
                if len(fields) > MAX_SECTION_FIELDS:
                    problems.append(
                        f"no more than {MAX_SECTION_FIELDS} items allowed [json-pointer:{where}/fields]"
                    )
                for i, item in enumerate(fields):
                    problems += _check_text(item, f"{where}/fields/{i}", max_len=MAX_FIELD_TEXT)
        if "accessory" in block:
            problems += _check_element(block["accessory"], f"{where}/accessory")
    elif kind == "header":
        problems += _check_text(block.get("text"), f"{where}/text", max_len=MAX_HEADER_TEXT, plain_only=True)
    elif kind == "markdown":
        text = block.get("text")
        if not isinstance(text, str) or not text:
            problems.append(f"must provide a string [json-pointer:{where}/text]")
        elif len(text) > MAX_MARKDOWN_BLOCK_TEXT:
            problems.append(
                f"must be less than {MAX_MARKDOWN_BLOCK_TEXT + 1} characters [json-pointer:{where}/text]"
            )
    elif kind in ("context", "actions"):
        limit = MAX_CONTEXT_ELEMENTS if kind == "context" else MAX_ACTIONS_ELEMENTS
        elements = block.get("elements")
        if not isinstance(elements, list) or not elements:
            problems.append(f"must provide a non-empty array [json-pointer:{where}/elements]")
        else:
            if len(elements) > limit:
                problems.append(f"no more than {limit} items allowed [json-pointer:{where}/elements]")
            for i, element in enumerate(elements):
                if kind == "context" and isinstance(element, dict) and element.get("type") in TEXT_TYPES:
                    problems += _check_text(element, f"{where}/elements/{i}", max_len=MAX_SECTION_TEXT)
                elif kind == "actions":
                    problems += _check_element(element, f"{where}/elements/{i}")
    elif kind == "input":
        problems += _check_text(block.get("label"), f"{where}/label", max_len=MAX_FIELD_TEXT, plain_only=True)
        if "element" not in block:
            problems.append(f"must provide an element [json-pointer:{where}/element]")
        else:
            problems += _check_element(block["element"], f"{where}/element")
    elif kind == "image" and not block.get("image_url") and not block.get("slack_file"):
        problems.append(f"must provide image_url or slack_file [json-pointer:{where}]")
    return problems


def _check_text(text: Any, where: str, *, max_len: int, plain_only: bool = False) -> list[str]:
    if not isinstance(text, dict):
        return [f"must provide an object [json-pointer:{where}]"]
    kind = text.get("type")
    allowed = ("plain_text",) if plain_only else tuple(TEXT_TYPES)
    if kind not in allowed:
        return [f"must be one of: {', '.join(allowed)} [json-pointer:{where}/type]"]
    value = text.get("text")
    if not isinstance(value, str) or not value:
        return [f"must be more than 0 characters [json-pointer:{where}/text]"]
    if len(value) > max_len:
        return [f"must be less than {max_len + 1} characters [json-pointer:{where}/text]"]
    return []


def _check_element(element: Any, where: str) -> list[str]:
    if not isinstance(element, dict) or not isinstance(element.get("type"), str):
        return [f"failed to match all allowed schemas [json-pointer:{where}]"]
    problems: list[str] = []
    action_id = element.get("action_id")
    if action_id is not None and len(str(action_id)) > MAX_ID:
        problems.append(f"must be less than {MAX_ID + 1} characters [json-pointer:{where}/action_id]")
    kind = element["type"]
    if kind == "button":
        problems += _check_text(
            element.get("text"), f"{where}/text", max_len=MAX_BUTTON_TEXT, plain_only=True
        )
        value = element.get("value")
        if value is not None and len(str(value)) > MAX_BUTTON_VALUE:
            problems.append(
                f"must be less than {MAX_BUTTON_VALUE + 1} characters [json-pointer:{where}/value]"
            )
        url = element.get("url")
        if url is not None and len(str(url)) > MAX_URL:
            problems.append(f"must be less than {MAX_URL + 1} characters [json-pointer:{where}/url]")
        style = element.get("style")
        if style is not None and style not in ("primary", "danger"):
            problems.append(f"must be one of: primary, danger [json-pointer:{where}/style]")
    elif kind in ("static_select", "overflow", "radio_buttons", "checkboxes", "multi_static_select"):
        options = element.get("options")
        if options is None and "option_groups" in element:
            return problems
        if not isinstance(options, list) or not options:
            return [*problems, f"must provide a non-empty array [json-pointer:{where}/options]"]
        limit = 5 if kind == "overflow" else MAX_OPTIONS
        if len(options) > limit:
            problems.append(f"no more than {limit} items allowed [json-pointer:{where}/options]")
        for i, option in enumerate(options):
            at = f"{where}/options/{i}"
            if not isinstance(option, dict):
                problems.append(f"must provide an object [json-pointer:{at}]")
                continue
            problems += _check_text(option.get("text"), f"{at}/text", max_len=MAX_OPTION_TEXT)
            if len(str(option.get("value", ""))) > MAX_OPTION_VALUE:
                problems.append(
                    f"must be less than {MAX_OPTION_VALUE + 1} characters [json-pointer:{at}/value]"
                )
    elif kind == "plain_text_input":
        max_length = element.get("max_length")
        if max_length is not None and (not isinstance(max_length, int) or not 1 <= max_length <= 3000):
            problems.append(f"must be between 1 and 3000 [json-pointer:{where}/max_length]")
    return problems
