"""The Dockerfile, compose.yaml and the Grafana dashboard, read as files (no container engine runs the tests): a
slim multi-stage image that runs as a user without privileges with a health check, PostgreSQL beside it with a
volume and the migration first, secrets only as Docker secrets, and a dashboard that asks only for metrics kpibot
serves."""

from __future__ import annotations

import json
import re
import shlex

import yaml
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from storage.config.settings import load_settings
from storage.telemetry import telemetry
from tests.fixtures.run_bot_process import ROOT

SECRETISH = re.compile(r"TOKEN|SECRET|PASSWORD|DATABASE_URL", re.IGNORECASE)


def _instructions() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8").replace("\\\n", " ")
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def test_the_image_is_multi_stage_slim_unprivileged_and_checks_its_health():
    steps = _instructions()
    bases = [rest for word, rest in steps if word == "FROM"]
    assert len(bases) >= 2 and all("slim" in base for base in bases)
    final = max(i for i, (word, _) in enumerate(steps) if word == "FROM")
    run_stage = steps[final:]
    users = [rest for word, rest in run_stage if word == "USER"]
    assert users and users[-1] not in ("root", "0")
    assert any(word == "COPY" and rest.startswith("--from=build") for word, rest in run_stage)
    [health] = [rest for word, rest in run_stage if word == "HEALTHCHECK"]
    assert "/healthz" in health and "CMD" in health
    [entry] = [rest for word, rest in run_stage if word == "ENTRYPOINT"]
    assert json.loads(entry) == ["kpibot"]
    assert any(word == "RUN" and "fonts-dejavu" in rest for word, rest in run_stage)  # Cyrillic in charts


def test_no_secret_is_baked_into_the_image():
    for word, rest in _instructions():
        if word in ("ENV", "ARG"):
            for assignment in shlex.split(rest):
                name = assignment.partition("=")[0]
                assert not SECRETISH.search(name) or name == "DATABASE_URL" and "@" not in assignment, (
                    assignment
                )
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    assert {".git", ".venv", "kpibot.yaml", "*.db"} <= set(ignored)


def test_compose_runs_postgres_with_a_volume_the_migration_first_and_secrets_as_files():
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))
    services = compose["services"]
    assert services["db"]["image"].startswith("postgres:")
    assert any(volume.endswith(":/var/lib/postgresql/data") for volume in services["db"]["volumes"])
    assert services["migrate"]["command"] == ["db", "upgrade"]
    assert services["bot"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    for name, service in services.items():
        for key, value in (service.get("environment") or {}).items():
            if SECRETISH.search(key) and key != "KPIBOT_SECRETS_DIR":  # that one is where they are
                assert key.endswith("_FILE") or str(value).startswith("${"), f"{name}: {key} set in the file"
    assert services["bot"]["environment"]["KPIBOT_SECRETS_DIR"] == "/run/secrets"
    assert {"database_url", "telegram_token"} <= set(services["bot"]["secrets"])
    assert all("file" in secret for secret in compose["secrets"].values())


def test_settings_are_read_from_a_secrets_directory_and_the_environment_wins(tmp_path, monkeypatch):
    (tmp_path / "telegram_token").write_text("123:from-a-file\n", encoding="utf-8")
    (tmp_path / "slack_bot_token").write_text("", encoding="utf-8")  # an empty file: Slack left out
    (tmp_path / "database_url").write_text("postgresql+psycopg://kpibot:pw@db/kpibot", encoding="utf-8")
    monkeypatch.setenv("KPIBOT_SECRETS_DIR", str(tmp_path))
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://kpibot:other@db/kpibot")
    monkeypatch.delenv("TELEGRAM_TOKEN", raising=False)
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    assert settings.telegram_token is not None
    assert settings.telegram_token.get_secret_value() == "123:from-a-file"
    assert settings.slack_bot_token is None
    assert settings.database_url == "postgresql+psycopg://kpibot:other@db/kpibot"


def test_the_dashboard_reads_only_metrics_kpibot_serves(engine):
    telemetry().watch_store(engine)
    served = (
        set()
    )  # what a query may name: a counter's `_total`, a histogram's `_bucket`, `_sum` and `_count`
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}
    for family in text_string_to_metric_families(generate_latest(telemetry().registry).decode()):
        served |= {family.name + suffix for suffix in suffixes[family.type]}
    dashboard = json.loads((ROOT / "docs" / "grafana-dashboard.json").read_text(encoding="utf-8"))
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    asked = {name for expr in exprs for name in re.findall(r"\bkpibot_\w+", expr)}
    assert asked and asked <= served, asked - served
    documented = set(re.findall(r"`(kpibot_\w+)`", (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")))
    assert documented and documented <= served | {name.removesuffix("_bucket") for name in served}
