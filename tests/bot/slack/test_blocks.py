"""A Reply as Block Kit: what Rob sees in Slack for his funnel, with every dynamic text escaped."""

from __future__ import annotations

from bot.reply.messages import Action, Reply, Span
from bot.slack.blocks import (
    MAX_BLOCKS,
    action_buttons,
    escape_mrkdwn,
    fallback_text,
    render_line,
    reply_blocks,
    table_text,
)
from metrics.result import Table
from run_bot import build_registry

NAMES = build_registry().names  # the chat commands, written as `/kpi <command>`

FUNNEL = Reply(
    title="Funnel · Rob <Rep> & Co · October 2026",
    lines=(
        (Span("Leads: ", bold=True), Span("7", bold=True), Span("  ▲ 40.0%")),
        (Span("MQL: "), Span("3", bold=True), Span("  ▲ 1", italic=True)),
        (Span("MQL rate: "), Span("42.9%", bold=True)),
    ),
    table=Table(
        key="by_rep", title="By rep", columns=("Rep", "Leads"), rows=(("Rob <Rep>", 7), ("Rita", 10))
    ),
    actions=(Action("Last month", "/funnel last month"), Action("By rep", "/funnel by rep")),
    footer="Oct 1 – Oct 31, 2026 · Rob <Rep> & Co. Leads that reached each stage.",
)


def test_mrkdwn_control_characters_become_entities_so_no_one_is_pinged():
    assert escape_mrkdwn("<!channel> & <@U123>") == "&lt;!channel&gt; &amp; &lt;@U123&gt;"
    assert escape_mrkdwn("&amp;") == "&amp;amp;"  # text that looks like an entity is shown as typed


def test_emphasis_hugs_the_words_and_leaves_the_spaces_outside():
    line = (
        Span("Leads: ", bold=True),
        Span("7", bold=True),
        Span("  ▲ 1", italic=True),
        Span(" x<y", code=True),
    )
    assert render_line(line, NAMES) == "*Leads:* *7*  _▲ 1_ `x&lt;y`"
    assert render_line((Span("   ", bold=True),), NAMES) == "   "


def test_robs_funnel_is_a_header_a_headline_fields_a_table_a_context_line_and_buttons():
    blocks = reply_blocks(FUNNEL, NAMES)
    assert [b["type"] for b in blocks] == [
        "header",
        "section",
        "section",
        "section",
        "section",
        "context",
        "actions",
    ]
    header, headline, fields, table_title, table, context, actions = blocks
    assert header["text"] == {
        "type": "plain_text",
        "text": "Funnel · Rob <Rep> & Co · October 2026",
        "emoji": True,
    }
    assert headline["text"]["text"] == "*Leads:* *7*  ▲ 40.0%"
    assert [f["text"] for f in fields["fields"]] == ["MQL: *3*  _▲ 1_", "MQL rate: *42.9%*"]
    assert table_title["text"]["text"] == "*By rep*"
    assert table["text"]["text"] == "```\nRep        Leads\nRob &lt;Rep&gt;      7\nRita          10```"
    assert context["elements"][0]["text"] == (
        "Oct 1 – Oct 31, 2026 · Rob &lt;Rep&gt; &amp; Co. Leads that reached each stage."
    )
    assert actions["elements"] == [
        {
            "type": "button",
            "text": {"type": "plain_text", "text": "Last month", "emoji": True},
            "action_id": "kpi_action_0",
            "value": "/funnel last month",
        },
        {
            "type": "button",
            "text": {"type": "plain_text", "text": "By rep", "emoji": True},
            "action_id": "kpi_action_1",
            "value": "/funnel by rep",
        },
    ]


def test_a_mistake_is_plain_text_without_fields():
    reply = Reply(
        lines=((Span("I don't understand the period 'blorp'. Try: /funnel last month"),),), kind="user_error"
    )
    assert reply_blocks(reply, NAMES) == [
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": "I don't understand the period 'blorp'. Try: /kpi funnel last month",
                "verbatim": True,
            },
        }
    ]


def test_an_apology_shows_its_incident_id_when_the_text_does_not():
    reply = Reply(lines=((Span("Sorry, something went wrong."),),), kind="failure", incident_id="ab12cd34")
    assert reply_blocks(reply, NAMES)[-1] == {
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": "`#ab12cd34`", "verbatim": True}],
    }


def test_slack_limits_are_kept():
    long_title = "T" * 200
    lines = tuple((Span(f"Line {i}: "), Span(str(i), bold=True)) for i in range(25))
    rows = tuple((f"rep-{i:03d}", i) for i in range(2000))
    reply = Reply(
        title=long_title,
        lines=lines,
        table=Table(key="t", title="", columns=("Rep", "Leads"), rows=rows),
        actions=tuple(Action(f"Button {'x' * 80}", f"/funnel {i}") for i in range(3))
        + (Action("Too long", "/" + "x" * 2001),),
        footer="footer",
    )
    blocks = reply_blocks(reply, NAMES)
    assert len(blocks) <= MAX_BLOCKS
    assert len(blocks[0]["text"]["text"]) == 150 and blocks[0]["text"]["text"].endswith("…")
    assert [len(b["fields"]) for b in blocks if "fields" in b] == [10, 10, 4]
    assert all(len(b["text"]["text"]) <= 3000 for b in blocks if b["type"] == "section" and "text" in b)
    assert blocks[-2]["type"] == "context" and blocks[-2]["elements"][0]["text"] == "footer"  # kept when cut
    buttons = blocks[-1]["elements"]
    assert len(buttons) == 3  # the 2001-character command cannot travel in a button value
    assert all(len(b["text"]["text"]) == 75 for b in buttons)
    assert reply_blocks(reply, NAMES, with_actions=False)[-1]["type"] == "context"


def test_buttons_come_in_rows_of_at_most_25():
    rows = action_buttons([Action(str(i), f"/funnel {i}") for i in range(30)])
    assert [len(r["elements"]) for r in rows] == [25, 5]
    assert rows[1]["elements"][0]["action_id"] == "kpi_action_25"


def test_numbers_line_up_in_tables_and_the_notification_text_is_escaped():
    table = Table(key="t", title="", columns=("Rep", "Win rate"), rows=(("Rita", 0.5), ("Rob", None)))
    assert table_text(table) == ["Rep   Win rate", "Rita      0.50", "Rob          —"]
    assert fallback_text(Reply(title="A <b>", lines=((Span("x & y"),),))) == "A &lt;b&gt;\nx &amp; y"


def test_commands_in_replies_are_written_the_way_slack_users_type_them():
    from bot.slack.blocks import as_kpi_commands

    text = "I don't understand the period 'blorp'. Try: /funnel last month (or /help, not /etc/passwd or 1/2)"
    assert as_kpi_commands(text, NAMES) == (
        "I don't understand the period 'blorp'. Try: /kpi funnel last month (or /kpi help, not /etc/passwd or 1/2)"
    )
