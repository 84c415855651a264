"""Text from the data and paths print as plain text, never as Rich markup (issue 10 E)."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from rich.console import Console
from typer.testing import CliRunner

from helpers import qc_env
from quality_compass.cli import app
from quality_compass.cli.output import (
    ConsolePipelineObserver,
    print_generate_result,
    print_load_report,
    print_runs,
)
from quality_compass.load.report import FileStats, LoadReport, Reject
from quality_compass.load.runs import LoadedRun
from quality_compass.synth.generate.options import GenerateResult
from quality_compass.warehouse.settings import DbSettings

#: Markup that raises MarkupError ([/] closes nothing), styles, links and emoji codes.
HOSTILE = "[/]g [bold]b[/bold] [link=http://x]l[/link] :smile:"
#: The same in a path (its slashes make folders; the path's text still holds every markup).
HOSTILE_PATH = "[/]g [bold]b[/bold] :smile:"


def _invoke(settings: DbSettings | None, *args: str) -> tuple[int, str, str]:
    env = qc_env(settings) if settings is not None else {}
    result = CliRunner().invoke(app, list(args), env=env)
    assert "Traceback" not in result.stderr and not isinstance(result.exception, SystemError)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def _flat(text: str) -> str:
    """Console output with the table padding and line breaks folded away."""
    return " ".join(text.split())


def test_graph_name_with_markup_loads_lists_and_drops(
    run_copy: Callable[..., Path], fresh_db: DbSettings
) -> None:
    run = run_copy()
    manifest = run / "run_manifest.semantic.json"
    document = orjson.loads(manifest.read_bytes())
    document["graph_name"] = HOSTILE
    manifest.write_bytes(orjson.dumps(document))

    code, out, err = _invoke(fresh_db, "load", str(run))
    assert code == 0, err
    assert HOSTILE in _flat(out)
    code, out, err = _invoke(fresh_db, "runs", "list")
    assert code == 0, err
    assert "[/]g [bold]b[/bold]" in _flat(out) and ":smile:" in out
    code, out, err = _invoke(fresh_db, "runs", "drop", run.name)
    assert code == 0, err


def test_paths_with_markup_load_and_fail_as_plain_text(
    tmp_path: Path, run_copy: Callable[..., Path], fresh_db: DbSettings
) -> None:
    run = run_copy(graph=HOSTILE_PATH)
    assert HOSTILE_PATH in str(run)
    code, out, err = _invoke(None, "load", "--dry-run", str(run))
    assert code == 0, err
    assert "valid" in out
    code, out, err = _invoke(fresh_db, "load", str(run))
    assert code == 0, err
    missing = tmp_path / HOSTILE_PATH / "20260101000000"
    code, out, err = _invoke(fresh_db, "load", str(missing))
    assert code == 2
    assert f"error: run folder not found: {missing}" in _flat(err)
    code, out, err = _invoke(None, "validate", str(missing))
    assert code != 0
    assert HOSTILE_PATH in _flat(out + err)


def test_rejects_and_warnings_with_markup_print_verbatim(run_copy: Callable[..., Path]) -> None:
    run = run_copy(graph=HOSTILE_PATH)
    node = run / "results" / "nodes" / "losIndex__medicareId__aggregate_time_period.jsonl"
    lines = node.read_bytes().split(b"\n")
    lines[4] = orjson.dumps({"entity": [{"id": HOSTILE, "value": {}}]})
    node.write_bytes(b"\n".join(lines))
    code, _, err = _invoke(None, "load", "--dry-run", str(run))
    assert code == 1
    assert "reject: results/nodes/losIndex__medicareId__aggregate_time_period.jsonl:5:" in err
    assert f"entity value of {HOSTILE!r} must be a scalar" in _flat(err)
    assert "warning: results/nodes/" in err


def _hostile_report(dry_run: bool) -> LoadReport:
    report = LoadReport(
        run_id=f"r{HOSTILE}", graph_name=HOSTILE, run_dir=Path(f"/x/{HOSTILE}"), dry_run=dry_run
    )
    report.warnings.append(f"warning about {HOSTILE}")
    report.files.append(
        FileStats(rel=f"results/nodes/{HOSTILE}.jsonl", kind="node", table="t", bytes=1)
    )
    report.rejects.append(Reject(f"results/nodes/{HOSTILE}.jsonl", 3, f"bad {HOSTILE}"))
    report.reject_count = 1
    report.pruned = [f"old{HOSTILE}"]
    report.status = "invalid" if dry_run else "succeeded"
    return report


@pytest.mark.parametrize("dry_run", [True, False])
def test_output_functions_print_data_verbatim_on_any_console(dry_run: bool) -> None:
    """The sweep: every printer that shows data, on a console with markup and emoji ON."""
    out = Console(file=io.StringIO(), width=400, record=True)
    err = Console(file=io.StringIO(), width=400, record=True)
    print_load_report(_hostile_report(dry_run), out, err)
    loaded = LoadedRun(
        run_id=HOSTILE,
        graph_name=HOSTILE,
        load_id=1,
        loaded_at=datetime(2026, 1, 1, tzinfo=UTC),
        run_started_at=None,
        files=1,
        bytes=1,
        rows_by_table={},
        rejects=0,
        run_path=HOSTILE,
    )
    print_runs([loaded], out)
    observer = ConsolePipelineObserver(out)
    observer.loaded(_hostile_report(False))
    observer.empty_mart(HOSTILE, f" ({HOSTILE})")
    observer.connected(
        DbSettings(host=HOSTILE, port=5432, user="u", password="", database=HOSTILE), "18"
    )
    text = out.export_text() + err.export_text()
    assert text.count(HOSTILE) >= 8, text
    assert "😄" not in text


def test_generate_result_prints_the_path_verbatim(tmp_path: Path) -> None:
    out = Console(file=io.StringIO(), width=400, record=True)
    result = GenerateResult(
        run_dir=tmp_path / HOSTILE, run_id=HOSTILE, facilities=1, nodes=1, edges=1
    )
    print_generate_result(result, out)
    assert str(tmp_path / HOSTILE) in out.export_text()
