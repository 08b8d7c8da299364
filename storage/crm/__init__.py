"""CRM connectors: data straight from the CRM a team runs, through one mapping layer.

mapping.py declares how a CRM's objects become kpibot's canonical tables (fields → columns, picklist values →
funnel stages and deal statuses); each CRM module (salesforce.py, dynamics.py, sugarcrm.py) holds its default mapping
and its API client; sync.py reads a connector incrementally — a watermark per object, deletions applied, every run
logged in `sync_runs` — and writes every row through the same checks and upserts as `kpibot import`
(storage/importing/); exports.py reads a CRM's own export files through the same mapping; runs.py reads the log
back (the admins' `/syncs`; how fresh the data is, storage/freshness.py).
"""
