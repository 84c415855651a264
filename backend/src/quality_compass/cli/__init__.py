"""The ``qc`` command line: one module per command group, over the library.

``_app`` holds the Typer app, the consoles and the error handler; each command module
defines its commands (``db`` and ``load`` also their sub-apps ``qc db …``, ``qc runs …``);
``output`` draws what the commands print. The commands are registered here, in the order
``qc --help`` lists them: adding a command is one module and one line below.
"""

from quality_compass.cli import bench, db, load, pipeline, report, synth
from quality_compass.cli._app import app

app.command("load")(load.load)
app.command("demo")(pipeline.demo)
app.command("pipeline")(pipeline.pipeline)
app.command("report")(report.report)
app.command("bench")(bench.bench)
app.command("generate")(synth.generate)
app.command("validate")(synth.validate)
app.add_typer(db.db_app, name="db")
app.add_typer(load.runs_app, name="runs")

__all__ = ["app"]
