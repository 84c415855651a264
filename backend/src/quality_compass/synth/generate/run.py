"""``generate_run``: one synthetic run folder, written atomically.

The run is written into ``.<run_id>.partial`` next to its final place and renamed when
complete, because runs are discovered by folder name. ``--target-size`` first writes a
small pilot run to measure bytes per facility.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from quality_compass.synth.generate.options import (
    GenerateError,
    GenerateOptions,
    GenerateResult,
    check_options,
    default_run_id,
)
from quality_compass.synth.generate.run_writer import RunWriter
from quality_compass.synth.generate.taxonomy import Taxonomy, resolve_sets

#: Facilities of the sizing pilot run.
PILOT_FACILITIES = 60


def facilities_for_target(options: GenerateOptions, taxonomy: Taxonomy) -> int:
    """Facilities that make the run's JSONL total about ``target_size`` bytes.

    Rule: generate a pilot run with 60 facilities (same options) into a temporary folder,
    measure its JSONL bytes, and scale linearly (every file grows with the facility count).
    """
    assert options.target_size is not None
    with tempfile.TemporaryDirectory(prefix="qc-pilot-") as tmp:
        pilot = replace(
            options,
            out_dir=Path(tmp),
            facilities=PILOT_FACILITIES,
            target_size=None,
            graphviz=False,
            overwrite=True,
        )
        result = _generate(pilot, taxonomy)
    per_facility = result.jsonl_bytes / PILOT_FACILITIES
    return max(20, round(options.target_size / per_facility))


def generate_run(options: GenerateOptions) -> GenerateResult:
    """Write one synthetic run folder and return what was written."""
    check_options(options)
    taxonomy = Taxonomy.load()
    resolve_sets(taxonomy, options.group_by_sets)
    taxonomy.metric_ids(options.metrics)
    if options.target_size is not None:
        started = time.perf_counter()
        facilities = facilities_for_target(options, taxonomy)
        options = replace(options, facilities=facilities, target_size=None)
        result = _generate(options, taxonomy)
        result.pilot_seconds = time.perf_counter() - started - result.seconds
        return result
    return _generate(options, taxonomy)


def _generate(options: GenerateOptions, taxonomy: Taxonomy) -> GenerateResult:
    run_id = options.run_id or default_run_id(options.seed)
    run_dir = options.out_dir / options.graph / run_id
    if run_dir.exists():
        if not options.overwrite:
            raise GenerateError(f"{run_dir} already exists (use --overwrite to replace it)")
        shutil.rmtree(run_dir)
    staging = run_dir.parent / f".{run_id}.partial"
    if staging.exists():
        shutil.rmtree(staging)
    try:
        staging.mkdir(parents=True)
    except OSError as exc:
        raise GenerateError(f"cannot create {staging}: {exc.strerror}") from None
    try:
        writer = RunWriter(replace(options, run_id=run_id), taxonomy, staging)
        result = writer.write()
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    # The run appears complete or not at all: runs are discovered by folder name.
    staging.rename(run_dir)
    result.run_dir = run_dir
    return result
