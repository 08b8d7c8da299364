"""Checking import rows: first each row on its own, then a batch of rows against the store.

`RowChecker.parse` reads every cell of one row (all problems of the row, not just the first) and checks dates against
each other. `RowChecker.resolve` then, once per batch, spots ids already used earlier in the file, asks the store
whether the referenced users, leads, accounts … exist and whether a unique chat id is taken, and converts foreign
currency at the `fx_rates` rate of the row's day.

What the checker remembers from earlier batches (each key's first line, the rows it accepted, the unique values
it gave) is kept in a temporary SQLite file (`storage.importing.seen`), not in Python objects, so memory does not grow
with the file; within a batch small dicts do the work, and the file is asked once per batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from storage.importing.lookup import StoreLookup
from storage.importing.rules import TableRules
from storage.importing.seen import SeenRows, key_text
from storage.importing.sources import Record
from storage.importing.values import BadValue, currency_code

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
    """Checks the rows of one file, in order; remembers ids already seen so duplicates are caught.

    `close()` when the file is done: it removes the temporary file of what was seen.
    """

    def __init__(self, rules: TableRules, org_currency: str, lookup: StoreLookup) -> None:
        self.rules = rules
        self.org_currency = org_currency.upper()
        self.lookup = lookup
        # Keys, first lines, accepted ids (for references within the file: manager_id) and unique values given,
        # for the whole file; `_pending` holds the keys of the batch being parsed until `resolve` checks them.
        self._seen = SeenRows()
        self._pending: list[tuple[Checked, Any]] = []
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
        self._pending.append((checked, key))

    def _check_duplicates(self) -> None:
        """The batch's keys against each other and against every earlier batch, in one question to the file."""
        pending, self._pending = self._pending, []
        texts = [key_text(key) for _, key in pending]
        firsts: dict[str, int] = {}
        for (checked, _), text in zip(pending, texts, strict=True):
            firsts.setdefault(text, checked.record.line)
        firsts.update(self._seen.first_lines(firsts))
        for (checked, key), text in zip(pending, texts, strict=True):
            first = firsts[text]
            if first != checked.record.line:
                row = checked.row
                shown = (
                    key if self._single_key else ", ".join(f"{name}={row[name]}" for name in self.rules.key)
                )
                column = self._single_key or ""
                checked.problems.append((column, shown, f"duplicate of the row on line {first}"))

    def resolve(self, batch: list[Checked]) -> None:
        """Check duplicates, references, unique values and currencies of a batch against the store, in file order."""
        self._check_duplicates()
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
        # Accepted earlier in the file but perhaps not written (a bad row holds the whole file back): asked of the
        # file once for the batch; rows accepted within the batch are added as the loop goes.
        accepted: set[str] = set()
        if self._self_refs and self._single_key:
            unknown = {
                value
                for checked in batch
                for ref in rules.refs
                if ref.target_for(checked.row) == rules.table
                and (value := checked.row.get(ref.column))
                and value not in found[rules.table]
            }
            accepted = self._seen.accepted(unknown) if unknown else set()
        accepted_now: list[str] = []
        # Unique values given earlier in the file (asked once for the batch), and those this batch gives first.
        earlier = {column: self._given_earlier(batch, column) for column in rules.unique}
        given_now: dict[str, dict[Any, tuple[str, int]]] = {column: {} for column in rules.unique}
        for checked in batch:
            row, problems = checked.row, checked.problems
            for ref in rules.refs:
                value, target = row.get(ref.column), ref.target_for(row)
                if not value or not target:
                    continue
                if value not in found[target] and not (target == rules.table and value in accepted):
                    problems.append((ref.column, value, f"unknown id: no such row in {target}"))
            for column in rules.unique:
                self._check_unique(checked, column, holders[column], earlier[column], given_now[column])
            if checked.currency and not problems:
                self._convert(checked)
            if self._self_refs and not problems and self._single_key:
                accepted.add(row[self._single_key])
                accepted_now.append(row[self._single_key])
        if accepted_now:
            self._seen.accept(accepted_now)
        for column, holders_now in given_now.items():
            if holders_now:
                self._seen.give(column, holders_now)

    def _given_earlier(self, batch: list[Checked], column: str) -> dict[Any, tuple[str, int]]:
        """Who was given each of the batch's values of a unique column in earlier batches, and on which line."""
        values = {c.row[column] for c in batch if c.row.get(column) is not None}
        return self._seen.given(column, values) if values and self._single_key else {}

    def _check_unique(
        self,
        checked: Checked,
        column: str,
        holders: dict[Any, str],
        earlier: dict[Any, tuple[str, int]],
        given_now: dict[Any, tuple[str, int]],
    ) -> None:
        value = checked.row.get(column)
        if value is None or not self._single_key:
            return
        owner = checked.row[self._single_key]
        holder, given = holders.get(value), earlier.get(value)
        # A holder the file itself gave the value to a batch or more up is named with that line, on every backend:
        # PostgreSQL has written those rows by now, SQLite merges them only at the end.
        if holder is not None and holder != owner and not (given and given[0] == holder):
            checked.problems.append((column, value, f"already belongs to {holder}"))
            return
        first_owner, first_line = given or given_now.setdefault(value, (owner, checked.record.line))
        if first_owner != owner:
            checked.problems.append((column, value, f"already given to {first_owner} on line {first_line}"))

    def close(self) -> None:
        """The file is done: forget what was seen in it."""
        self._seen.close()

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
