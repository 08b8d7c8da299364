"""Settings: built once from the environment and `kpibot.yaml`, then passed in explicitly.

Secrets (tokens, signing secrets, the database URL) come only from the environment; everything about the
organisation (time zone, funnel, plans, digests, alert rules) comes from the YAML file.
"""

from __future__ import annotations

import os
from datetime import date, timedelta
from datetime import time as TimeOfDay
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, EnvSettingsSource, SettingsConfigDict

from storage.config.alerts import AlertRule, DigestsSettings, default_alert_rules, parse_local_time
from storage.config.crm import CrmSettings
from storage.config.data import DataSettings
from storage.config.milestones import MilestoneRule

__all__ = [
    "config_problem",
    "OrgSettings",
    "FunnelSettings",
    "Settings",
    "load_settings",
    "DEFAULT_DATABASE_URL",
    "DeliverySettings",
    "WorkingHours",
]

DEFAULT_DATABASE_URL = "sqlite:///kpibot.db"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OrgSettings(_Section):
    name: str = "Demo Sales Org"
    timezone: str = "UTC"
    currency: str = "USD"
    locale: Literal["en", "ru"] = "en"
    holidays: tuple[date, ...] = ()
    reps_see_org_totals: bool = False
    gross_margin: float = 1.0

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        ZoneInfo(value)  # raises for an unknown zone
        return value

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class FunnelSettings(_Section):
    stages: tuple[str, ...] = ("lead", "mql", "sal", "sql", "opportunity", "won")
    terminal_stages: tuple[str, ...] = ("lost", "disqualified")


class ActivitySettings(_Section):
    qualify_window_days: int = 7


class MarketingSettings(_Section):
    lag_days: int = 30


class RetentionSettings(_Section):
    window_days: int = 90


class RevenueSettings(_Section):
    source: Literal["deals", "orders"] = "deals"
    new_customer_days: int = 365


class ChatSettings(_Section):
    # Commands a minute each chat user may send (bursts up to half of it); 0 turns the limit off.
    rate_limit_per_minute: int = 30
    # Processes a server draws its replies' charts in, beside the one answering (0: in the answering thread).
    chart_workers: int = Field(default=2, ge=0, le=32)


class WorkingHours(_Section):
    """When a person is at work, in their own zone, on the organisation's working days (Monday to Friday, not
    `org.holidays`): alerts to a person outside these hours are held until the next start."""

    start: str = "08:00"
    end: str = "20:00"
    enabled: bool = True

    @field_validator("start", "end")
    @classmethod
    def _time(cls, value: str) -> str:
        parse_local_time(value)
        return value

    @model_validator(mode="after")
    def _order(self) -> WorkingHours:
        if parse_local_time(self.start) >= parse_local_time(self.end):
            raise ValueError(f"working_hours: start {self.start} must be before end {self.end}")
        return self

    @property
    def start_time(self) -> TimeOfDay:
        return parse_local_time(self.start)

    @property
    def end_time(self) -> TimeOfDay:
        return parse_local_time(self.end)


class DeliverySettings(_Section):
    catch_up_hours: int = 6
    max_attempts: int = 5
    lease_seconds: int = 120
    working_hours: WorkingHours = Field(default_factory=WorkingHours)


class _EnvWithoutSections(EnvSettingsSource):
    """The process environment, minus the kpibot.yaml sections: an unrelated variable such as `DATA=/srv/data` must
    not be read as the `data:` section (and fail to parse as one)."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        if field_name in _YAML_SECTIONS:
            return None, field_name, False
        return super().get_field_value(field, field_name)


class Settings(BaseSettings):
    """Everything kpibot needs to run; read `load_settings` for where each part comes from."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore", frozen=True)

    @classmethod
    def settings_customise_sources(
        cls, settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings
    ):  # type: ignore[override]
        return init_settings, _EnvWithoutSections(settings_cls), dotenv_settings, file_secret_settings

    @field_validator("*", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any, info: Any) -> Any:
        """An empty variable or secret file (`TELEGRAM_TOKEN=`) is a setting left out, not an empty token."""
        field = cls.model_fields.get(info.field_name)
        return None if value == "" and field is not None and field.default is None else value

    # From the environment only.
    database_url: str = DEFAULT_DATABASE_URL
    telegram_token: SecretStr | None = None
    telegram_webhook_url: str | None = None
    telegram_webhook_secret: SecretStr | None = None
    telegram_api_base_url: str | None = None
    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_base_url: str | None = None
    salesforce_instance_url: str | None = None
    salesforce_access_token: SecretStr | None = None
    salesforce_client_id: str | None = None
    salesforce_client_secret: SecretStr | None = None
    salesforce_username: str | None = None
    salesforce_private_key_file: str | None = None
    dynamics_url: str | None = None
    dynamics_tenant_id: str | None = None
    dynamics_client_id: str | None = None
    dynamics_client_secret: SecretStr | None = None
    dynamics_authority_url: str = "https://login.microsoftonline.com"
    sugarcrm_url: str | None = None
    sugarcrm_username: str | None = None
    sugarcrm_password: SecretStr | None = None
    sugarcrm_client_id: str = "sugar"
    sugarcrm_client_secret: SecretStr | None = None
    sugarcrm_platform: str = "base"
    bitrix24_webhook_url: SecretStr | None = None  # the inbound webhook's address: its secret is in the path
    hubspot_access_token: SecretStr | None = None
    hubspot_base_url: str | None = None
    pipedrive_api_token: SecretStr | None = None
    pipedrive_company_domain: str | None = None
    pipedrive_url: str | None = None
    amocrm_url: str | None = None
    amocrm_access_token: SecretStr | None = None
    amocrm_client_id: str | None = None
    amocrm_client_secret: SecretStr | None = None
    amocrm_refresh_token: SecretStr | None = None
    amocrm_redirect_uri: str | None = None
    kpibot_http_port: int = 3000
    kpibot_log_level: str = "WARNING"
    kpibot_log_format: Literal["text", "json"] = "text"  # json: one object a line, for a log shipper

    # From kpibot.yaml.
    org: OrgSettings = Field(default_factory=OrgSettings)
    funnel: FunnelSettings = Field(default_factory=FunnelSettings)
    activity: ActivitySettings = Field(default_factory=ActivitySettings)
    marketing: MarketingSettings = Field(default_factory=MarketingSettings)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)
    revenue: RevenueSettings = Field(default_factory=RevenueSettings)
    delivery: DeliverySettings = Field(default_factory=DeliverySettings)
    chat: ChatSettings = Field(default_factory=ChatSettings)
    digests: DigestsSettings = Field(default_factory=DigestsSettings)
    alerts: list[AlertRule] = Field(default_factory=default_alert_rules)
    milestones: list[MilestoneRule] = Field(default_factory=list)
    crm: CrmSettings = Field(default_factory=CrmSettings)
    data: DataSettings = Field(default_factory=DataSettings)

    @property
    def stale_after(self) -> timedelta:
        """How old the data may get before it is stale: `data.stale_after`, else the deprecated `crm.stale_after`."""
        return self.data.stale_after if self.data.stale_after is not None else self.crm.stale_after

    @model_validator(mode="after")
    def _crm_stages_are_funnel_stages(self) -> Settings:
        allowed = (*self.funnel.stages, *self.funnel.terminal_stages)
        for name, crm in self.crm:
            for value, stage in getattr(crm, "lead_stages", {}).items():
                if stage not in allowed:
                    raise ValueError(
                        f"crm.{name}.lead_stages.{value}: {stage!r} is not a funnel stage; "
                        f"choose one of {', '.join(allowed)}"
                    )
        return self


_YAML_SECTIONS = {
    "org",
    "funnel",
    "activity",
    "marketing",
    "retention",
    "revenue",
    "delivery",
    "chat",
    "digests",
    "alerts",
    "milestones",
    "crm",
    "data",
}


def load_settings(
    config_path: str | Path | None = None,
    env: dict[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    """Build the settings from `kpibot.yaml` (or `config_path`) and the environment (or `env`).

    A YAML file may hold only organisation settings; a secret found there is refused, so tokens never end up in a
    repository by accident.
    """
    path = Path(config_path) if config_path else Path("kpibot.yaml")
    file_values: dict[str, Any] = {}
    if path.exists():
        try:
            file_values = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark
            at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
            raise ValueError(f"{path}: not valid YAML{at}: {exc.problem}") from None
        if not isinstance(file_values, dict):
            raise ValueError(
                f"{path}: expected sections (org:, digests:, …), found {type(file_values).__name__}"
            )
        unknown = set(file_values) - _YAML_SECTIONS
        if unknown:
            raise ValueError(
                f"{path}: unknown section(s) {sorted(unknown)}; allowed: {sorted(_YAML_SECTIONS)}. "
                "Secrets and the database URL belong in the environment."
            )
    elif config_path:
        raise FileNotFoundError(f"config file {path} does not exist")
    values = {**file_values, **overrides}
    if env is None:
        # Docker secrets (or any directory of files named after the settings, `telegram_token`, `database_url`):
        # read when KPIBOT_SECRETS_DIR names the directory; a variable of the environment still wins.
        secrets_dir = os.environ.get("KPIBOT_SECRETS_DIR")
        if secrets_dir:
            if not Path(secrets_dir).is_dir():
                raise ValueError(f"KPIBOT_SECRETS_DIR {secrets_dir} is not a directory")
            return Settings(_secrets_dir=secrets_dir, **values)  # type: ignore[call-arg]
        return Settings(**values)
    # An explicit environment (tests, embedding): read only from it, never from the process.
    env_values = {
        k.lower(): v
        for k, v in env.items()
        if k.lower() in Settings.model_fields and k.lower() not in _YAML_SECTIONS
    }
    return Settings.model_validate({**env_values, **values})


def config_problem(exc: Exception) -> str:
    """What is wrong with the configuration, in one line: each refused setting by its path and why — never the
    values around it (pydantic's own message quotes the input, which may hold a secret)."""
    if isinstance(exc, ValidationError):
        problems = []
        for error in exc.errors(include_url=False, include_input=False):
            message = str(error["msg"]).removeprefix("Value error, ")
            where = ".".join(str(part) for part in error["loc"])
            problems.append(message if not where or message.startswith(where) else f"{where}: {message}")
        return "; ".join(problems)
    return " ".join(str(exc).split())
