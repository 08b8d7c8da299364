"""A small Dynamics 365 org, synced through the real client over real HTTP from tests/fakes/dynamics_api.py.

The org, worked out by hand (all of November 2026, UTC). Dynamics keeps no stage history, so the first sync (on
Nov 11) sees each row as it is then, at its `modifiedon`:
- Mia manages Rob and Rita; Ann (named in crm.admins) is the admin; the application user the sync signs in as is
  not a person and is skipped.
- Leads: L1 (Rob, campaign C1) New → Contacted (Nov 3) → Qualified into O1 (Nov 5): seen at `opportunity` on Nov 5;
  L2 (Rob) → Contacted (Nov 3): `mql` on Nov 3; L3 (Rita) stays New; L4 (Rita) → Disqualified/Lost (Nov 4).
  Funnel of November: 4 leads, 2 MQL (L1 filled in, L2), 1 SQL, 1 opportunity, 1 won (L1 through O1).
- Opportunities: O1 (Rob, from L1, account A1) 1-Qualify (Nov 5) → 2-Develop (Nov 6) → won Nov 9, 1 000: seen as
  Won on Nov 9; O2 (Rita) lost (Out-Sold) Nov 10, 500; O3 (Rob) open at 1-Qualify since Nov 5, 300.
- Activities: T1 Rob's call, done Nov 3 10:00 (about L1); M1 Rita's email, open, due Nov 20 (about A1); K1 Rita's
  task, canceled; E1 Rob's appointment Nov 6 10–11, completed (about O1).
The same org written as canonical CSV files and imported gives the same numbers, and so does the org written as
Azure Synapse Link's CSVs (logical names, lookups as `ownerid`, choices as numbers with their labels in the
metadata tables) read by `kpibot import --from dynamics`. Then (Nov 12) L2 becomes Qualified,
L3 and K1 are deleted, O3 moves to 2-Develop and O1's description is edited: the second sync reads only those rows
(leads after L1's Nov 5 stamp), applies both deletions from the delta links, and the funnel moves to 3 leads, 2 SQL;
O3 gains its second stage, O1 none.
"""

from __future__ import annotations

import csv
import json
import logging
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from run_bot import main
from storage.config.settings import Settings, load_settings
from storage.crm.dynamics import DynamicsConnector
from storage.crm.sync import sync
from storage.schema import Activity, Deal, DealStageEvent, Lead, LeadStageEvent, SyncRun, SyncWatermark, User
from tests.fakes.dynamics_api import COLUMNS, LABELS, TENANT_ID, FakeDynamicsApi
from tests.fixtures.crm_org import NOV, empty_crm_tables, import_canonical, numbers

MIA, ROB, RITA, ANN, APP = (f"{n:08d}-0000-4000-8000-00000000a00{n}" for n in range(1, 6))
L1, L2, L3, L4 = (f"{n:08d}-0000-4000-8000-00000000b00{n}" for n in range(1, 5))
O1, O2, O3 = (f"{n:08d}-0000-4000-8000-00000000c00{n}" for n in range(1, 4))
A1, C1 = "00000001-0000-4000-8000-00000000d001", "00000001-0000-4000-8000-00000000e001"
T1, M1, K1, E1 = (f"{n:08d}-0000-4000-8000-00000000f00{n}" for n in range(1, 5))
REGARDING = "_regardingobjectid_value"


@pytest.fixture
def fake():
    api = FakeDynamicsApi(now=NOV(1))
    api.start()
    try:
        yield api
    finally:
        api.stop()


def env_for(fake: FakeDynamicsApi, secret: str | None = None) -> dict[str, str]:
    return {
        "DYNAMICS_URL": fake.base_url,
        "DYNAMICS_AUTHORITY_URL": fake.base_url,
        "DYNAMICS_TENANT_ID": TENANT_ID,
        "DYNAMICS_CLIENT_ID": fake.client_id,
        "DYNAMICS_CLIENT_SECRET": secret or fake.client_secret,
    }


def settings_for(fake: FakeDynamicsApi) -> Settings:
    return load_settings(env=env_for(fake), crm={"admins": ["ann@example.com"], "dynamics": {"page_size": 2}})


def connector(settings: Settings, sleep=lambda seconds: None) -> DynamicsConnector:
    return DynamicsConnector.from_settings(settings, sleep=sleep)


def build_org(fake: FakeDynamicsApi) -> None:
    add, update = fake.add, fake.update
    users = "systemusers"
    add(
        users,
        systemuserid=MIA,
        fullname="Mia Manager",
        internalemailaddress="mia@example.com",
        isdisabled=False,
    )
    for user, name in ((ROB, "Rob Rep"), (RITA, "Rita Rep")):
        email = f"{name.split()[0].lower()}@example.com"
        add(
            users,
            systemuserid=user,
            fullname=name,
            internalemailaddress=email,
            isdisabled=False,
            _parentsystemuserid_value=MIA,
        )
    add(
        users,
        systemuserid=ANN,
        fullname="Ann Admin",
        internalemailaddress="Ann@Example.com",
        isdisabled=False,
    )
    add(users, systemuserid=APP, fullname="# kpibot", isdisabled=False, applicationid=fake.client_id)
    add("accounts", accountid=A1, name="Acme", _ownerid_value=ROB, industrycode=6)
    add(
        "campaigns",
        campaignid=C1,
        name="Autumn webinar",
        typecode=3,
        actualstart=date(2026, 11, 1),
        actualend=date(2026, 11, 30),
    )
    fake.now = NOV(2)
    lead = dict(statecode=0, statuscode=1)
    add(
        "leads",
        leadid=L1,
        _ownerid_value=ROB,
        leadsourcecode=8,
        companyname="Acme",
        _campaignid_value=C1,
        **lead,
    )
    add("leads", leadid=L2, _ownerid_value=ROB, leadsourcecode=8, companyname="Beta", **lead)
    fake.now = NOV(2, 18)
    add(
        "phonecalls",
        activityid=T1,
        _ownerid_value=ROB,
        statecode=1,
        statuscode=2,
        scheduledend=NOV(3, 0),
        actualend=NOV(3, 10),
        lookups={REGARDING: "lead"},
        **{REGARDING: L1},
    )
    fake.now = NOV(3)
    add("leads", leadid=L3, _ownerid_value=RITA, leadsourcecode=2, companyname="Gamma", **lead)
    add("leads", leadid=L4, _ownerid_value=RITA, leadsourcecode=2, companyname="Delta", **lead)
    update("leads", L1, statuscode=2)
    update("leads", L2, statuscode=2)
    fake.now = NOV(4)
    update("leads", L4, statecode=2, statuscode=4)
    add(
        "emails",
        activityid=M1,
        _ownerid_value=RITA,
        statecode=0,
        scheduledend=NOV(20, 0),
        lookups={REGARDING: "account"},
        **{REGARDING: A1},
    )
    add("tasks", activityid=K1, _ownerid_value=RITA, statecode=2, statuscode=6, scheduledend=NOV(8, 0))
    fake.now = NOV(5)
    opportunity = dict(statecode=0, statuscode=1, stepname="1-Qualify", salesstage=0)
    add(
        "opportunities",
        opportunityid=O1,
        _ownerid_value=ROB,
        estimatedvalue=1000,
        _parentaccountid_value=A1,
        _originatingleadid_value=L1,
        **opportunity,
    )
    add("opportunities", opportunityid=O2, _ownerid_value=RITA, estimatedvalue=500, **opportunity)
    add("opportunities", opportunityid=O3, _ownerid_value=ROB, estimatedvalue=300, **opportunity)
    update("leads", L1, statecode=1, statuscode=3, _qualifyingopportunityid_value=O1)
    add(
        "appointments",
        activityid=E1,
        _ownerid_value=ROB,
        statecode=3,
        scheduledstart=NOV(6, 10),
        scheduledend=NOV(6, 11),
        lookups={REGARDING: "opportunity"},
        **{REGARDING: O1},
    )
    fake.now = NOV(6)
    update("opportunities", O1, stepname="2-Develop", salesstage=1)
    fake.now = NOV(6, 11)
    update("appointments", E1, statecode=1, statuscode=3, actualend=NOV(6, 11))
    fake.now = NOV(9)
    update(
        "opportunities", O1, statecode=1, statuscode=3, actualvalue=1000, actualclosedate=date(2026, 11, 9)
    )
    fake.now = NOV(10)
    update("opportunities", O2, statecode=2, statuscode=5, actualclosedate=date(2026, 11, 10))
    fake.now = NOV(11)


# The same org as kpibot's canonical files, written by hand from the description above.
CANONICAL = {
    "teams": [{"team_id": f"team-{MIA}", "name": "Mia Manager", "manager_id": MIA}],
    "users": [
        {"user_id": MIA, "name": "Mia Manager", "email": "mia@example.com", "role": "manager",
         "team_id": f"team-{MIA}", "active": "true"},
        {"user_id": ROB, "name": "Rob Rep", "email": "rob@example.com", "role": "rep", "team_id": f"team-{MIA}",
         "manager_id": MIA, "active": "true"},
        {"user_id": RITA, "name": "Rita Rep", "email": "rita@example.com", "role": "rep",
         "team_id": f"team-{MIA}", "manager_id": MIA, "active": "true"},
        {"user_id": ANN, "name": "Ann Admin", "email": "Ann@Example.com", "role": "admin", "active": "true"},
    ],
    "accounts": [{"account_id": A1, "name": "Acme", "created_at": NOV(1), "owner_id": ROB, "segment": "Consulting"}],
    "campaigns": [{"campaign_id": C1, "name": "Autumn webinar", "channel": "Event", "started_at": NOV(1, 0),
                   "ended_at": NOV(30, 0)}],
    "leads": [
        {"lead_id": L1, "created_at": NOV(2), "owner_id": ROB, "source": "Web", "company": "Acme",
         "campaign_id": C1},
        {"lead_id": L2, "created_at": NOV(2), "owner_id": ROB, "source": "Web", "company": "Beta"},
        {"lead_id": L3, "created_at": NOV(3), "owner_id": RITA, "source": "Employee Referral", "company": "Gamma"},
        {"lead_id": L4, "created_at": NOV(3), "owner_id": RITA, "source": "Employee Referral", "company": "Delta"},
    ],
    "lead_stage_events": [
        {"lead_id": L2, "stage": "mql", "entered_at": NOV(3), "owner_id": ROB},
        {"lead_id": L4, "stage": "disqualified", "entered_at": NOV(4), "owner_id": RITA},
        {"lead_id": L1, "stage": "opportunity", "entered_at": NOV(5), "owner_id": ROB},
    ],
    "deals": [
        {"deal_id": O1, "owner_id": ROB, "created_at": NOV(5), "status": "won", "closed_at": NOV(9, 0),
         "amount": "1000", "lead_id": L1, "account_id": A1},
        {"deal_id": O2, "owner_id": RITA, "created_at": NOV(5), "status": "lost", "closed_at": NOV(10, 0),
         "amount": "500", "lost_reason": "Out-Sold"},
        {"deal_id": O3, "owner_id": ROB, "created_at": NOV(5), "status": "open", "amount": "300"},
    ],
    "deal_stage_events": [
        {"deal_id": O1, "stage": "Won", "entered_at": NOV(9)},
        {"deal_id": O2, "stage": "Lost", "entered_at": NOV(10)},
        {"deal_id": O3, "stage": "1-Qualify", "entered_at": NOV(5)},
    ],
    "activities": [
        {"activity_id": T1, "owner_id": ROB, "type": "call", "created_at": NOV(2, 18), "due_at": NOV(3, 0),
         "completed_at": NOV(3, 10), "status": "done", "lead_id": L1},
        {"activity_id": M1, "owner_id": RITA, "type": "email", "created_at": NOV(4), "due_at": NOV(20, 0),
         "status": "planned", "account_id": A1},
        {"activity_id": K1, "owner_id": RITA, "type": "task", "created_at": NOV(4), "due_at": NOV(8, 0),
         "status": "cancelled"},
        {"activity_id": E1, "owner_id": ROB, "type": "meeting", "created_at": NOV(5), "due_at": NOV(6, 10),
         "completed_at": NOV(6, 11), "status": "done", "deal_id": O1},
    ],
}  # fmt: skip


def table_rows(engine, model, *columns) -> set[tuple]:
    with engine.connect() as conn:
        return {tuple(row) for row in conn.execute(select(*(getattr(model, c) for c in columns))).all()}


def test_a_sync_gives_the_same_numbers_as_the_canonical_files_then_reads_only_what_changed(
    engine, fake, tmp_path
):
    settings = settings_for(fake)
    build_org(fake)
    import_canonical(engine, settings, tmp_path, CANONICAL)
    from_files = numbers(engine, settings, ANN)
    funnel = dict(from_files["funnel"])
    assert [funnel[s] for s in ("lead", "mql", "sql", "opportunity", "won")] == [4, 2, 1, 1, 1]
    stored = {
        "deals": table_rows(
            engine, Deal, "deal_id", "status", "closed_at", "amount", "lead_id", "lost_reason"
        ),
        "activities": table_rows(engine, Activity, "activity_id", "type", "status", "lead_id", "deal_id"),
    }
    empty_crm_tables(engine)

    first = sync(engine, settings, connector(settings), now=fake.now)
    assert first.completed, first.error
    assert first.rejects == []
    read = {(o.object, o.table): o.read for o in first.objects}
    assert read[("systemusers", "users")] == 5 and read[("leads", "leads")] == 4
    assert read[("opportunities", "deals")] == 3
    assert numbers(engine, settings, ANN) == from_files
    assert (
        table_rows(engine, Deal, "deal_id", "status", "closed_at", "amount", "lead_id", "lost_reason")
        == (stored["deals"])
    )
    assert (
        table_rows(engine, Activity, "activity_id", "type", "status", "lead_id", "deal_id")
        == (stored["activities"])
    )
    with engine.connect() as conn:
        roles = dict(conn.execute(select(User.user_id, User.role)).all())
    assert roles == {MIA: "manager", ROB: "rep", RITA: "rep", ANN: "admin"}  # the application user is no one

    first_leads = fake.calls_to("leads")
    reads = [c for c in first_leads if "$select" in c.query and "$deltatoken" not in c.query]
    # The leads, change tracking opened for their deletions (ids only), then the leads' stages.
    assert [c.query.get("$orderby") for c in reads] == ["modifiedon asc", None, "modifiedon asc"]
    assert "odata.maxpagesize=2" in reads[0].prefer and "$filter" not in reads[0].query
    assert "odata.track-changes" in reads[1].prefer and reads[1].query["$select"] == "leadid"
    pages = [c for c in first_leads if "$skiptoken" in c.query]
    assert len(pages) == 3  # 4 leads in pages of 2, each of the three reads: one @odata.nextLink followed

    calls_before = len(fake.calls)
    fake.now = NOV(12)
    fake.update("leads", L2, statecode=1, statuscode=3)
    fake.delete("leads", L3)
    fake.delete("tasks", K1)
    fake.update("opportunities", O3, stepname="2-Develop", salesstage=1)
    fake.update("opportunities", O1, description="signed")
    second = sync(engine, settings, connector(settings), now=fake.now)
    assert second.completed, second.error
    by_object = {(o.object, o.table): o for o in second.objects}
    assert (by_object[("leads", "leads")].read, by_object[("leads", "leads")].deleted) == (1, 1)
    assert by_object[("leads", "lead_stage_events")].written == 1
    assert (by_object[("opportunities", "deals")].read, by_object[("opportunities", "deals")].deleted) == (
        2,
        0,
    )
    assert by_object[("opportunities", "deal_stage_events")].written == 1  # O3's move; O1 stays Won
    assert (by_object[("tasks", "activities")].read, by_object[("tasks", "activities")].deleted) == (0, 1)
    assert by_object[("systemusers", "users")].read == 0
    lead_reads = [c for c in fake.calls_to("leads", after=calls_before) if "$orderby" in c.query]
    assert [c.query["$filter"] for c in lead_reads] == ["modifiedon gt 2026-11-05T09:00:00Z"] * 2  # both maps
    deltas = [c for c in fake.calls_to("leads", after=calls_before) if "$deltatoken" in c.query]
    assert len(deltas) == 1

    funnel = dict(numbers(engine, settings, ANN)["funnel"])
    assert [funnel[s] for s in ("lead", "mql", "sql", "opportunity", "won")] == [3, 2, 2, 1, 1]
    with engine.connect() as conn:
        assert conn.execute(select(Lead.lead_id).where(Lead.lead_id == L3)).first() is None
        assert conn.execute(select(Activity.activity_id).where(Activity.activity_id == K1)).first() is None
        o3 = conn.execute(
            select(DealStageEvent.stage)
            .where(DealStageEvent.deal_id == O3)
            .order_by(DealStageEvent.entered_at)
        ).scalars()
        assert list(o3) == ["1-Qualify", "2-Develop"]
        runs = conn.execute(select(SyncRun.status, SyncRun.deleted).order_by(SyncRun.id)).all()
        cursors = dict(
            conn.execute(
                select(SyncWatermark.object, SyncWatermark.cursor).where(SyncWatermark.cursor.is_not(None))
            ).all()
        )
    assert [(r.status, r.deleted) for r in runs] == [("ok", 0), ("ok", 2)]
    assert (
        "$deltatoken=" in cursors["leads>leads#deleted"] and "leads>lead_stage_events#deleted" not in cursors
    )

    third = sync(engine, settings, connector(settings), now=NOV(13))
    assert third.completed and sum(o.read for o in third.objects) == 0
    assert sum(o.deleted for o in third.objects) == 0  # each deletion is applied once


def test_a_limit_is_waited_out_and_a_refused_token_fetched_again(engine, fake):
    settings = settings_for(fake)
    build_org(fake)
    waits: list[float] = []
    fake.throttle(calls=2, retry_after=7)
    result = sync(engine, settings, connector(settings, sleep=waits.append), now=fake.now)
    assert result.completed, result.error
    assert waits == [7.0, 7.0]  # Retry-After, twice; then the read went through
    assert [c.status for c in fake.calls[1:4]] == [429, 429, 200]
    funnel = dict(numbers(engine, settings, ANN)["funnel"])
    assert funnel["lead"] == 4 and funnel["won"] == 1

    fake.expire_tokens()
    fake.now = NOV(13)
    fake.update("leads", L3, statuscode=2)
    tokens_before = len([c for c in fake.calls if c.path.endswith("/token")])
    again = sync(engine, settings, connector(settings), now=fake.now)
    assert again.completed, again.error
    assert len([c for c in fake.calls if c.path.endswith("/token")]) == tokens_before + 1
    assert dict(numbers(engine, settings, ANN)["funnel"])["mql"] == 3


def test_a_wrong_secret_is_one_clear_line_and_the_run_says_why(engine, db_url, fake, capsys, monkeypatch):
    for name, value in env_for(fake, secret="not-the-secret-at-all").items():
        monkeypatch.setenv(name, value)
    assert main(["--db", db_url, "sync", "dynamics"]) == 1
    captured = capsys.readouterr()
    assert captured.err.strip().splitlines() == [
        "kpibot: dynamics sync failed: Dynamics refused the credentials (401): AADSTS7000215: Invalid client "
        "secret provided. Ensure the secret being sent in the request is the client secret value, not the client "
        f"secret ID, for a secret added to app '{fake.client_id}'."
    ]
    assert "not-the-secret-at-all" not in captured.out + captured.err
    assert main(["--db", db_url, "syncs"]) == 0
    listing = capsys.readouterr().out
    assert "dynamics" in listing and "failed" in listing and "AADSTS7000215" in listing


def test_missing_credentials_say_what_to_set(engine, db_url, fake, capsys, monkeypatch):
    env = env_for(fake)
    del env["DYNAMICS_CLIENT_SECRET"]
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("DYNAMICS_CLIENT_SECRET", raising=False)
    assert main(["--db", db_url, "sync", "dynamics"]) == 2
    assert capsys.readouterr().err.strip() == (
        "kpibot: dynamics: Dynamics needs DYNAMICS_CLIENT_SECRET (an app registration Dataverse has as a user)"
    )
    assert fake.calls == []


def write_export(fake: FakeDynamicsApi, folder: Path) -> None:
    """The fake org as Azure Synapse Link writes it, with a header row: one CSV per table, named by logical name
    (`lead.csv`) except the users and accounts, named by entity set (`systemusers.csv`); lookups by their column
    name (`ownerid`, `regardingobjectid` with `regardingobjectid_entitytype`); choices as numbers, their labels in
    `OptionsetMetadata.csv`, `StateMetadata.csv` and `StatusMetadata.csv`; `IsDelete` false; seven-digit
    fractions of a second; `True`/`False`."""

    def cell(value) -> str:
        if value is None:
            return ""
        if isinstance(value, bool):
            return "True" if value else "False"
        if isinstance(value, datetime):
            return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.0000000Z")
        if isinstance(value, date | Decimal | int | float):
            return str(value)
        return str(value)

    folder.mkdir()
    for entity_set, (logical, _, columns) in COLUMNS.items():
        names = [c[1:-6] if c.startswith("_") and c.endswith("_value") else c for c in columns]
        polymorphic = [c for c in columns if c == "_regardingobjectid_value"]
        file = folder / f"{entity_set if entity_set in ('systemusers', 'accounts') else logical}.csv"
        with file.open("w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out)
            writer.writerow([*names, *(f"{c[1:-6]}_entitytype" for c in polymorphic), "IsDelete"])
            for row in fake.tables[entity_set].values():
                lookups = [row.lookups.get(c, "") for c in polymorphic]
                writer.writerow([*(cell(row.values.get(c)) for c in columns), *lookups, "False"])
    header = ["EntityName", "OptionSetName", "Option", "IsUserLocalizedLabel", "LocalizedLabelLanguageCode",
              "LocalizedLabel"]  # fmt: skip
    options, states, statuses = (
        [header],
        [["EntityName", "State", "LocalizedLabelLanguageCode", "LocalizedLabel"]],
        [["EntityName", "State", "Status", "LocalizedLabelLanguageCode", "LocalizedLabel"]],
    )
    for entity_set, choices in LABELS.items():
        logical = COLUMNS[entity_set][0]
        for column, labels in choices.items():
            for number, text in labels.items():
                if column == "statecode":
                    states.append([logical, str(number), "1033", text])
                elif column == "statuscode":
                    statuses.append([logical, "0", str(number), "1033", text])
                else:
                    options.append([logical, column, str(number), "False", "1033", text])
    for name, rows in (
        ("OptionsetMetadata", options),
        ("StateMetadata", states),
        ("StatusMetadata", statuses),
    ):
        with (folder / f"{name}.csv").open("w", newline="", encoding="utf-8") as out:
            csv.writer(out).writerows(rows)


def test_the_same_org_from_export_files_gives_the_same_numbers(engine, db_url, fake, tmp_path, capsys):
    settings = settings_for(fake)
    build_org(fake)
    import_canonical(engine, settings, tmp_path, CANONICAL)
    from_files = numbers(engine, settings, ANN)
    stored = table_rows(engine, Deal, "deal_id", "status", "closed_at", "amount", "lead_id", "lost_reason")
    activities = table_rows(
        engine, Activity, "activity_id", "type", "status", "lead_id", "deal_id", "account_id"
    )
    empty_crm_tables(engine)
    export = tmp_path / "export"
    write_export(fake, export)
    config = tmp_path / "kpibot.yaml"
    config.write_text("crm:\n  admins: [ann@example.com]\n", encoding="utf-8")
    assert main(["--config", str(config), "--db", db_url, "import", "--from", "dynamics", str(export)]) == 0
    out = capsys.readouterr().out
    lines = {line.split()[0] + " " + line.split()[2]: line for line in out.splitlines() if " → " in line}
    assert "read        5" in lines["systemusers users"] and "read        4" in lines["leads leads"]
    assert numbers(engine, settings, ANN) == from_files
    assert (
        table_rows(engine, Deal, "deal_id", "status", "closed_at", "amount", "lead_id", "lost_reason")
        == stored
    )
    assert (
        table_rows(engine, Activity, "activity_id", "type", "status", "lead_id", "deal_id", "account_id")
        == activities
    )
    with engine.connect() as conn:
        assert conn.execute(select(SyncWatermark.object)).first() is None  # an export moves no sync watermark
        segments = dict(conn.execute(select(Lead.lead_id, Lead.source)).all())
    assert segments[L1] == "Web" and segments[L3] == "Employee Referral"  # labels from OptionsetMetadata.csv


def test_an_export_row_that_fails_is_named_by_file_line_and_id(engine, db_url, fake, tmp_path, capsys):
    build_org(fake)
    export = tmp_path / "export"
    write_export(fake, export)
    rows = list(csv.reader((export / "lead.csv").open(encoding="utf-8")))
    ids = [r[0] for r in rows]
    rows[ids.index(L2)][rows[0].index("statuscode")] = "Sleeping"
    with (export / "lead.csv").open("w", newline="", encoding="utf-8") as out:
        csv.writer(out).writerows(rows)
    assert main(["--db", db_url, "import", "--from", "dynamics", str(export)]) == 1
    err = capsys.readouterr().err
    # The row's line in its file: the header is line 1, L2 the second lead.
    assert ids.index(L2) == 2 and f"lead.csv:3 {L2}" in err and "'Sleeping' is not a choice's number" in err
    with engine.connect() as conn:
        staged = {r[0] for r in conn.execute(select(LeadStageEvent.lead_id)).all()}
        assert staged == set()  # the stages read from lead.csv are refused whole, the good rows' too
        assert (
            len(conn.execute(select(Lead.lead_id)).all()) == 4
        )  # the leads map reads no statuscode: it lands
        assert len(conn.execute(select(Deal.deal_id)).all()) == 3  # the other files land


def test_one_file_named_by_entity_set_or_logical_name(engine, db_url, fake, tmp_path, capsys):
    build_org(fake)
    export = tmp_path / "export"
    write_export(fake, export)
    single = tmp_path / "leads.csv"
    single.write_bytes((export / "lead.csv").read_bytes())
    assert main(["--db", db_url, "import", "--from", "dynamics", str(export)]) == 0
    with engine.connect() as conn:
        assert len(conn.execute(select(Lead.lead_id)).all()) == 4
    rows = list(csv.reader(single.open(encoding="utf-8")))
    rows[[r[0] for r in rows].index(L3)][-1] = "True"  # IsDelete: L3 was deleted in Dataverse
    with single.open("w", newline="", encoding="utf-8") as out:
        csv.writer(out).writerows(rows)
    assert main(["--db", db_url, "import", "--from", "dynamics", str(single)]) == 0
    with engine.connect() as conn:
        assert {r[0] for r in conn.execute(select(Lead.lead_id)).all()} == {L1, L2, L4}
    assert main(["--db", db_url, "import", "--from", "dynamics", str(export / "OptionsetMetadata.csv")]) == 2
    assert "is not a dynamics object kpibot reads" in capsys.readouterr().err


def test_an_expired_change_tracking_link_is_replaced_and_the_sync_goes_on(engine, fake, caplog):
    settings = settings_for(fake)
    build_org(fake)
    assert sync(engine, settings, connector(settings), now=fake.now).completed
    with engine.connect() as conn:
        links = dict(conn.execute(select(SyncWatermark.object, SyncWatermark.cursor)).all())
    fake.expire_delta_tokens()
    fake.now = NOV(12)
    fake.delete("leads", L3)  # deleted while the link was too old to tell: not seen, and said so
    with caplog.at_level(logging.WARNING, logger="storage.crm.dynamics"):
        again = sync(engine, settings, connector(settings), now=fake.now)
    assert again.completed, again.error
    assert "leads's change-tracking link was refused" in caplog.text
    with engine.connect() as conn:
        renewed = dict(conn.execute(select(SyncWatermark.object, SyncWatermark.cursor)).all())
        assert conn.execute(select(Lead.lead_id).where(Lead.lead_id == L3)).first() is not None
    feeds = [key for key, link in links.items() if link]
    assert feeds and all(renewed[key] and renewed[key] != links[key] for key in feeds)  # new links kept
    fake.delete("leads", L4)  # with the new link, the next deletion is seen again
    fake.now = NOV(13)
    third = sync(engine, settings, connector(settings), now=fake.now)
    assert {(o.object, o.table): o.deleted for o in third.objects}[("leads", "leads")] == 1


LAKE = "https://contoso.dfs.core.windows.net/dataverse-contoso"  # the container Synapse Link writes to


def write_synapse_link(fake: FakeDynamicsApi, folder: Path) -> None:
    """The fake org as Azure Synapse Link writes its folder: `model.json` (a Common Data Model manifest) names each
    table's columns (its attributes, in column order, with Synapse Link's own `SinkCreatedOn`, `SinkModifiedOn`,
    `versionnumber` and `IsDelete`) and its data files (partitions, their `location` a URL into the lake); the data
    files have no header row, one per table and month (`lead/2026-11.csv`), the leads split in two; the choice-label
    tables in `OptionsetMetadata/`, described by model.json too."""
    flat = folder.parent / f"{folder.name}-with-headers"
    write_export(fake, flat)
    folder.mkdir()
    entities = []
    for file in sorted(flat.glob("*.csv")):
        rows = list(csv.reader(file.open(encoding="utf-8")))
        header, body = rows[0], rows[1:]
        metadata = file.stem.endswith("Metadata")
        name = file.stem if metadata else next(c[0] for s, c in COLUMNS.items() if file.stem in (s, c[0]))
        extra = [] if metadata else ["SinkCreatedOn", "SinkModifiedOn", "versionnumber"]
        columns = [*header, *extra]
        body = [
            [*row, *(["11/15/2026 08:00:00 AM", "11/15/2026 08:00:00 AM", "1234"] if extra else [])]
            for row in body
        ]
        parts = {"OptionsetMetadata/" + file.name: body} if metadata else {f"{name}/2026-11.csv": body}
        if name == "lead":
            parts = {"lead/2026-10.csv": body[:2], "lead/2026-11.csv": body[2:]}
        partitions = []
        for location, part in parts.items():
            (folder / location).parent.mkdir(exist_ok=True)
            with (folder / location).open("w", newline="", encoding="utf-8") as out:
                csv.writer(out).writerows(part)  # no header row
            partitions.append({
                "name": location.rsplit("/", 1)[1][:-4], "location": f"{LAKE}/{location}",
                "fileFormatSettings": {"$type": "CsvFormatSettings", "columnHeaders": False, "delimiter": ",",
                                       "quoteStyle": "QuoteStyle.Csv", "csvStyle": "CsvStyle.QuoteAlways"},
            })  # fmt: skip
        entities.append({
            "$type": "LocalEntity", "name": name,
            "attributes": [{"name": c, "dataType": "string"} for c in columns], "partitions": partitions,
        })  # fmt: skip
    model = {"name": "cdm", "description": "cdm", "version": "1.0", "entities": entities}
    (folder / "model.json").write_text(json.dumps(model, indent=2), encoding="utf-8")


def test_a_synapse_link_folder_gives_the_same_numbers(engine, db_url, fake, tmp_path, capsys):
    settings = settings_for(fake)
    build_org(fake)
    import_canonical(engine, settings, tmp_path, CANONICAL)
    from_files = numbers(engine, settings, ANN)
    stored = table_rows(engine, Deal, "deal_id", "status", "closed_at", "amount", "lead_id", "lost_reason")
    empty_crm_tables(engine)
    lake = tmp_path / "lake"
    write_synapse_link(fake, lake)
    assert not (lake / "lead.csv").exists() and (lake / "lead" / "2026-10.csv").read_text().count("\n") == 2
    config = tmp_path / "kpibot.yaml"
    config.write_text("crm:\n  admins: [ann@example.com]\n", encoding="utf-8")
    assert main(["--config", str(config), "--db", db_url, "import", "--from", "dynamics", str(lake)]) == 0
    out = capsys.readouterr().out
    lines = {line.split()[0] + " " + line.split()[2]: line for line in out.splitlines() if " → " in line}
    assert "read        5" in lines["systemusers users"] and "read        4" in lines["leads leads"]
    assert numbers(engine, settings, ANN) == from_files
    assert (
        table_rows(engine, Deal, "deal_id", "status", "closed_at", "amount", "lead_id", "lost_reason")
        == stored
    )
    with engine.connect() as conn:
        segments = dict(conn.execute(select(Lead.lead_id, Lead.source)).all())
    assert segments[L1] == "Web" and segments[L3] == "Employee Referral"  # labels from OptionsetMetadata/


def test_a_bad_row_in_a_synapse_link_partition_is_named_by_its_file_line_and_id(
    engine, db_url, fake, tmp_path, capsys
):
    build_org(fake)
    lake = tmp_path / "lake"
    write_synapse_link(fake, lake)
    model = json.loads((lake / "model.json").read_text(encoding="utf-8"))
    columns = [a["name"] for e in model["entities"] if e["name"] == "lead" for a in e["attributes"]]
    second = lake / "lead" / "2026-11.csv"
    rows = list(csv.reader(second.open(encoding="utf-8")))
    bad = rows[1][0]  # the second row of the second file: the fourth lead
    rows[1][columns.index("statuscode")] = "Sleeping"
    with second.open("w", newline="", encoding="utf-8") as out:
        csv.writer(out).writerows(rows)
    assert main(["--db", db_url, "import", "--from", "dynamics", str(lake)]) == 1
    err = capsys.readouterr().err
    assert f"{second}:2 {bad}" in err and "'Sleeping' is not a choice's number" in err
    with engine.connect() as conn:
        assert conn.execute(select(LeadStageEvent.lead_id)).first() is None  # both lead files refused whole
        assert len(conn.execute(select(Lead.lead_id)).all()) == 4
    (lake / "lead" / "2026-10.csv").unlink()
    assert main(["--db", db_url, "import", "--from", "dynamics", str(lake)]) == 2
    assert "lead's data file https://contoso.dfs.core.windows.net/dataverse-contoso/lead/2026-10.csv" in (
        capsys.readouterr().err
    )
