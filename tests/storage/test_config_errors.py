"""A configuration kpibot cannot use stops every command with one line that names each refused setting by its
path — never pydantic's dump of the values around it, which may hold a secret — and exit code 2."""

from __future__ import annotations

import pytest

from run_bot import main

SECRET = "pw-7f3a9c"


@pytest.fixture
def environment(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/kpibot.db?password={SECRET}")
    monkeypatch.setenv("TELEGRAM_TOKEN", f"123:{SECRET}")
    return tmp_path


@pytest.mark.parametrize(
    ("yaml_text", "said"),
    [
        (
            "crm:\n  hubspot:\n    lead_stages:\n      x: nonsense\n",
            "crm.hubspot.lead_stages.x: 'nonsense' is not a funnel stage; choose one of lead, mql, sal, sql, "
            "opportunity, won, lost, disqualified",
        ),
        (
            "delivery:\n  max_attempts: lots\nchat:\n  chart_workers: -1\n",
            "delivery.max_attempts: Input should be a valid integer, unable to parse string as an integer; "
            "chat.chart_workers: Input should be greater than or equal to 0",
        ),
        (
            "org: [\n",
            "kpibot.yaml: not valid YAML at line 2, column 1: expected the node content, but found '<stream end>'",
        ),
        ("- org\n", "kpibot.yaml: expected sections (org:, digests:, …), found list"),
    ],
)
def test_a_bad_configuration_is_one_line_naming_each_setting_and_no_secret(
    environment, capsys, yaml_text, said
):
    (environment / "kpibot.yaml").write_text(yaml_text, encoding="utf-8")
    assert main(["syncs"]) == 2
    err = capsys.readouterr().err
    assert err == f"kpibot: bad configuration: {said}\n"
    assert SECRET not in err
