"""How a Reply looks in Telegram: escaped HTML, charts as photos with short captions, long text split on lines."""

from __future__ import annotations

import html

from bot.reply.messages import Action, Chart, Reply, Span
from bot.telegram.actions import callback_data, parse_callback
from bot.telegram.render import (
    CAPTION_LIMIT,
    MESSAGE_LIMIT,
    HtmlLine,
    render_reply,
    split_html,
    telegram_length,
)
from metrics.result import Table


def test_every_dynamic_value_is_escaped_and_emphasis_is_html():
    reply = Reply(
        title="Funnel <Alpha & Co>",
        lines=((Span("Leads: "), Span("42", bold=True), Span(" <script>", italic=True)),),
        footer="1–31 Oct · team <Alpha>",
    )
    (text,) = render_reply(reply).texts
    assert text == (
        "<b>Funnel &lt;Alpha &amp; Co&gt;</b>\n"
        "Leads: <b>42</b><i> &lt;script&gt;</i>\n"
        "<i>1–31 Oct · team &lt;Alpha&gt;</i>"
    )


def test_a_table_is_monospaced_with_numbers_lined_up_right():
    table = Table("by_rep", "By rep", ("Rep", "Leads", "MQL %"), (("Rita <R>", 42, 23.8), ("Rob", 7, None)))
    (text,) = render_reply(Reply(table=table)).texts
    assert text == (
        "\n<b>By rep</b>\n"
        "<pre>Rep       Leads  MQL %\n"
        "Rita &lt;R&gt;     42  23.80\n"
        "Rob           7      —</pre>"
    )


def test_a_chart_goes_as_a_photo_with_a_caption_within_1024_characters():
    long_caption = "Funnel " + "x" * 2000
    reply = Reply(
        title="Funnel", lines=((Span("Leads: 42"),),), charts=(Chart("funnel.png", b"PNG", long_caption),)
    )
    rendered = render_reply(reply)
    (photo,) = rendered.photos
    assert photo.png == b"PNG" and photo.filename == "funnel.png"
    assert telegram_length(photo.caption) == CAPTION_LIMIT and photo.caption.endswith("…")
    assert rendered.texts == ("<b>Funnel</b>\nLeads: 42",)
    # Without its own caption, the chart is captioned with the reply's title.
    assert (
        render_reply(Reply(title="A & B", charts=(Chart("c.png", b"PNG"),))).photos[0].caption == "A &amp; B"
    )


def test_a_5000_character_reply_arrives_in_two_messages_cut_between_lines():
    lines = [HtmlLine(f"line {i:03d} " + "a" * 90, "") for i in range(50)]  # 50 lines of 99 characters
    assert sum(len(line.html) + 1 for line in lines) - 1 == 4999
    first, second = split_html(lines)
    # 41 lines take 41 × 99 + 40 newlines = 4099 > 4096, so the first message holds 40 lines (3999 characters).
    assert first.count("\n") == 39 and len(first) == 3999
    assert second.startswith("line 040 ") and len(second) == 10 * 99 + 9
    assert (first + "\n" + second).split("\n") == [line.html for line in lines]


def test_a_long_table_reopens_its_monospaced_block_in_the_next_message():
    lines = [HtmlLine("<b>By rep</b>", "By rep")] + [
        HtmlLine("r" * 99, "r" * 99, pre=True) for i in range(60)
    ]
    messages = split_html(lines)
    assert len(messages) == 2
    assert all(telegram_length(m) <= MESSAGE_LIMIT for m in messages)
    assert messages[0].startswith("<b>By rep</b>\n<pre>") and messages[0].endswith("</pre>")
    assert messages[1].startswith("<pre>") and messages[1].endswith("</pre>")
    assert messages[0].count("r" * 99) + messages[1].count("r" * 99) == 60


def test_one_line_longer_than_a_message_is_cut_as_plain_text_without_breaking_entities():
    plain = "<&>" * 2000  # 6000 characters; escaped, each "<&>" takes 13: 26000 in all
    messages = split_html([HtmlLine(html.escape(plain), plain)])
    assert all(telegram_length(m) <= MESSAGE_LIMIT for m in messages)
    assert "".join(m.replace("\n", "") for m in messages) == "&lt;&amp;&gt;" * 2000
    # 315 triples (4095 characters) fill a message: 6 full messages and 110 triples in a seventh.
    assert [len(m) for m in messages] == [4095] * 6 + [1430]


def test_emoji_count_twice_towards_the_limit():
    assert telegram_length("📈") == 2
    lines = [HtmlLine("📈" * 1000, "")] * 3  # 2000 units each
    assert len(split_html(lines)) == 2


def test_a_button_carries_its_command_when_it_fits_64_bytes(engine):
    from datetime import UTC, datetime

    now = datetime(2026, 11, 20, tzinfo=UTC)
    data = callback_data(engine, "/funnel last month", head_message_id=123, now=now)
    assert data == "a:123:/funnel last month"
    pressed = parse_callback(data)
    assert pressed is not None and pressed.head_message_id == 123 and pressed.command == "/funnel last month"
    # A Russian command is two bytes a letter: it is kept in the database and the button carries its hash.
    russian = "/воронка прошлый месяц по менеджерам"
    data = callback_data(engine, russian, head_message_id=123, now=now)
    assert len(data.encode()) <= 64 and data.startswith("a:123:#")
    from bot.telegram.actions import lookup_command

    pressed = parse_callback(data)
    assert pressed is not None and lookup_command(engine, pressed) == russian
    assert callback_data(engine, russian, head_message_id=123, now=now) == data  # stored once, same button
    assert parse_callback("something else") is None


def test_actions_are_passed_on_for_the_keyboard():
    actions = (Action("Last month", "/funnel last month"),)
    assert render_reply(Reply(title="x", actions=actions)).actions == actions
