"""`qc bench` end to end on the smallest preset, and its report rendering."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from helpers import run_qc
from quality_compass.bench import (
    RESULTS_MARKER_END,
    RESULTS_MARKER_START,
    render_markdown,
    update_performance_doc,
)
from quality_compass.paths import read_cache_marker, write_cache_marker
from quality_compass.warehouse.settings import DbSettings


def test_bench_small_preset_writes_results(pg_server: DbSettings, tmp_path: Path) -> None:
    result = run_qc(
        pg_server,
        "bench",
        "--size",
        "S",
        "--no-dbt",
        "--no-update-docs",
        "--results-dir",
        str(tmp_path),
    )
    assert result.returncode == 0, result.stderr[-2000:]
    files = list(tmp_path.glob("*.json"))
    assert len(files) == 1
    payload = json.loads(files[0].read_text())
    (size,) = payload["results"]
    assert size["size"] == "S"
    assert size["jsonl_lines"] == 238  # 2 node files: 2 headers + 236 entity lines
    assert size["load_rows"]["raw_entity_results"] == 236
    assert size["bare_copy_seconds"] > 0 and size["load_seconds"] > 0
    # the ratio is taken before rounding the two times to 10 ms
    ratio = size["load_seconds"] / size["bare_copy_seconds"]
    assert abs(size["load_vs_bare"] - ratio) <= ratio * 0.2 + 0.01
    assert 20 < size["load_peak_rss_mb"] < 1000
    assert payload["machine"]["cores"] >= 1 and payload["machine"]["postgresql"]


def test_performance_doc_block_is_replaced_in_place(tmp_path: Path) -> None:
    doc = tmp_path / "performance.md"
    doc.write_text(
        f"# Performance\n\nmethod text\n\n{RESULTS_MARKER_START}\nold\n{RESULTS_MARKER_END}\n\nfooter\n"
    )
    row = {
        "size": "M",
        "jsonl_bytes": 100_000_000,
        "jsonl_lines": 1000,
        "bare_copy_seconds": 4.0,
        "load_seconds": 5.0,
        "load_vs_bare": 1.25,
        "load_mb_s": 20.0,
        "load_peak_rss_mb": 120.0,
        "dbt_build_seconds": 40.0,
        "dbt_seconds_per_mb": 0.4,
        "load_build_vs_bare": 11.25,
        "generate_mb_s": 90.0,
        "dbt_slowest_models": [["stg_anomalies", 3.0]],
    }
    payload = {
        "timestamp": "2026-01-01T00:00:00Z",
        "results_file": "/x/bench/results/2026-01-01T000000Z.json",
        "machine": {
            "cpu": "cpu",
            "cores": 2,
            "memory_gb": 8,
            "python": "3.11",
            "postgresql": "18",
            "embedded": True,
        },
        "results": [row],
    }
    update_performance_doc(payload, doc)
    text = doc.read_text()
    assert text.startswith("# Performance\n\nmethod text\n\n") and text.endswith("\n\nfooter\n")
    assert "old" not in text
    assert (
        "| M | 100.0 | 1,000 | 4.0 | 5.0 | 1.25× | 20.0 | 120.0 | 40.0 | – | 0.4 | 11.25× | 90.0 |"
        in text
    )
    assert render_markdown(payload) in text


def test_a_cached_run_survives_a_move_of_its_folder(tmp_path: Path) -> None:
    """The cache marker names its runs relative to the cache folder: a moved checkout (or
    QC_HOME) keeps its generated runs instead of pointing at the old place."""
    root = tmp_path / "before" / "M-1234"
    run_dirs = [root / "bench" / "20260115102726", root / "bench" / "20260215102726"]
    for run_dir in run_dirs:
        run_dir.mkdir(parents=True)
    write_cache_marker(root, run_dirs)
    moved = tmp_path / "after" / "M-1234"
    moved.parent.mkdir()
    root.rename(moved)
    assert read_cache_marker(moved) == [
        moved / "bench" / "20260115102726",
        moved / "bench" / "20260215102726",
    ]
    shutil.rmtree(moved / "bench" / "20260215102726")
    assert read_cache_marker(moved) is None
    assert read_cache_marker(tmp_path / "never-generated") is None
