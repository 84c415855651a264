"""Tooling for synthetic data: ``generate`` writes runs in the exact format, ``validate``
checks any run folder against the format's invariants
(``docs/reference/needle_run_format.md`` §9).
"""
