"""Table-specific rules: plan periods and scopes, natural keys of spend, people and their chat ids."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select

from storage.config.settings import Settings
from storage.importing.importer import import_file
from storage.schema import Plan, Spend, Team, User

SETTINGS = Settings.model_validate({"org": {"timezone": "UTC", "currency": "USD"}})


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def seed(engine) -> None:
    with engine.begin() as conn:
        conn.execute(Team.__table__.insert(), [{"team_id": "t-north", "name": "North"}])
        conn.execute(
            User.__table__.insert(),
            [{"user_id": "u-anna", "name": "Anna", "role": "rep", "active": True, "telegram_user_id": 555}],
        )


def test_plans_need_a_real_period_scope_and_metric(engine, tmp_path):
    seed(engine)
    path = write(
        tmp_path / "plans.csv",
        "period,scope,scope_id,metric,target\n"
        "2026-Q2,user,u-anna,revenue,30000\n"  # fine
        "2026,team,t-north,calls,1200\n"  # fine
        "2026-11,org,,new_leads,500\n"  # fine
        "2026-13,user,u-anna,revenue,100\n"  # no 13th month
        "2026-Q2,org,t-north,revenue,100\n"  # an org plan with a team id
        "2026-Q2,team,t-south,revenue,100\n"  # no such team
        "2026-Q2,user,u-anna,happiness,100\n"  # not a plan metric
        "2026-Q3,user,u-anna,calls,-5\n",  # a negative target
    )

    report = import_file(engine, SETTINGS, "plans", path, skip_invalid=True)

    assert (report.written, report.rejected) == (3, 5)
    assert [(e.line, e.column) for e in report.errors] == [
        (5, "period"),
        (6, "scope_id"),
        (7, "scope_id"),
        (8, "metric"),
        (9, "target"),
    ]
    with engine.connect() as conn:
        stored = conn.execute(
            select(Plan.period, Plan.scope, Plan.scope_id, Plan.product_id).order_by(Plan.period)
        )
        assert [tuple(r) for r in stored] == [
            ("2026", "team", "t-north", ""),
            ("2026-11", "org", "", ""),
            ("2026-Q2", "user", "u-anna", ""),
        ]


def test_spend_without_channel_or_campaign_keys_on_empty_text_and_reimports_in_place(engine, tmp_path):
    path = write(tmp_path / "spend.csv", "date,amount\n2026-03-01,1500.00\n2026-03-02,900\n")

    import_file(engine, SETTINGS, "spend", path)
    write(path, "date,amount\n2026-03-01,1600.00\n2026-03-02,900\n")
    import_file(engine, SETTINGS, "spend", path)

    with engine.connect() as conn:
        stored = conn.execute(select(Spend.date, Spend.kind, Spend.channel, Spend.campaign_id, Spend.amount))
        assert sorted(tuple(r) for r in stored) == [
            (date(2026, 3, 1), "marketing", "", "", Decimal("1600.00")),
            (date(2026, 3, 2), "marketing", "", "", Decimal("900.00")),
        ]


def test_a_telegram_id_can_belong_to_one_person_only(engine, tmp_path):
    seed(engine)
    path = write(
        tmp_path / "users.csv",
        "user_id,name,telegram_user_id\n"
        "u-anna,Anna,555\n"  # her own id again: fine
        "u-boris,Boris,555\n"  # Anna's
        "u-carl,Carl,777\n"
        "u-dina,Dina,777\n",  # Carl's, two lines up
    )

    report = import_file(engine, SETTINGS, "users", path)

    assert [(e.line, e.column, e.reason) for e in report.errors] == [
        (3, "telegram_user_id", "already belongs to u-anna"),
        (5, "telegram_user_id", "already given to u-carl on line 4"),
    ]


def test_wrong_codes_and_unknown_time_zones_are_bad_rows(engine, tmp_path):
    path = write(
        tmp_path / "users.csv",
        "user_id,name,role,timezone,locale,active\n"
        "u-1,Anna,Rep,Europe/Moscow,RU,yes\n"  # codes in any case are fine
        "u-2,Boris,director,Europe/Moskow,de,maybe\n",
    )

    report = import_file(engine, SETTINGS, "users", path)

    assert [(e.line, e.column) for e in report.errors] == [
        (3, "role"),
        (3, "timezone"),
        (3, "locale"),
        (3, "active"),
    ]
