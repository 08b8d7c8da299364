"""Charts of metric results: one matplotlib Figure per chart on an Agg canvas, never pyplot.

render.py chooses and draws (`render_charts`) as a ChartRequest (request.py) asks; context.py holds the reader's
words and number formats, buckets.py names periods, style.py is the look every chart shares, bars.py the labelled
bars several charts are built of, and legibility.py checks that a drawn chart reads; sales, plan, cohorts, money
and breakdown draw by family."""
