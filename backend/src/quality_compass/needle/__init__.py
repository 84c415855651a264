"""The Project Needle run format (``docs/reference/needle_run_format.md``) in one place.

``layout`` (paths in a run folder), ``vocabulary`` and ``methods`` (the format's words),
``conventions`` (timestamps, identifiers), ``formulas`` (the statistics every run obeys),
``documents`` and ``run_folder`` (finding a run and taking inventory of its files).
The loader, the generator, the validator and the tests all import from here.
"""
