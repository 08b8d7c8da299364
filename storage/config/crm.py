"""The `crm:` section of kpibot.yaml: how often to sync, when data counts as stale, who the admins are, and each
CRM's mapping overrides (a custom stage field, custom status values, other field names).

    crm:
      sync_every: 15m
      stale_after: 2h      # deprecated: data.stale_after (storage/config/data.py) wins when set
      admins: [ann@example.com]
      salesforce:
        lead_stage_field: Lead_Stage__c
        lead_stages: {"Marketing Qualified": mql, "Sales Accepted": sal}
        fields: {Lead: {source: Lead_Channel__c}}
      dynamics:
        lead_stages: {"Sales Accepted": sal}
        fields: {leads: {source: new_channel}}
      sugarcrm:
        api_version: "11_20"
        lead_stages: {"Sales Accepted": sal}
        export_date_format: d.m.Y      # the exporting user's preferences (Profile → Advanced), for export files
        export_time_format: H:i
        export_timezone: Europe/Berlin
      bitrix24:
        lead_stages: {UC_A1B2C3: sal}  # a portal's own lead status, by id or by name
        reconcile_every: 6h            # how often deleted records are looked for (0: every sync)
      hubspot:
        lead_stages: {"1234567": sal}   # a custom lifecycle stage's internal value
        export_timezone: Europe/Berlin  # the exporting user's time zone, for export files
      pipedrive:
        lead_stages: {"Qualified": sql}   # a lead's label name -> a funnel stage
        managers: {rob@example.com: mia@example.com}
      amocrm:
        lead_stages: {"Квалифицирован": sql, "41234567": mql}   # by status name or id
        group_managers: {"Отдел продаж": mia@example.com}      # a group's users report to its manager

Secrets (client secrets, tokens, private keys) never live here: they come from the environment only.
"""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = [
    "CrmSettings",
    "CrmOverrides",
    "DynamicsSettings",
    "HubspotSettings",
    "SalesforceSettings",
    "SugarcrmSettings",
    "Bitrix24Settings",
    "PipedriveSettings",
    "AmocrmSettings",
    "parse_every",
    "php_to_strptime",
]


def export_zone(value: str | None, key: str) -> str | None:
    """An export's time zone as written (None: the org's); one that is not a zone is a ValueError naming `key`."""
    if value is None:
        return None
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"{key}: {value!r} is not a time zone (e.g. Europe/Berlin, UTC)") from exc
    return value


def parse_every(text: str | int | float | timedelta) -> timedelta:
    """`15m`, `2h`, `1d`, `90s` (or a number of minutes) → a timedelta."""
    if isinstance(text, timedelta):
        return text
    if isinstance(text, int | float):
        return timedelta(minutes=float(text))
    units = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
    raw = str(text).strip().lower()
    if raw[-1:] not in units or not raw[:-1].replace(".", "", 1).isdigit():
        raise ValueError(f"{text!r} is not a duration like 15m, 2h or 1d")
    return timedelta(**{units[raw[-1]]: float(raw[:-1])})


# Sugar's date and time preferences are PHP date() formats (its `date_formats` / `time_formats` choices: `m/d/Y`,
# `d.m.Y`, `Y-m-d`, … and `H:i`, `h:ia`, `h:i A`, `H.i`, …); each letter kpibot reads, as a strptime directive.
_PHP_DATE = {"Y": "%Y", "y": "%y", "m": "%m", "n": "%m", "d": "%d", "j": "%d"}
_PHP_TIME = {"H": "%H", "G": "%H", "h": "%I", "g": "%I", "i": "%M", "s": "%S", "a": "%p", "A": "%p"}


def php_to_strptime(fmt: str, key: str, *, time: bool = False) -> str:
    """A Sugar (PHP date()) date format, or with `time` a time format, as a strptime format; a letter Sugar's
    formats do not use, or a part missing, is a ValueError naming `key`."""
    letters = _PHP_TIME if time else _PHP_DATE
    out = []
    for char in fmt:
        if char.isalpha():
            if char not in letters:
                raise ValueError(
                    f"{key}: {fmt!r} has {char!r}, not a letter of Sugar's {'time' if time else 'date'} formats "
                    f"(PHP date() letters {', '.join(letters)}; e.g. {'h:ia or H:i' if time else 'm/d/Y or d.m.Y'})"
                )
            out.append(letters[char])
        else:
            out.append("%%" if char == "%" else char)
    converted = "".join(out)
    needed = (("%H", "%I"), ("%M",)) if time else (("%Y", "%y"), ("%m",), ("%d",))
    for part in needed:
        if sum(converted.count(d) for d in part) != 1:
            raise ValueError(
                f"{key}: {fmt!r} must hold exactly one "
                f"{'hour (H or h) and minute (i)' if time else 'year (Y), month (m) and day (d)'}"
            )
    if ("%I" in converted) != ("%p" in converted):
        raise ValueError(f"{key}: {fmt!r} takes a 12-hour clock (h) with am/pm (a or A), or H without either")
    return converted


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CrmOverrides(_Section):
    """What a team changes in a CRM's default mapping. `fields`: per CRM object, canonical column → CRM field;
    `lead_stages` / `deal_status`: CRM picklist value → funnel stage / deal status (added to the defaults)."""

    lead_stage_field: str | None = None
    lead_stages: dict[str, str] = Field(default_factory=dict)
    fields: dict[str, dict[str, str]] = Field(default_factory=dict)


class SalesforceSettings(CrmOverrides):
    api_version: str = "60.0"
    page_size: int = 2000  # records per query page asked for (Sforce-Query-Options batchSize, 200…2000)
    # The JWT bearer flow's `aud`: Salesforce expects its login URL (https://login.salesforce.com, or
    # https://test.salesforce.com for a sandbox); by default the instance URL's origin.
    jwt_audience: str | None = None

    @field_validator("api_version")
    @classmethod
    def _version(cls, value: str) -> str:
        major, _, minor = value.partition(".")
        if not (major.isdigit() and minor.isdigit()):
            raise ValueError(f"api_version must look like 60.0, not {value!r}")
        return value


class DynamicsSettings(CrmOverrides):
    """Microsoft Dynamics 365 (the Dataverse Web API): `fields` are keyed by entity set (`leads`, `opportunities`),
    `lead_stages` by a lead's status reason, its number (`"2"`) or its label (`Contacted`)."""

    api_version: str = "9.2"
    page_size: int = 500  # records per page asked for (Prefer: odata.maxpagesize, 1…5000)

    @field_validator("api_version")
    @classmethod
    def _version(cls, value: str) -> str:
        major, _, minor = value.partition(".")
        if not (major.isdigit() and minor.isdigit()):
            raise ValueError(f"api_version must look like 9.2, not {value!r}")
        return value

    @field_validator("page_size")
    @classmethod
    def _page(cls, value: int) -> int:
        if not 1 <= value <= 5000:
            raise ValueError(f"page_size must be from 1 to 5000, not {value}")
        return value


class SugarcrmSettings(CrmOverrides):
    api_version: str = "11_20"  # the REST path's version: /rest/v11_20/ (Sugar 13 and later answer it)
    page_size: int = 200  # records per filter page asked for (max_num; the server may cap it lower)
    # How the user who exported wrote dates and times (Sugar's export writes them in that user's preferences and
    # time zone): PHP date() letters as Sugar's preferences hold them; the time zone by default the org's.
    export_date_format: str = "m/d/Y"  # Sugar's default user preference (default_date_format)
    export_time_format: str = "h:ia"  # Sugar's default user preference (default_time_format): 09:00am
    export_timezone: str | None = None

    @field_validator("export_date_format")
    @classmethod
    def _date_format(cls, value: str) -> str:
        php_to_strptime(value, "crm.sugarcrm.export_date_format")
        return value

    @field_validator("export_time_format")
    @classmethod
    def _time_format(cls, value: str) -> str:
        php_to_strptime(value, "crm.sugarcrm.export_time_format", time=True)
        return value

    @field_validator("export_timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        return export_zone(value, "crm.sugarcrm.export_timezone")

    @field_validator("api_version")
    @classmethod
    def _version(cls, value: str) -> str:
        major, _, minor = value.removeprefix("v").partition("_")
        if not (major.isdigit() and (minor.isdigit() or not minor)):
            raise ValueError(f"api_version must look like 11_20 (or 11), not {value!r}")
        return value.removeprefix("v")

    @field_validator("page_size")
    @classmethod
    def _page(cls, value: int) -> int:
        if not 1 <= value <= 1000:
            raise ValueError(f"page_size must be between 1 and 1000, not {value}")
        return value


class Bitrix24Settings(CrmOverrides):
    """Bitrix24 (the REST API through an inbound webhook): `fields` are keyed by object (`lead`, `deal`, `company`,
    `activity`), `lead_stages` by a lead status's id (`IN_PROCESS`, `UC_A1B2C3`) or its name."""

    reconcile_every: timedelta = timedelta(hours=6)  # ids compared with the portal's, for deletions
    export_timezone: str | None = None  # the zone an export's dates are written in (by default the org's)

    @field_validator("reconcile_every", mode="before")
    @classmethod
    def _every(cls, value: object) -> timedelta:
        if value in (0, "0"):
            return timedelta(0)
        return parse_every(value)  # type: ignore[arg-type]

    @field_validator("export_timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        return export_zone(value, "crm.bitrix24.export_timezone")


class HubspotSettings(CrmOverrides):
    """HubSpot: `fields` keyed by object type (`contacts`, `deals`), `lead_stages` by a lifecycle stage's internal
    value (`marketingqualifiedlead`, or a custom stage's id)."""

    page_size: int = 100  # records per search page asked for (`limit`, at most 200)
    searches_per_second: float = 4.0  # the search endpoints allow about five a second per account
    export_timezone: str | None = None  # the exporting user's time zone (export files); by default the org's

    @field_validator("page_size")
    @classmethod
    def _page(cls, value: int) -> int:
        if not 1 <= value <= 200:
            raise ValueError(f"page_size must be from 1 to 200, not {value}")
        return value

    @field_validator("export_timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        return export_zone(value, "crm.hubspot.export_timezone")


class PipedriveSettings(CrmOverrides):
    """Pipedrive: `fields` keyed by object (`deals`, `leads`, `activities`, `organizations`, `users`; a custom
    field by its key), `lead_stages` by a lead's label name (`archived` for an archived lead)."""

    page_size: int = 500  # items per page asked for (`limit`, at most 500)
    # Pipedrive has no manager field: a user's email -> their manager's email.
    managers: dict[str, str] = Field(default_factory=dict)
    # How often organizations and activities deleted in Pipedrive are found (every id listed, compared).
    reconcile_every: timedelta = timedelta(days=1)

    @field_validator("reconcile_every", mode="before")
    @classmethod
    def _every(cls, value: object) -> timedelta:
        return parse_every(value)  # type: ignore[arg-type]

    @field_validator("page_size")
    @classmethod
    def _page(cls, value: int) -> int:
        if not 1 <= value <= 500:
            raise ValueError(f"page_size must be from 1 to 500, not {value}")
        return value


class AmocrmSettings(CrmOverrides):
    """amoCRM / Kommo: `fields` keyed by entity (`leads`, `companies`, `tasks`), `lead_stages` by a status's id
    (`"142"`) or name (`Переговоры`); `group_managers`: a group (отдел, by name or id) → its manager's email."""

    page_size: int = 250  # items per list page (limit, at most 250)
    requests_per_second: float = 7.0  # amoCRM's limit per integration
    group_managers: dict[str, str] = Field(default_factory=dict)
    export_timezone: str | None = None  # the zone of the export's dates (by default the org's)

    @field_validator("page_size")
    @classmethod
    def _page(cls, value: int) -> int:
        if not 1 <= value <= 250:
            raise ValueError(f"page_size must be from 1 to 250, not {value}")
        return value

    @field_validator("requests_per_second")
    @classmethod
    def _rate(cls, value: float) -> float:
        if not 0 < value <= 7:
            raise ValueError(
                f"requests_per_second must be above 0 and at most 7 (amoCRM's limit), not {value}"
            )
        return value

    @field_validator("export_timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError) as exc:
                raise ValueError(
                    f"crm.amocrm.export_timezone: {value!r} is not a time zone (e.g. Europe/Moscow)"
                ) from exc
        return value


class CrmSettings(_Section):
    sync_every: timedelta = timedelta(minutes=15)
    stale_after: timedelta = timedelta(hours=2)  # deprecated, the fallback of `data.stale_after`
    admins: tuple[str, ...] = ()  # by email: these CRM users become kpibot admins
    salesforce: SalesforceSettings = Field(default_factory=SalesforceSettings)
    dynamics: DynamicsSettings = Field(default_factory=DynamicsSettings)
    sugarcrm: SugarcrmSettings = Field(default_factory=SugarcrmSettings)
    bitrix24: Bitrix24Settings = Field(default_factory=Bitrix24Settings)
    hubspot: HubspotSettings = Field(default_factory=HubspotSettings)
    pipedrive: PipedriveSettings = Field(default_factory=PipedriveSettings)
    amocrm: AmocrmSettings = Field(default_factory=AmocrmSettings)

    @field_validator("sync_every", "stale_after", mode="before")
    @classmethod
    def _duration(cls, value: object) -> timedelta:
        return parse_every(value)  # type: ignore[arg-type]

    @field_validator("admins")
    @classmethod
    def _emails(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(email.strip().lower() for email in value)
