"""``python -m quality_compass`` is the same as ``qc``."""

from quality_compass.cli import app

app(prog_name="qc")
