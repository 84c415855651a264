"""``validate_run``: check a run folder against ``docs/reference/needle_run_format.md`` §9.

Streams every file once (JSONL line by line; only numeric per-node arrays such as the
values of each facet are kept) and returns a ``Report``: issues with file, line and rule
id (``[9.2-11]`` is rule 11 of section 9.2), plus counts.

Severity policy: rules the spec tags [F], [V] or [C] are errors; [R] and empirical rules
are warnings, as are the known variants of §10 (missing optional files, edge-type drift).
For multi-dimension nodes the *per-facet* reading of the peer statistics is itself [R]
(the real files were never available), so recomputing a facet's statistics from its
entities is a warning there, while the self-consistency of each record (its z-score
against its own peer mean/std, its label against its value, ...) stays an error.

The checks run in this order, each keeping in the ``RunState`` what later ones need:
``structure`` (§9.1), ``node_checker`` (§9.1-9.4), ``contributions`` (§9.5),
``classifications`` (§9.6).
"""

from __future__ import annotations

from pathlib import Path

from quality_compass.synth.validate.classifications import ClassificationChecker
from quality_compass.synth.validate.contributions import check_contributions
from quality_compass.synth.validate.node_checker import check_node_files
from quality_compass.synth.validate.report import Report
from quality_compass.synth.validate.state import RunState
from quality_compass.synth.validate.structure import StructureChecker


def validate_run(run_dir: Path) -> Report:
    """Validate one run folder; never raises for bad content (only for a missing folder)."""
    state = RunState(run_dir)
    StructureChecker(state).run()
    if state.nodes:
        check_node_files(state)
    check_contributions(state)
    ClassificationChecker(state).run()
    return state.report
