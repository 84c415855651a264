"""Synthetic Project Needle runs in the exact on-disk format of real runs.

``run.generate_run`` writes ``<out_dir>/<graph>/<run_id>/`` with every file kind of
``docs/reference/needle_run_format.md`` §1 (container style). The numbers follow the
format's formulas (peer statistics per facet, trends, anomaly tiers, contributions,
classifications), so a generated run passes ``qc validate`` and can feed the loader and
the dbt models at any scale. Design: ``docs/architecture/synthetic_runs.md``.

The data, from the bottom up: ``taxonomy`` and ``graph`` (what nodes exist), ``universe``
and ``entities`` (facilities, their dimension values and volumes), ``metric_model``
(monthly values), ``peer_stats`` (every statistic, with ``needle.formulas``),
``classify`` (signal types). The files: ``run_writer.RunWriter`` orchestrates
``config_files``, ``node_files`` (with ``node_header``, ``aggregate_lines``,
``trend_lines``), ``classification_files``, ``contribution_files`` and ``index_files``;
``json_text`` keeps the engine's exact number and string format, ``clock`` its
timestamps, ``texts`` its words.

Every random stream is derived from ``(seed, purpose, names...)``, so the same seed and
options give byte-identical output, and adding a group-by set does not change the data
of the others.

A series (``--series N``): ``series.generate_series`` writes N runs one month apart;
``series_model.SeriesStep`` gives a later run's entities and values (the first run's
model continued month by month, facilities drifting, turning and missing runs), which
``computation.NodeComputation`` uses in place of the first run's.
"""
