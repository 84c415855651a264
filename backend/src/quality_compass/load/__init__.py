"""Loading a run into the raw tables: line checks, scanning, COPY, the one-run transaction.

``loader.load_run`` is the entry point; ``records`` holds the per-line checks, ``scanner``
turns files into COPY rows, ``transaction`` writes them in named steps, ``runs`` lists,
drops and prunes loaded runs, ``report`` holds what a load reports.
"""
