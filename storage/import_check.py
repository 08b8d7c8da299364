"""Checking import rows: first each row on its own, then a batch of rows against the store.

`RowChecker.parse` reads every cell of one row (all problems of the row, not just the first), checks dates against
each other and spots an id already used earlier in the file. `RowChecker.resolve` then asks the store once per batch
whether the referenced users, leads, accounts … exist, whether a unique chat id is taken, and converts foreign
currency at the `fx_rates` rate of the row's day.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from storage.import_lookup import StoreLookup
from storage.import_rules import TableRules
from storage.import_sources import Record
from storage.import_values import BadValue, currency_code

__all__ = ["Checked", "RowChecker"]

_CENT = Decimal("0.01")


@dataclass(slots=True)
class Checked:
    """One row after checking: the values to store (None where a cell was bad) and every problem found."""

    record: Record
    row: dict[str, Any]
    present: tuple[str, ...]  # the table's columns the row names; an update leaves the others as they are
    currency: str | None = None
    problems: list[tuple[str, Any, str]] = field(default_factory=list)  # (column, value as given, reason)


class RowChecker:
    """Checks the rows of one file, in order; remembers ids already seen so duplicates are caught."""

    def __init__(self, rules: TableRules, org_currency: str, lookup: StoreLookup) -> None:
        self.rules = rules
        self.org_currency = org_currency.upper()
        self.lookup = lookup
        self._seen: dict[Any, int] = {}  # key -> line of its first row
        self._good_ids: set[str] = set()  # ids of accepted rows, for references within the file (manager_id)
        self._unique_seen: dict[tuple[str, Any], tuple[str, int]] = {}
        self._names = tuple(c.name for c in rules.columns)
        self._columns = tuple((c.name, c.parse, c.required, c.default) for c in rules.columns)
        self._single_key = rules.key[0] if len(rules.key) == 1 else None
        self._self_refs = rules.self_refs
        self._present: dict[tuple[str, ...], tuple[str, ...]] = {}

    def parse(self, record: Record) -> Checked:
        """Read and check one row on its own."""
        values = record.values
        keys = tuple(values)
        present = self._present.get(keys)
        if present is None:
            present = self._present[keys] = tuple(name for name in self._names if name in values)
        checked = Checked(record, {}, present)
        problems, row = checked.problems, checked.row
        if record.problem:
            # A row that cannot be read as a row has no cells worth judging one by one.
            problems.append((record.problem_column, "", record.problem))
            return checked
        stray = values.get("")
        if stray not in (None, ""):
            problems.append(("", stray, "a value in a column without a header"))
        for name, parse, required, default in self._columns:
            raw = values.get(name)
            if type(raw) is str:
                raw = raw.strip()
            if raw is None or raw == "":
                if required:
                    problems.append((name, "", "missing a required value"))
                row[name] = default
                continue
            try:
                row[name] = parse(raw)
            except BadValue as exc:
                problems.append((name, raw, str(exc)))
                row[name] = None
        if self.rules.money:
            self._read_currency(checked, values.get("currency"))
        if not problems:
            for check in self.rules.checks:
                problems.extend((column, values.get(column), reason) for column, reason in check(row))
        self._check_duplicate(checked)
        return checked

    def _read_currency(self, checked: Checked, raw: Any) -> None:
        if isinstance(raw, str):
            raw = raw.strip()
        if raw is None or raw == "":
            return
        try:
            code = currency_code(raw)
        except BadValue as exc:
            checked.problems.append(("currency", raw, str(exc)))
            return
        if code != self.org_currency:
            checked.currency = code

    def _check_duplicate(self, checked: Checked) -> None:
        row = checked.row
        if self._single_key:
            key: Any = row[self._single_key]
        else:
            key = tuple(row[name] for name in self.rules.key)
            if None in key:
                return
        if key is None:
            return
        first = self._seen.setdefault(key, checked.record.line)
        if first != checked.record.line:
            shown = key if self._single_key else ", ".join(f"{name}={row[name]}" for name in self.rules.key)
            column = self._single_key or ""
            checked.problems.append((column, shown, f"duplicate of the row on line {first}"))

    def resolve(self, batch: list[Checked]) -> None:
        """Check references, unique values and currencies of a batch against the store, in file order."""
        rules = self.rules
        wanted: dict[str, set[str]] = {}
        for checked in batch:
            for ref in rules.refs:
                value, target = checked.row.get(ref.column), ref.target_for(checked.row)
                if value and target:
                    wanted.setdefault(target, set()).add(value)
        found = {target: self.lookup.existing_ids(target, ids) for target, ids in wanted.items()}
        holders = {
            column: self.lookup.holders(
                rules.table, column, {c.row[column] for c in batch if c.row.get(column) is not None}
            )
            for column in rules.unique
        }
        for checked in batch:
            row, problems = checked.row, checked.problems
            for ref in rules.refs:
                value, target = row.get(ref.column), ref.target_for(row)
                if not value or not target:
                    continue
                if value not in found[target] and not (target == rules.table and value in self._good_ids):
                    problems.append((ref.column, value, f"unknown id: no such row in {target}"))
            for column in rules.unique:
                self._check_unique(checked, column, holders[column])
            if checked.currency and not problems:
                self._convert(checked)
            if self._self_refs and not problems and self._single_key:
                self._good_ids.add(row[self._single_key])

    def _check_unique(self, checked: Checked, column: str, holders: dict[Any, str]) -> None:
        value = checked.row.get(column)
        if value is None or not self._single_key:
            return
        owner = checked.row[self._single_key]
        holder = holders.get(value)
        if holder is not None and holder != owner:
            checked.problems.append((column, value, f"already belongs to {holder}"))
            return
        first_owner, first_line = self._unique_seen.setdefault((column, value), (owner, checked.record.line))
        if first_owner != owner:
            checked.problems.append((column, value, f"already given to {first_owner} on line {first_line}"))

    def _convert(self, checked: Checked) -> None:
        money, row, code = self.rules.money, checked.row, checked.currency
        assert money is not None and code is not None
        if not money.applies(row):
            checked.problems.append(
                (
                    "currency",
                    code,
                    f"a {row.get('metric')} target is a count, not money; leave currency empty",
                )
            )
            return
        if row[money.column] is None:
            return
        day = money.day_of(row, self.rules.zone)
        found = self.lookup.fx_rate(code, day)
        if found is None:
            when = f" on or before {day:%Y-%m-%d}" if day else ""
            checked.problems.append(
                (
                    "currency",
                    code,
                    f"no fx_rates rate for {code}{when}; import fx_rates first or give the amount in "
                    f"{self.org_currency}",
                )
            )
            return
        row[money.column] = (row[money.column] * found[1]).quantize(_CENT, rounding=ROUND_HALF_UP)
