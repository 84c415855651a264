"""``qc validate``: check a run folder against the format's invariants (§9).

The format: ``docs/reference/needle_run_format.md``.

``run.validate_run`` is the entry point; ``report`` holds the issues. The checks, in the
order they run: ``structure`` (§9.1), ``node_checker`` with ``anomaly_checks``,
``temporal_lines``, ``aggregate_facets`` and ``temporal_facets`` (§9.1-9.4),
``contributions`` (§9.5), ``classifications`` with ``classification_rules`` (§9.6).
``state`` is what they share; ``check_numbers`` how they compare numbers.
"""
