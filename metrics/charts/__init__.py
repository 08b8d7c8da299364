"""Charts of metric results: one matplotlib Figure per chart on an Agg canvas, never pyplot. render.py chooses and
draws (`render_charts`); context.py holds the words and number formats of the reader,
buckets.py names periods, style.py is the look they share, legibility.py checks a drawn chart reads; the others
draw by family (sales, plan, cohorts, money, breakdown)."""
