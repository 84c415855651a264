"""Quality Compass: load Project Needle runs into PostgreSQL and build the dbt marts.

Section references in this package (``§5.2``, rule ids such as ``9.2-11``) point to the
run format specification, ``docs/reference/needle_run_format.md``.
"""

__version__ = "0.2.0"
