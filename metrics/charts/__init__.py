"""Charts of metric results: one matplotlib Figure per chart on an Agg canvas, never pyplot; render.py chooses and
draws (`render_charts`), style.py is the look they share, the others draw by family."""
