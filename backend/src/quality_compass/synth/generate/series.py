"""``generate_series``: N consecutive runs of one graph, one month apart (``--series N``).

Run k (0-based) of a series is the run of the same options with

* ``run_id`` = the first run id plus k calendar months (the day of the month kept, or the
  month's last day when it has fewer days: 20260131... then 20260228..., 20260331...);
  the run's timestamps derive from its run id, so ``started_at`` (the detected_at the
  warehouse orders runs by) is one month later per run too;
* ``end_period`` = the first run's last month plus k: the twelve-month window (``--months``)
  moves by one month per run;
* ``series_step`` = k: its data continue the first run's (``series_model``).

Run 0 is byte for byte the single run of the same options and seed. With
``--target-size`` the facility count is sized once, on the first run, and kept.
"""

from __future__ import annotations

import calendar
import time
from dataclasses import replace

from quality_compass.synth.generate.clock import add_months
from quality_compass.synth.generate.options import (
    GenerateError,
    GenerateOptions,
    GenerateResult,
    check_options,
    default_run_id,
)
from quality_compass.synth.generate.run import facilities_for_target, generate_run
from quality_compass.synth.generate.taxonomy import Taxonomy, resolve_sets

#: The most runs one series may have (ten years of monthly runs).
MAX_SERIES = 120


def shift_run_id(run_id: str, months: int) -> str:
    """A ``YYYYMMDDHHMMSS`` run id ``months`` calendar months later (day clamped)."""
    year, month = divmod(int(run_id[:4]) * 12 + int(run_id[4:6]) - 1 + months, 12)
    if not 1 <= year <= 9999:
        raise GenerateError(f"the series goes past the year 9999 from run id {run_id}")
    day = min(int(run_id[6:8]), calendar.monthrange(year, month + 1)[1])
    return f"{year:04d}{month + 1:02d}{day:02d}{run_id[8:]}"


def series_options(options: GenerateOptions, step: int) -> GenerateOptions:
    """The options of run ``step`` of the series that starts with ``options``."""
    first = options.run_id or default_run_id(options.seed)
    return replace(
        options,
        run_id=shift_run_id(first, step),
        end_period=add_months(options.end_period, step),
        series_step=step,
    )


def generate_series(options: GenerateOptions, count: int) -> list[GenerateResult]:
    """Write ``count`` consecutive runs of one graph (the first is ``options``' run)."""
    if not 1 <= count <= MAX_SERIES:
        raise GenerateError(f"--series must be between 1 and {MAX_SERIES}, got {count}")
    check_options(options)
    last = series_options(options, count - 1)  # a series past the year 9999 fails first
    check_options(last)
    if options.target_size is not None:
        taxonomy = Taxonomy.load()
        resolve_sets(taxonomy, options.group_by_sets)
        taxonomy.metric_ids(options.metrics)
        started = time.perf_counter()
        facilities = facilities_for_target(options, taxonomy)
        options = replace(options, facilities=facilities, target_size=None)
        pilot_seconds = time.perf_counter() - started
    else:
        pilot_seconds = 0.0
    results = [generate_run(series_options(options, step)) for step in range(count)]
    results[0].pilot_seconds = pilot_seconds
    return results
