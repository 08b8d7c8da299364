from bot.reply.tables import table_lines
from metrics.result import Table


def test_numbers_line_up_on_the_right_and_names_on_the_left_in_either_language():
    table = Table(
        "leaderboard",
        "",
        ("#", "rep", "Revenue", "Win rate"),
        (("1", "Anna Rogers", "691 191 $", "47,3 %"), ("2", "Rob", "$9,000", "n/a")),
    )
    assert table_lines(table) == [
        "#  rep            Revenue  Win rate",
        "1  Anna Rogers  691 191 $    47,3 %",
        "2  Rob             $9,000       n/a",
    ]
