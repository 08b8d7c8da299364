"""Reading single cells the way a RevOps export writes them (no database needed)."""

from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from storage.importing import values as v

MOSCOW = ZoneInfo("Europe/Moscow")  # UTC+3 all year
BERLIN = ZoneInfo("Europe/Berlin")  # UTC+1 in winter, UTC+2 in summer


def test_a_bare_time_is_read_in_the_org_zone_and_an_offset_wins():
    read = v.moment(MOSCOW)
    assert read("2026-03-05T10:24:00") == datetime(2026, 3, 5, 7, 24)
    assert read("2026-03-05 10:24") == datetime(2026, 3, 5, 7, 24)
    assert read("2026-03-05T10:24:00+01:00") == datetime(2026, 3, 5, 9, 24)
    assert read("2026-03-05T10:24:00Z") == datetime(2026, 3, 5, 10, 24)
    assert read("2026-03-05") == datetime(2026, 3, 4, 21, 0)  # local midnight
    assert read(datetime(2026, 3, 5, 10, 24)) == datetime(2026, 3, 5, 7, 24)  # an Excel cell
    assert read(datetime(2026, 3, 5, 10, 24, tzinfo=UTC)) == datetime(2026, 3, 5, 10, 24)


def test_daylight_saving_time_follows_the_date():
    read = v.moment(BERLIN)
    assert read("2026-01-15T12:00:00") == datetime(2026, 1, 15, 11, 0)
    assert read("2026-07-15T12:00:00") == datetime(2026, 7, 15, 10, 0)


@pytest.mark.parametrize("raw", ["05.03.2026", "yesterday", "2026-02-30", "2026-03-05T25:00"])
def test_unreadable_dates_are_refused(raw):
    with pytest.raises(v.BadValue, match="ISO 8601"):
        v.moment(MOSCOW)(raw)


def test_days_take_the_date_part():
    read = v.day(MOSCOW)
    assert read("2026-03-31") == date(2026, 3, 31)
    assert read("2026-03-31T23:30:00-05:00") == date(2026, 4, 1)  # already April 1st in Moscow
    with pytest.raises(v.BadValue, match="YYYY-MM-DD"):
        read("31/03/2026")


def test_money_is_rounded_to_cents_and_never_negative():
    money = v.decimal()
    assert money("1200.555") == Decimal("1200.56")
    assert money(1200.5) == Decimal("1200.50")
    assert money(Decimal("0")) == Decimal("0.00")
    with pytest.raises(v.BadValue, match="negative"):
        money("-5")
    with pytest.raises(v.BadValue, match="not a number"):
        money("1,200.00")
    with pytest.raises(v.BadValue, match="not a number"):
        money("NaN")
    with pytest.raises(v.BadValue, match="too large"):
        money(Decimal("1e20"))  # a JSON number with an exponent is a number
    with pytest.raises(v.BadValue, match="not a number"):
        money("1e20")  # written as text it is not: numbers in text are plain digits
    with pytest.raises(v.BadValue, match="too large"):
        money(Decimal("1e400"))  # past Decimal's 28 digits rounding itself would fail
    with pytest.raises(v.BadValue, match="negative"):
        money(Decimal("-1e400"))
    assert money(".5") == Decimal("0.50") and money("+7.") == Decimal("7.00")


def test_whole_numbers_accept_excel_floats_but_not_fractions():
    count = v.integer()
    assert count("3") == 3 and count(3.0) == 3 and count("3.0") == 3
    for raw, reason in [
        ("2.5", "whole"),
        ("-1", "negative"),
        (True, "whole"),
        ("three", "number"),
        ("³", "number"),  # a superscript three is a digit to Python, not to a CRM
        (Decimal("1e999999999"), "too large"),  # refused before it is ever spelled out in digits
    ]:
        with pytest.raises(v.BadValue, match=reason):
            count(raw)


@pytest.mark.parametrize(
    "raw, expected",
    [("true", True), ("Yes", True), ("1", True), (1, True), ("FALSE", False), ("no", False), ("0", False)],
)
def test_booleans(raw, expected):
    assert v.boolean(raw) is expected


def test_codes_months_periods_zones_and_currencies():
    role = v.choice(("rep", "manager", "admin"))
    assert role("Manager") == "manager"
    with pytest.raises(v.BadValue, match="one of rep, manager, admin"):
        role("director")
    assert v.month("2026-03") == "2026-03"
    assert v.month(datetime(2026, 3, 1)) == "2026-03"
    with pytest.raises(v.BadValue, match="YYYY-MM"):
        v.month("2026-3")
    assert [v.plan_period(p) for p in ("2026-11", "2026-q4", "2026", 2026)] == [
        "2026-11",
        "2026-Q4",
        "2026",
        "2026",
    ]
    for bad in ("2026-13", "2026-Q5", "Q4", "2026-H1"):
        with pytest.raises(v.BadValue, match="plan period"):
            v.plan_period(bad)
    assert v.time_zone("America/New_York") == "America/New_York"
    with pytest.raises(v.BadValue, match="time zone"):
        v.time_zone("Moscow")
    assert v.currency_code("eur") == "EUR"
    with pytest.raises(v.BadValue, match="currency"):
        v.currency_code("euro")


def test_ids_from_excel_lose_their_trailing_point_zero_and_long_text_is_refused():
    ident = v.text(8)
    assert ident(1001.0) == "1001"
    with pytest.raises(v.BadValue, match="longer than 8"):
        ident("123456789")
    with pytest.raises(v.BadValue, match="single value"):
        ident({"id": 1})


def test_text_that_one_of_the_two_databases_would_not_keep_is_refused():
    company = v.text(200)
    with pytest.raises(v.BadValue, match="NUL"):
        company("North\x00wind")
    with pytest.raises(v.BadValue, match="lone surrogate"):
        company("A\ud800")
    with pytest.raises(v.BadValue, match="NUL"):
        v.email("anna\x00@example.com")
    assert company("Ёлки, 北京 & 🙂") == "Ёлки, 北京 & 🙂"


def test_months_and_periods_are_written_in_ascii_digits():
    for bad in ("２０２６-03", "٢٠٢٦-03"):
        with pytest.raises(v.BadValue, match="YYYY-MM"):
            v.month(bad)
        with pytest.raises(v.BadValue, match="plan period"):
            v.plan_period(bad)


def test_moments_stay_a_day_inside_the_calendar_so_every_time_zone_can_show_them():
    read = v.moment(MOSCOW)
    assert read("0001-01-02T03:00:00+03:00") == datetime(1, 1, 2)
    for raw in (
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:59:59-12:00",
        "9999-12-31T12:00Z",
        datetime(1, 1, 1),
    ):
        with pytest.raises(v.BadValue, match="0001-01-02 to 9999-12-30"):
            read(raw)
    with pytest.raises(v.BadValue, match="outside the calendar"):
        v.day(ZoneInfo("Pacific/Kiritimati"))(datetime(9999, 12, 31, 23, tzinfo=UTC))
