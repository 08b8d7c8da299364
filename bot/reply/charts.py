"""A reply's charts as PNGs, drawn in worker processes when the server has them.

Drawing a chart is pure Python that holds the interpreter lock for 30–200 ms; fifty questions at once in one process
then wait for each other's charts, and the event loop (webhooks, the scheduler) waits with them. A server therefore
draws in `chat.chart_workers` processes of their own (`start_chart_workers`, at start; `stop_chart_workers` at
the end): the answering thread hands over the result and the asker's language and currency — plain data — and
waits for the images without holding the lock. Without workers (the console chat, `chat.chart_workers: 0`) the
charts are drawn in the answering thread. Either way a chart that fails is logged and left out, never blocking the
text, and a worker that dies is replaced for the next reply.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import signal
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime

from bot.reply.formatting import Formatter
from bot.reply.messages import Chart
from metrics.result import MetricResult

__all__ = ["draw_charts", "render_charts_safely", "start_chart_workers", "stop_chart_workers"]

log = logging.getLogger(__name__)

_lock = threading.Lock()
_pool: ProcessPoolExecutor | None = None
_workers = 0


def draw_charts(
    result: MetricResult, locale: str, currency: str, now: datetime | None, measure: str | None
) -> tuple[Chart, ...]:
    """The result's charts in `locale` and `currency`, what is still in progress at `now` marked; `measure`: the
    leaderboard's chart of it. Runs in a worker process (its arguments and answer are plain data) or in place."""
    from metrics.charts.render import render_charts

    fmt = Formatter(locale, currency)
    images = render_charts(
        result,
        locale=locale,
        translate=lambda text: fmt.t(f"chart.{text}", text),
        words=lambda key, english: fmt.t(key, english),
        currency=currency,
        now=now,
        measure=measure,
    )
    return tuple(
        Chart(filename=image.filename, png=image.png, caption=image.title, alt_text=image.title)
        for image in images
    )


def _worker_start() -> None:
    """In each worker, first: leave SIGINT and SIGTERM to the server (a Ctrl-C or a stop sent to the whole group
    must not kill a chart the answer in flight waits for: the server ends its workers itself)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def _warm() -> None:
    """One a worker at start, so the workers are up before the first question: a small figure drawn with Latin and
    Cyrillic text, so the fonts are loaded and their glyphs cached too."""
    from metrics.charts.style import new_figure, to_png

    fig = new_figure((2.0, 1.0))
    fig.text(0.1, 0.5, "Revenue 1,234 · Выручка 1 234 %")
    to_png(fig)


def _new_pool(workers: int) -> ProcessPoolExecutor:
    # Workers fork from a server process of their own that imported matplotlib and the charts once (a second) —
    # never from this one, whose threads hold locks and connections.
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["metrics.charts.render"])
    return ProcessPoolExecutor(workers, mp_context=context, initializer=_worker_start)


def start_chart_workers(workers: int) -> None:
    """Draw charts in `workers` processes from now on (0: in the answering thread). They start in the background
    (the first time in a process about a second, matplotlib's import), so the server's start does not wait for
    them and the first question finds them up."""
    global _pool, _workers
    stop_chart_workers()
    if workers <= 0:
        return
    with _lock:
        _workers = workers
        _pool = pool = _new_pool(workers)
    threading.Thread(
        target=_start_each, args=(pool, workers), name="kpibot-chart-workers", daemon=True
    ).start()


def _start_each(pool: ProcessPoolExecutor, workers: int) -> None:
    with contextlib.suppress(RuntimeError):  # stopped meanwhile
        for _ in range(workers):
            pool.submit(_warm)


def stop_chart_workers() -> None:
    """Let the charts being drawn finish, then end the workers; later charts are drawn in place."""
    global _pool, _workers
    with _lock:
        pool, _pool, _workers = _pool, None, 0
    if pool is not None:
        pool.shutdown(wait=True, cancel_futures=True)


def _the_pool() -> ProcessPoolExecutor | None:
    global _pool
    with _lock:
        if _pool is None and _workers:
            _pool = _new_pool(_workers)
        return _pool


def _replace_broken(broken: ProcessPoolExecutor) -> None:
    global _pool
    with _lock:
        if _pool is not broken:
            return  # another answer replaced it already, or the workers were stopped
        log.warning("a chart worker died; the next chart starts a new one")
        _pool = None
    broken.shutdown(wait=False, cancel_futures=True)


def render_charts_safely(
    result: MetricResult, fmt: Formatter, *, now: datetime | None = None, measure: str | None = None
) -> tuple[Chart, ...]:
    """The result's charts as PNGs in the asker's language and currency (see `draw_charts`), drawn by a worker when
    there are any; a chart that fails is logged and left out, never blocking the text."""
    pool = _the_pool()
    try:
        if pool is None:
            return draw_charts(result, fmt.locale, fmt.currency, now, measure)
        try:
            return pool.submit(draw_charts, result, fmt.locale, fmt.currency, now, measure).result()
        except BrokenProcessPool:
            _replace_broken(pool)
            raise
        except RuntimeError:  # the workers were stopped between the lookup and the submit: draw in place
            if _pool is pool:
                raise
            return draw_charts(result, fmt.locale, fmt.currency, now, measure)
    except Exception:
        log.exception("chart of %s failed to render; sending the text without it", result.metric)
        return ()
