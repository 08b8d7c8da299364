"""Period words as a rep types them, turned into local-time periods; comparisons; working days.

Unless a test says otherwise the rep is in Berlin and asks on Wednesday 2026-11-18 at 10:00. By hand:
November 2026 starts on a Sunday; Monday 2026-11-16 opens ISO week 47; Berlin leaves summer time on
Sunday 2026-10-25 (03:00 CEST becomes 02:00 CET), so that day is 25 hours long.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from metrics.periods import (
    Period,
    day_period,
    elapsed_working_share,
    extract_period,
    is_working_day,
    iter_buckets,
    month_period,
    parse_period,
    parse_plan_period,
    plan_periods_covering,
    quarter_period,
    range_period,
    remaining_working_days,
    week_period,
    working_days,
    year_period,
)
from storage.errors import UserError

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 11, 18, 10, 0, tzinfo=BERLIN)


def parse(text: str, now: datetime = NOW, tz: ZoneInfo = BERLIN) -> Period:
    return parse_period(text, now=now, tz=tz)


def days_of(period: Period) -> tuple[str, str]:
    """First and last local day, both included, the way a rep reads a period."""
    return period.start_date.isoformat(), period.last_date.isoformat()


# (what the rep types, first day, last day, canonical label, key)
ENGLISH = [
    ("today", "2026-11-18", "2026-11-18", "today", "2026-11-18"),
    ("yesterday", "2026-11-17", "2026-11-17", "yesterday", "2026-11-17"),
    ("this week", "2026-11-16", "2026-11-22", "this week", "2026-W47"),
    ("last week", "2026-11-09", "2026-11-15", "last week", "2026-W46"),
    ("this month", "2026-11-01", "2026-11-30", "this month", "2026-11"),
    ("last month", "2026-10-01", "2026-10-31", "last month", "2026-10"),
    ("this quarter", "2026-10-01", "2026-12-31", "this quarter", "2026-Q4"),
    ("last quarter", "2026-07-01", "2026-09-30", "last quarter", "2026-Q3"),
    ("this year", "2026-01-01", "2026-12-31", "this year", "2026"),
    ("last year", "2025-01-01", "2025-12-31", "last year", "2025"),
    ("ytd", "2026-01-01", "2026-11-18", "ytd", "2026-01-01..2026-11-18"),
    ("last 7 days", "2026-11-12", "2026-11-18", "last 7 days", "2026-11-12..2026-11-18"),
    ("last 30 days", "2026-10-20", "2026-11-18", "last 30 days", "2026-10-20..2026-11-18"),
    ("last 90 days", "2026-08-21", "2026-11-18", "last 90 days", "2026-08-21..2026-11-18"),
    ("last 2 weeks", "2026-11-05", "2026-11-18", "last 2 weeks", "2026-11-05..2026-11-18"),
    ("2026-10", "2026-10-01", "2026-10-31", "2026-10", "2026-10"),
    ("2026-Q3", "2026-07-01", "2026-09-30", "2026-Q3", "2026-Q3"),
    ("Q3", "2026-07-01", "2026-09-30", "2026-Q3", "2026-Q3"),
    ("q1 2025", "2025-01-01", "2025-03-31", "2025-Q1", "2025-Q1"),
    ("2026", "2026-01-01", "2026-12-31", "2026", "2026"),
    (
        "2026-10-01..2026-10-15",
        "2026-10-01",
        "2026-10-15",
        "2026-10-01..2026-10-15",
        "2026-10-01..2026-10-15",
    ),
    (
        "from 2026-10-01 to 2026-10-15",
        "2026-10-01",
        "2026-10-15",
        "2026-10-01..2026-10-15",
        "2026-10-01..2026-10-15",
    ),
    ("2026-10..2026-12", "2026-10-01", "2026-12-31", "2026-10-01..2026-12-31", "2026-10-01..2026-12-31"),
    ("2026-10-05", "2026-10-05", "2026-10-05", "2026-10-05", "2026-10-05"),
    ("october", "2026-10-01", "2026-10-31", "2026-10", "2026-10"),
    # December has not come yet this year, so a rep asking about "december" means last December.
    ("December", "2025-12-01", "2025-12-31", "2025-12", "2025-12"),
    ("oct 2025", "2025-10-01", "2025-10-31", "2025-10", "2025-10"),
    # "last <month>" is the latest such month already over: October just gone, but November a year ago.
    ("last october", "2026-10-01", "2026-10-31", "2026-10", "2026-10"),
    ("last november", "2025-11-01", "2025-11-30", "2025-11", "2025-11"),
    ("in november", "2026-11-01", "2026-11-30", "2026-11", "2026-11"),
]

RUSSIAN = [
    ("сегодня", "2026-11-18", "2026-11-18", "today"),
    ("вчера", "2026-11-17", "2026-11-17", "yesterday"),
    ("эта неделя", "2026-11-16", "2026-11-22", "this week"),
    ("эту неделю", "2026-11-16", "2026-11-22", "this week"),
    ("на этой неделе", "2026-11-16", "2026-11-22", "this week"),
    ("прошлая неделя", "2026-11-09", "2026-11-15", "last week"),
    ("прошлую неделю", "2026-11-09", "2026-11-15", "last week"),
    ("на прошлой неделе", "2026-11-09", "2026-11-15", "last week"),
    ("этот месяц", "2026-11-01", "2026-11-30", "this month"),
    ("в этом месяце", "2026-11-01", "2026-11-30", "this month"),
    ("прошлый месяц", "2026-10-01", "2026-10-31", "last month"),
    ("В прошлом Месяце", "2026-10-01", "2026-10-31", "last month"),
    ("за прошлый месяц", "2026-10-01", "2026-10-31", "last month"),
    ("этот квартал", "2026-10-01", "2026-12-31", "this quarter"),
    ("прошлый квартал", "2026-07-01", "2026-09-30", "last quarter"),
    ("в прошлом квартале", "2026-07-01", "2026-09-30", "last quarter"),
    ("этот год", "2026-01-01", "2026-12-31", "this year"),
    ("в этом году", "2026-01-01", "2026-12-31", "this year"),
    ("прошлый год", "2025-01-01", "2025-12-31", "last year"),
    ("с начала года", "2026-01-01", "2026-11-18", "ytd"),
    ("последние 7 дней", "2026-11-12", "2026-11-18", "last 7 days"),
    ("за последние 30 дней", "2026-10-20", "2026-11-18", "last 30 days"),
    ("за 30 дней", "2026-10-20", "2026-11-18", "last 30 days"),
    ("октябрь", "2026-10-01", "2026-10-31", "2026-10"),
    ("в октябре", "2026-10-01", "2026-10-31", "2026-10"),
    ("октябрь 2025", "2025-10-01", "2025-10-31", "2025-10"),
    ("3 квартал 2025 года", "2025-07-01", "2025-09-30", "2025-Q3"),
    ("2025 год", "2025-01-01", "2025-12-31", "2025"),
    ("с 01.10.2026 по 15.10.2026", "2026-10-01", "2026-10-15", "2026-10-01..2026-10-15"),
]


@pytest.mark.parametrize(("text", "first", "last", "label", "key"), ENGLISH)
def test_english_period_words(text, first, last, label, key):
    period = parse(text)
    assert days_of(period) == (first, last)
    assert period.label == label
    assert period.key == key
    assert period.tz == BERLIN


@pytest.mark.parametrize(("text", "first", "last", "label"), RUSSIAN)
def test_russian_period_words_in_their_inflected_forms(text, first, last, label):
    period = parse(text)
    assert days_of(period) == (first, last)
    assert period.label == label


def test_a_command_without_a_period_means_this_month():
    assert parse("").key == "2026-11"
    assert parse("   ").label == "this month"


def test_a_range_includes_both_its_days():
    period = parse("2026-10-01..2026-10-15")
    assert period.days == 15
    assert period.contains(datetime(2026, 10, 15, 23, 59, tzinfo=BERLIN))
    assert not period.contains(datetime(2026, 10, 16, 0, 0, tzinfo=BERLIN))
    assert parse("2026-10-01 .. 2026-10-15") == period
    assert parse("2026-10-07..2026-10-07").days == 1


def test_weeks_start_on_monday_whatever_day_the_rep_asks():
    sunday = datetime(2026, 11, 22, 21, 0, tzinfo=BERLIN)
    monday = datetime(2026, 11, 23, 8, 0, tzinfo=BERLIN)
    assert days_of(parse("this week", now=sunday)) == ("2026-11-16", "2026-11-22")
    assert days_of(parse("this week", now=monday)) == ("2026-11-23", "2026-11-29")
    assert days_of(parse("last week", now=monday)) == ("2026-11-16", "2026-11-22")
    assert parse("this week", now=monday).start.weekday() == 0


def test_a_day_and_a_week_across_berlins_autumn_dst_change_have_the_right_utc_boundaries():
    day = parse("2026-10-25")
    assert day.start_utc == datetime(2026, 10, 24, 22, 0)  # midnight CEST, UTC+2
    assert day.end_utc == datetime(2026, 10, 25, 23, 0)  # midnight CET, UTC+1
    assert day.end - day.start == timedelta(hours=24)  # wall clock, which is why SQL must use the UTC form
    assert day.end_utc - day.start_utc == timedelta(hours=25)
    assert day.days == 1

    week = week_period(date(2026, 10, 21), BERLIN)
    assert (week.start_utc, week.end_utc) == (datetime(2026, 10, 18, 22, 0), datetime(2026, 10, 25, 23, 0))
    october = parse("2026-10")
    assert (october.start_utc, october.end_utc) == (
        datetime(2026, 9, 30, 22, 0),
        datetime(2026, 10, 31, 23, 0),
    )


def test_the_repeated_hour_of_the_dst_change_belongs_to_the_25th():
    day = parse("2026-10-25")
    # 02:30 happens twice that night; both are on the 25th.
    assert day.contains(datetime(2026, 10, 25, 0, 30, tzinfo=UTC))
    assert day.contains(datetime(2026, 10, 25, 1, 30, tzinfo=UTC))
    assert day.contains(datetime(2026, 10, 25, 22, 59))  # naive means UTC, as in the store
    assert not day.contains(datetime(2026, 10, 25, 23, 0))
    assert not day.contains(datetime(2026, 10, 24, 21, 59))


def test_last_month_depends_on_where_the_rep_is():
    # 02:00 UTC on March 1st is already March in Moscow but still February evening in New York.
    now = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)
    moscow = parse("last month", now=now, tz=ZoneInfo("Europe/Moscow"))
    new_york = parse("last month", now=now, tz=ZoneInfo("America/New_York"))
    assert moscow.key == "2026-02"
    assert (moscow.start_utc, moscow.end_utc) == (datetime(2026, 1, 31, 21, 0), datetime(2026, 2, 28, 21, 0))
    assert new_york.key == "2026-01"
    assert (new_york.start_utc, new_york.end_utc) == (datetime(2026, 1, 1, 5, 0), datetime(2026, 2, 1, 5, 0))


def test_last_month_on_the_31st_of_march_in_utc_plus_3_and_utc_minus_5():
    now = datetime(2026, 3, 31, 22, 0, tzinfo=UTC)  # April 1st 01:00 at UTC+3, March 31st 17:00 at UTC-5
    plus_3 = parse("last month", now=now, tz=ZoneInfo("Etc/GMT-3"))
    minus_5 = parse("last month", now=now, tz=ZoneInfo("Etc/GMT+5"))
    assert days_of(plus_3) == ("2026-03-01", "2026-03-31")
    assert plus_3.start_utc == datetime(2026, 2, 28, 21, 0)
    assert days_of(minus_5) == ("2026-02-01", "2026-02-28")
    assert minus_5.end_utc == datetime(2026, 3, 1, 5, 0)


def test_vs_prev_compares_with_the_period_of_equal_length_just_before():
    assert parse("this month").previous().key == "2026-10"
    assert parse("2026-01").previous().key == "2025-12"
    assert parse("2026-Q1").previous().key == "2025-Q4"
    assert parse("this week").previous().key == "2026-W46"
    assert parse("today").previous().key == "2026-11-17"
    assert parse("2026").previous().key == "2025"
    thirty = parse("last 30 days").previous()
    assert days_of(thirty) == ("2026-09-20", "2026-10-19")
    assert thirty.days == 30 and thirty.grain == "days"
    custom = parse("2026-10-01..2026-10-15").previous()
    assert days_of(custom) == ("2026-09-16", "2026-09-30")


def test_vs_year_compares_with_the_same_period_a_year_earlier():
    assert parse("this month").year_ago().key == "2025-11"
    assert parse("this quarter").year_ago().key == "2025-Q4"
    last_year_week = parse("this week").year_ago()
    assert last_year_week.key == "2025-W47"
    assert days_of(last_year_week) == ("2025-11-17", "2025-11-23")
    assert days_of(parse("last 30 days").year_ago()) == ("2025-10-20", "2025-11-18")
    # 2026 has an ISO week 53, 2025 has none: the last week of 2025 stands in.
    assert week_period(date(2026, 12, 30), BERLIN).year_ago().key == "2025-W52"


def test_leap_day_comparisons():
    leap_day = day_period(date(2028, 2, 29), BERLIN)
    assert leap_day.year_ago().key == "2027-02-28"
    assert leap_day.previous().key == "2028-02-28"
    february = month_period(date(2028, 3, 1), BERLIN).previous()
    assert (february.key, february.days) == ("2028-02", 29)
    assert (february.year_ago().key, february.year_ago().days) == ("2027-02", 28)
    # 30 days ending March 10th 2028 start on February 10th; a year earlier the same dates span 29 days.
    rolling = parse("last 30 days", now=datetime(2028, 3, 10, 12, 0, tzinfo=BERLIN))
    assert days_of(rolling) == ("2028-02-10", "2028-03-10")
    assert days_of(rolling.year_ago()) == ("2027-02-10", "2027-03-10")
    assert rolling.year_ago().days == 29


def test_a_mistyped_period_names_the_word_that_is_wrong():
    with pytest.raises(UserError) as caught:
        parse("last blorp")
    assert caught.value.key == "period.unknown"
    assert caught.value.params == {"text": "blorp"}
    assert str(caught.value) == "I don't understand the period 'blorp'"


@pytest.mark.parametrize(
    ("text", "offending"),
    [
        ("2026-13", "2026-13"),
        ("Q5", "Q5"),
        ("2026-02-30", "2026-02-30"),
        ("прошлый блорп", "блорп"),
        ("blorp", "blorp"),
        ("last month please", "please"),
        ("last", "last"),
        ("last 0 days", "0 days"),
    ],
)
def test_other_mistyped_periods(text, offending):
    with pytest.raises(UserError) as caught:
        parse(text)
    assert (caught.value.key, caught.value.params) == ("period.unknown", {"text": offending})


def test_a_range_that_ends_before_it_starts():
    with pytest.raises(UserError) as caught:
        parse("2026-10-15..2026-10-01")
    assert caught.value.key == "period.range"
    assert caught.value.params == {"text": "2026-10-15..2026-10-01"}


def test_now_must_carry_its_time_zone():
    with pytest.raises(ValueError):
        parse("today", now=datetime(2026, 11, 18, 10, 0))


def extract(text: str) -> tuple[str | None, list[str]]:
    period, rest = extract_period(text.split(), now=NOW, tz=BERLIN)
    return (period.key if period else None), rest


def test_extract_period_finds_the_period_anywhere_among_the_command_words():
    assert extract("by rep last month vs prev") == ("2026-10", ["by", "rep", "vs", "prev"])
    assert extract("team Alpha за прошлый месяц by source") == ("2026-10", ["team", "Alpha", "by", "source"])
    assert extract("vs year 2026-Q3 org") == ("2026-Q3", ["vs", "year", "org"])
    assert extract("last 7 days by rep") == ("2026-11-12..2026-11-18", ["by", "rep"])
    assert extract("@rita на этой неделе") == ("2026-W47", ["@rita"])


def test_extract_period_takes_the_longest_expression():
    # "q3 2025" is one period, not Q3 of this year followed by a stray "2025".
    assert extract("q3 2025 by rep") == ("2025-Q3", ["by", "rep"])
    assert extract("from 2026-10-01 to 2026-10-15 by week") == ("2026-10-01..2026-10-15", ["by", "week"])


def test_extract_period_leaves_words_that_are_no_period_alone():
    assert extract("by rep vs prev") == (None, ["by", "rep", "vs", "prev"])
    assert extract("") == (None, [])
    # A count after "last" may belong to another argument (plan dynamics over the last 6 periods).
    assert extract("dynamics last 6") == (None, ["dynamics", "last", "6"])
    assert extract("threshold 500") == (None, ["threshold", "500"])
    # A rep called Jan is not January; the month with a year or a full name is.
    assert extract("Jan by source") == (None, ["Jan", "by", "source"])
    assert extract("Jan 2026 by source") == ("2026-01", ["by", "source"])
    assert extract("last jan") == ("2026-01", [])


def test_extract_period_rejects_words_clearly_meant_as_a_period():
    for words, offending in [("by rep last blorp", "blorp"), ("team Q5", "Q5"), ("2026-13 org", "2026-13")]:
        with pytest.raises(UserError) as caught:
            extract(words)
        assert caught.value.params == {"text": offending}


def test_plan_periods_are_months_quarters_and_years():
    assert parse_plan_period("2026-11", BERLIN) == month_period(date(2026, 11, 1), BERLIN)
    assert parse_plan_period("2026-Q4", BERLIN) == quarter_period(date(2026, 10, 1), BERLIN)
    assert parse_plan_period("2026", BERLIN) == year_period(2026, BERLIN)
    for bad in ("2026-13", "2026-Q5", "november", "last month"):
        with pytest.raises(UserError):
            parse_plan_period(bad, BERLIN)


def test_plan_periods_covering_a_period_finest_first():
    assert plan_periods_covering(parse("last week")) == ("2026-11", "2026-Q4", "2026")
    assert plan_periods_covering(parse("this quarter")) == ("2026-Q4", "2026")
    # The week of Monday October 26th runs into November: only the quarter and the year contain it.
    assert plan_periods_covering(week_period(date(2026, 10, 26), BERLIN)) == ("2026-Q4", "2026")
    assert plan_periods_covering(range_period(date(2026, 12, 20), date(2027, 1, 5), BERLIN)) == ()


def test_november_by_week_for_a_chart():
    buckets = list(iter_buckets(parse("2026-11"), "week"))
    # Sunday Nov 1st closes week 44; Monday Nov 30th opens week 49.
    assert [b.label for b in buckets] == [
        "2026-W44",
        "2026-W45",
        "2026-W46",
        "2026-W47",
        "2026-W48",
        "2026-W49",
    ]
    assert [b.days for b in buckets] == [1, 7, 7, 7, 7, 1]
    assert buckets[0].start == parse("2026-11").start and buckets[-1].end == parse("2026-11").end


def test_buckets_by_month_and_by_day_across_the_dst_change():
    assert [b.label for b in iter_buckets(parse("2026-Q4"), "month")] == ["2026-10", "2026-11", "2026-12"]
    october_days = list(iter_buckets(parse("2026-10"), "day"))
    assert len(october_days) == 31
    dst_day = october_days[24]
    assert dst_day.label == "2026-10-25"
    assert dst_day.end_utc - dst_day.start_utc == timedelta(hours=25)


# November 2026 has 21 weekdays; Wednesday the 11th is a holiday and Saturday the 14th one that costs nothing.
HOLIDAYS = [date(2026, 11, 11), date(2026, 11, 14)]
NOVEMBER = month_period(date(2026, 11, 1), BERLIN)


def test_working_days_of_november_2026():
    assert working_days(date(2026, 11, 1), date(2026, 12, 1)) == 21
    assert working_days(date(2026, 11, 1), date(2026, 12, 1), HOLIDAYS) == 20
    assert working_days(date(2026, 11, 16), date(2026, 11, 16)) == 0
    assert working_days(date(2026, 11, 20), date(2026, 11, 23)) == 1  # Friday, then the weekend
    assert not is_working_day(date(2026, 11, 11), HOLIDAYS)
    assert not is_working_day(date(2026, 11, 14), HOLIDAYS)
    assert is_working_day(date(2026, 11, 12), HOLIDAYS)


def test_elapsed_share_counts_only_days_that_are_over():
    # Wednesday the 18th at 10:00: Nov 2-6 (5), 9-13 minus the 11th (4), 16-17 (2) are over = 11 of 20.
    assert elapsed_working_share(NOVEMBER, NOW, HOLIDAYS) == pytest.approx(11 / 20)
    # Half past midnight in Berlin is still the evening before in UTC; the 17th is over all the same.
    assert elapsed_working_share(NOVEMBER, datetime(2026, 11, 17, 23, 30, tzinfo=UTC), HOLIDAYS) == 11 / 20
    assert elapsed_working_share(NOVEMBER, datetime(2026, 11, 30, 23, 59, tzinfo=BERLIN), HOLIDAYS) == 19 / 20
    assert elapsed_working_share(NOVEMBER, datetime(2026, 12, 1, 0, 0, tzinfo=BERLIN), HOLIDAYS) == 1.0
    assert elapsed_working_share(NOVEMBER, datetime(2026, 10, 20, tzinfo=BERLIN), HOLIDAYS) == 0.0
    assert elapsed_working_share(NOVEMBER, datetime(2026, 11, 2, 18, 0, tzinfo=BERLIN), HOLIDAYS) == 0.0


def test_remaining_working_days_include_today():
    # Nov 18-20 (3), 23-27 (5), 30 (1).
    assert remaining_working_days(NOVEMBER, NOW, HOLIDAYS) == 9
    assert remaining_working_days(NOVEMBER, datetime(2026, 10, 1, tzinfo=BERLIN), HOLIDAYS) == 20
    assert remaining_working_days(NOVEMBER, datetime(2026, 12, 1, tzinfo=BERLIN), HOLIDAYS) == 0


def test_a_weekend_only_period_has_no_pace_until_it_is_over():
    weekend = range_period(date(2026, 11, 21), date(2026, 11, 23), BERLIN)
    assert elapsed_working_share(weekend, datetime(2026, 11, 22, 12, 0, tzinfo=BERLIN)) == 0.0
    assert elapsed_working_share(weekend, datetime(2026, 11, 23, 12, 0, tzinfo=BERLIN)) == 1.0


@pytest.mark.parametrize("text", ["last ³ days", "last ² weeks", "³d", "last ١٢ days", "last １２ days"])
def test_digits_of_other_scripts_are_not_numbers_in_a_rolling_window(text):
    # `'³'.isdigit()` is true but `int('³')` fails; Arabic-Indic and full-width digits convert, yet nobody types
    # a period that way: only ASCII digits make a number, the rest is a word the period does not understand.
    with pytest.raises(UserError) as caught:
        parse(text)
    assert caught.value.key == "period.unknown"


@pytest.mark.parametrize(
    "word", ["³", "²", "٢٠٢٦", "２０２６", "2026-１０", "２０２６-10-01", "q³", "2026-q²"]
)
def test_a_word_of_non_ascii_digits_is_no_period(word):
    assert extract_period([word, "E"], now=NOW, tz=BERLIN) == (None, [word, "E"])


def test_superscripts_after_a_month_or_this_are_no_year():
    assert extract_period(["october", "²⁰²⁶"], now=NOW, tz=BERLIN)[1] == ["²⁰²⁶"]
    with pytest.raises(UserError):
        parse("this ³")


def test_a_to_date_comparison_that_ends_at_noon_ends_on_that_day():
    # "/funnel today vs prev" at 11:30 compares with yesterday until 11:30: its days are yesterday alone, not
    # "Nov 17 – Nov 16".
    so_far = Period(
        datetime(2026, 11, 17, 0, 0, tzinfo=BERLIN), datetime(2026, 11, 17, 11, 30, tzinfo=BERLIN), BERLIN,
        "days", "2026-11-17",
    )  # fmt: skip
    assert (so_far.start_date, so_far.last_date) == (date(2026, 11, 17), date(2026, 11, 17))
    assert parse("today").last_date == date(2026, 11, 18)  # a whole day still ends on itself
