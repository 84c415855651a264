"""One-off migration (issue 11): split the per-layer YAML files into one YAML per model.

Text splitting, not a YAML round trip, so every comment and every line of every entry stays
byte-identical; only the file an entry lives in changes. Run from backend/dbt on the old
layout (models/<layer>/schema.yml, models/semantic/_semantic_models.yml + _metrics.yml):

    uv run python split_layer_yaml.py

It writes models/<layer>/<model>.yml (the model, its unit tests; for a mart also its
semantic model and metrics), deletes the old files and checks that the parsed entries of
the new files equal those of the old ones. Layer headers are not copied into every file:
they move to dbt_project.yml (by hand, in the same commit).
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

LAYER_FILES = [
    Path("models/staging/schema.yml"),
    Path("models/intermediate/schema.yml"),
    Path("models/marts/schema.yml"),
]
SEMANTIC_MODELS = Path("models/semantic/_semantic_models.yml")
METRICS = Path("models/semantic/_metrics.yml")

# Comments heading a section of a mart's YAML (from the old semantic files' headers).
SECTION_COMMENTS = {
    ("fct_signals", "semantic_models"): [
        "# MetricFlow semantic model (dbt-metricflow; `uv run mf ...` after `dbt parse`).",
        "# Entities join the facts to the dimensions on the surrogate keys (facility_sk,",
        "# metric_sk), so `--group-by facility__region` or `metric__domain` work on signal",
        "# metrics. Time dimension: detected_at (the run's detection time), day grain; the",
        "# spine is models/semantic/metricflow_time_spine.",
    ],
    ("fct_signals", "metrics"): [
        "# MetricFlow metrics on signals (contribution metrics: fct_contributions.yml).",
        "# Filtered counts that feed a ratio carry `fill_nulls_with: 0`: without it a group with no",
        "# matching rows gets null and the derived rate comes out empty instead of 0.",
        "# Severity is the 4-level map of the primary anomaly label (var anomaly_severity_levels);",
        '# "actionable" = Critical or High.',
    ],
    ("fct_contributions", "semantic_models"): [
        "# MetricFlow semantic model (conventions: fct_signals.yml).",
    ],
    ("fct_contributions", "metrics"): [
        "# MetricFlow metrics on contributions (conventions: fct_signals.yml).",
    ],
    ("dim_facilities", "semantic_models"): [
        "# MetricFlow semantic model (conventions: fct_signals.yml).",
    ],
    ("dim_metrics", "semantic_models"): [
        "# MetricFlow semantic model (conventions: fct_signals.yml).",
    ],
}

TOP_KEY = re.compile(r"^([a-z_]+):\s*$")
ITEM = re.compile(r"^  - name: *([A-Za-z0-9_]+)\s*$")

Entry = list[str]  # the lines of one list entry, with the comments right above it


def parse(path: Path) -> tuple[list[str], dict[str, dict[str, Entry]]]:
    """Header comment lines, and {top-level key: {entry name: lines}} in file order."""
    lines = path.read_text().splitlines()
    header: list[str] = []
    sections: dict[str, dict[str, Entry]] = {}
    pending: list[str] = []
    section: dict[str, Entry] | None = None
    current: Entry | None = None
    for number, line in enumerate(lines, start=1):
        top = TOP_KEY.match(line)
        if line.startswith("version:"):
            header, pending = [*pending], []
            continue
        if top:
            assert not [p for p in pending if p.strip()], (path, number, pending)
            section = sections.setdefault(top[1], {})
            current, pending = None, []
            continue
        item = ITEM.match(line)
        if item:
            assert section is not None, (path, number)
            current = [*pending, line]
            pending = []
            section[item[1]] = current
            continue
        stripped = line.strip()
        if section is None or current is None:
            pending.append(line)  # header comments before `version:`, or section comments
            continue
        if not stripped or (line.startswith("  #") and not line.startswith("    ")):
            # a blank line or a comment at entry level: belongs to whatever follows
            pending.append(line)
            continue
        assert line.startswith("    "), (path, number, line)
        current.extend(pending)
        pending = []
        current.append(line)
    assert not [p for p in pending if p.strip()], (path, "trailing comments", pending)
    for entries in sections.values():
        for name, entry in entries.items():
            while entry and not entry[0].strip():
                entry.pop(0)
            while entry and not entry[-1].strip():
                entry.pop()
            assert entry, name
    return header, sections


def render(header: list[str], sections: list[tuple[str, list[str], list[Entry]]]) -> str:
    out: list[str] = [*header, "version: 2"]
    for key, comments, entries in sections:
        if not entries:
            continue
        out.append("")
        out.extend(comments)
        out.append(f"{key}:")
        for index, entry in enumerate(entries):
            if index:
                out.append("")
            out.extend(entry)
    return "\n".join(out) + "\n"


def mart_of_metric(metric: dict[str, Any], measure_mart: dict[str, str], metric_mart: dict[str, str]) -> str:
    params = metric["type_params"]
    if "measure" in params:
        measure = params["measure"]
        return measure_mart[measure if isinstance(measure, str) else measure["name"]]
    marts = {metric_mart[m["name"]] for m in params["metrics"]}
    assert len(marts) == 1, (metric["name"], marts)
    return marts.pop()


def loaded_entries(paths: list[Path]) -> Counter[str]:
    """Every entry of every top-level list, as a canonical string, for the equality check."""
    found: Counter[str] = Counter()
    for path in paths:
        document = yaml.safe_load(path.read_text())
        for key, value in document.items():
            if key == "version":
                continue
            for entry in value:
                found[f"{key}: {yaml.safe_dump(entry, sort_keys=True)}"] += 1
    return found


def comment_lines(paths: list[Path]) -> Counter[str]:
    found: Counter[str] = Counter()
    for path in paths:
        for line in path.read_text().splitlines():
            if line.strip().startswith("#"):
                found[line.strip()] += 1
    return found


def main() -> int:
    old_files = [*LAYER_FILES, SEMANTIC_MODELS, METRICS]
    before = loaded_entries(old_files)
    comments_before = comment_lines(old_files)

    outputs: dict[Path, str] = {}
    _, semantic = parse(SEMANTIC_MODELS)
    _, metric_sections = parse(METRICS)
    semantic_models = semantic.pop("semantic_models")
    metrics = metric_sections.pop("metrics")
    assert not semantic and not metric_sections

    model_of_semantic: dict[str, str] = {}
    measure_mart: dict[str, str] = {}
    for name, entry in semantic_models.items():
        parsed = yaml.safe_load("\n".join(entry))[0]
        mart = re.fullmatch(r"ref\('([a-z_]+)'\)", parsed["model"])[1]  # type: ignore[index]
        model_of_semantic[name] = mart
        for measure in parsed.get("measures", []):
            measure_mart[measure["name"]] = mart
    metric_mart: dict[str, str] = {}
    metrics_by_mart: dict[str, list[Entry]] = {}
    for name, entry in metrics.items():
        parsed = yaml.safe_load("\n".join(entry))[0]
        mart = mart_of_metric(parsed, measure_mart, metric_mart)
        metric_mart[name] = mart
        metrics_by_mart.setdefault(mart, []).append(entry)

    for layer_file in LAYER_FILES:
        _, sections = parse(layer_file)
        models = sections.pop("models")
        unit_tests = sections.pop("unit_tests", {})
        assert not sections, (layer_file, list(sections))
        tests_by_model: dict[str, list[Entry]] = {}
        for name, entry in unit_tests.items():
            model = yaml.safe_load("\n".join(entry))[0]["model"]
            assert model in models, (name, model)
            tests_by_model.setdefault(model, []).append(entry)
        for model, entry in models.items():
            assert (layer_file.parent / f"{model}.sql").is_file(), model
            semantic_entries = [e for n, e in semantic_models.items() if model_of_semantic[n] == model]
            outputs[layer_file.parent / f"{model}.yml"] = render(
                [],
                [
                    ("models", [], [entry]),
                    ("unit_tests", [], tests_by_model.get(model, [])),
                    (
                        "semantic_models",
                        SECTION_COMMENTS.get((model, "semantic_models"), []),
                        semantic_entries,
                    ),
                    ("metrics", SECTION_COMMENTS.get((model, "metrics"), []), metrics_by_mart.get(model, [])),
                ],
            )
    assert set(model_of_semantic.values()) <= {p.stem for p in outputs}
    assert set(metric_mart.values()) <= {p.stem for p in outputs}

    for path, text in outputs.items():
        assert not path.exists(), path
        path.write_text(text)
    for path in old_files:
        path.unlink()

    after = loaded_entries(list(outputs))
    comments_after = comment_lines(list(outputs))
    assert before == after, (before - after, after - before)
    lost = comments_before - comments_after
    print(f"{len(outputs)} files, {sum(after.values())} entries (same as before)")
    print("comment lines not carried into a model YAML (file headers, placed by hand):")
    for line, count in sorted(lost.items()):
        print(f"  {count} x {line}")
    added = comments_after - comments_before
    print("comment lines added (section headers):")
    for line, count in sorted(added.items()):
        print(f"  {count} x {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
