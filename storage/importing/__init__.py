"""Import of CRM files into the canonical tables: read a file (sources.py), check each row (check.py, rules.py,
values.py, lookup.py, seen.py), write in batches (write.py); importer.py is the door (`import_file`), cli.py `kpibot import`, runs.py the log of imports."""
