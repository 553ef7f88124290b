"""`logs WORKFLOW STEP` shows a log tail as text: no mention, no link, no end of the code block."""

from __future__ import annotations

from bot.render.texts import logs_reply


def test_a_log_tail_cannot_ping_the_channel_or_break_out_of_its_code_block() -> None:
    tail = "step 1 ok\n<!channel> deploy failed, see <https://evil.example|here> & ```rm -rf```\n"
    reply = logs_reply(name="etl-x7k2p", steps=[], urls={}, tail=tail)
    (section,) = reply.sections
    body = section.removeprefix("Last lines:\n```").removesuffix("```")
    assert "<!channel>" not in body and "&lt;!channel&gt;" in body
    assert "<https://" not in body and "&amp;" in body
    assert "```" not in body
