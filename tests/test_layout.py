"""The tree shows the architecture: small folders, and one command list that importing a module does not change."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import run_bot

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("storage", "metrics", "bot", "alerts")
FOLDERS = (*PACKAGES, "tests", "bench")
MAX_MODULES = 20


def test_no_folder_holds_more_than_twenty_modules():
    crowded = {}
    for package in FOLDERS:
        for folder in [ROOT / package, *(ROOT / package).rglob("*")]:
            if folder.is_dir() and folder.name != "__pycache__":
                modules = [p for p in folder.glob("*.py") if p.name != "__init__.py"]
                if len(modules) > MAX_MODULES:
                    crowded[str(folder.relative_to(ROOT))] = len(modules)
    assert crowded == {}


def test_importing_every_module_changes_neither_the_commands_nor_the_metrics():
    from metrics import catalogue

    commands_before = [c.name for c in run_bot.build_registry()]
    metrics_before = [m.name for m in catalogue.catalogue()]
    for package in PACKAGES:
        root = importlib.import_module(package)
        for module in pkgutil.walk_packages(root.__path__, f"{package}."):
            if ".migrations" not in module.name:
                importlib.import_module(module.name)
    assert [c.name for c in run_bot.build_registry()] == commands_before
    assert [m.name for m in catalogue.catalogue()] == metrics_before
    assert commands_before[:3] == ["funnel", "activity", "plan"] and commands_before[-1] == "bind"
