"""The demo organisation: a deterministic, realistic sales org (people, leads, deals, activities, plans …) for the
console chat and the benchmark; generate.py is the door (`generate_demo`), cli.py `kpibot demo`."""
