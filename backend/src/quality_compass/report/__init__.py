"""``qc report``: one self-contained HTML page with the signals of a run.

The page is built from the marts and the semantic layer only (``queries``), plus dbt's
artefacts for build health (``artefacts``); ``build`` assembles the data and ``render``
renders the page (jinja2, autoescaped; charts by the vendored Apache ECharts, inline) and
``writer`` writes it to a file.
Design record: docs/architecture/report.md.
"""
