"""Build health from dbt's artefacts: ``run_results.json`` (the last dbt invocation that
ran nodes, normally ``dbt build``) and ``sources.json`` (the last ``dbt source
freshness``), in the dbt target folder.

Missing or unreadable artefacts are not an error: the section then says what was not
found, and the rest of the report stands.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

from quality_compass.paths import dbt_project_dir

RUN_RESULTS = "run_results.json"
SOURCES = "sources.json"
#: How many non-passing tests the report lists by name.
LISTED_PROBLEMS = 25
MARTS_SCHEMA_QUOTED = '"public_marts"'


def default_target_path() -> Path:
    """Where dbt writes its artefacts: ``DBT_TARGET_PATH`` when set (as dbt reads it),
    else the project's ``target/`` folder."""
    configured = os.environ.get("DBT_TARGET_PATH")
    if configured:
        path = Path(configured)
        return path if path.is_absolute() else dbt_project_dir() / path
    return dbt_project_dir() / "target"


def _read_json(path: Path, problems: list[str]) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        problems.append(f"{path}: unreadable ({type(exc).__name__}: {exc})")
        return None
    if not isinstance(document, dict):
        problems.append(f"{path}: not a JSON object")
        return None
    return document


def _resource_type(unique_id: str) -> str:
    return unique_id.split(".", 1)[0] if unique_id else "unknown"


def _database_of(relation_name: str | None) -> str | None:
    """'"quality_compass"."public_marts"."fct_signals"' -> 'quality_compass'."""
    if not relation_name or not relation_name.startswith('"'):
        return None
    end = relation_name.find('"', 1)
    return relation_name[1:end] if end > 0 else None


def _completed_at(result: dict[str, Any]) -> str | None:
    for step in result.get("timing") or []:
        if isinstance(step, dict) and step.get("name") == "execute":
            return str(step.get("completed_at")) if step.get("completed_at") else None
    return None


def summarise_run_results(document: dict[str, Any], database: str | None) -> dict[str, Any]:
    """Counts by resource type and status, the tests that did not pass, the marts built."""
    metadata = document.get("metadata") or {}
    results = [r for r in document.get("results") or [] if isinstance(r, dict)]
    by_type: dict[str, Counter[str]] = {}
    problems: list[dict[str, Any]] = []
    marts: list[dict[str, Any]] = []
    databases: set[str] = set()
    for result in results:
        unique_id = str(result.get("unique_id") or "")
        resource = _resource_type(unique_id)
        status = str(result.get("status") or "unknown")
        by_type.setdefault(resource, Counter())[status] += 1
        relation = result.get("relation_name")
        database_name = _database_of(relation if isinstance(relation, str) else None)
        if database_name:
            databases.add(database_name)
        if resource in ("test", "unit_test") and status not in ("pass", "success"):
            problems.append(
                {
                    "node": unique_id.split(".", 2)[-1],
                    "status": status,
                    "failures": result.get("failures"),
                    "message": (str(result.get("message") or ""))[:300],
                }
            )
        if (
            resource == "model"
            and isinstance(relation, str)
            and f".{MARTS_SCHEMA_QUOTED}." in relation
        ):
            response = result.get("adapter_response") or {}
            marts.append(
                {
                    "model": unique_id.rsplit(".", 1)[-1],
                    "status": status,
                    "completed_at": _completed_at(result),
                    "seconds": result.get("execution_time"),
                    "rows_affected": response.get("rows_affected")
                    if isinstance(response, dict)
                    else None,
                }
            )
    tests = Counter[str]()
    for resource in ("test", "unit_test"):
        tests.update(by_type.get(resource, Counter()))
    problems.sort(key=lambda p: ({"error": 0, "fail": 1, "warn": 2}.get(p["status"], 3), p["node"]))
    other_databases = sorted(databases - {database}) if database else []
    return {
        "command": (document.get("args") or {}).get("which"),
        "generated_at": metadata.get("generated_at"),
        "invocation_started_at": metadata.get("invocation_started_at"),
        "dbt_version": metadata.get("dbt_version"),
        "elapsed_seconds": document.get("elapsed_time"),
        "tests": {
            "passed": tests.get("pass", 0) + tests.get("success", 0),
            "warned": tests.get("warn", 0),
            "failed": tests.get("fail", 0),
            "errored": tests.get("error", 0) + tests.get("runtime error", 0),
            "skipped": tests.get("skipped", 0),
        },
        "statuses": {resource: dict(counts) for resource, counts in sorted(by_type.items())},
        "problems": problems[:LISTED_PROBLEMS],
        "problem_count": len(problems),
        "marts": sorted(marts, key=lambda m: m["model"]),
        "other_databases": other_databases,
    }


def summarise_sources(document: dict[str, Any]) -> dict[str, Any]:
    """Freshness status of each source table and the counts by status."""
    metadata = document.get("metadata") or {}
    sources: list[dict[str, Any]] = []
    for result in document.get("results") or []:
        if not isinstance(result, dict):
            continue
        criteria = result.get("criteria") or {}
        sources.append(
            {
                "source": str(result.get("unique_id") or "").split(".", 2)[-1],
                "status": str(result.get("status") or "unknown"),
                "max_loaded_at": result.get("max_loaded_at"),
                "age_seconds": result.get("max_loaded_at_time_ago_in_s"),
                "warn_after": _period(criteria.get("warn_after")),
                "error_after": _period(criteria.get("error_after")),
            }
        )
    sources.sort(key=lambda s: s["source"])
    statuses = Counter(source["status"] for source in sources)
    worst = next(
        (s for s in ("runtime error", "error", "warn", "pass") if statuses.get(s)), "unknown"
    )
    return {
        "generated_at": metadata.get("generated_at"),
        "status": worst,
        "statuses": dict(statuses),
        "sources": sources,
    }


def _period(value: Any) -> str | None:
    if not isinstance(value, dict) or value.get("count") is None:
        return None
    return f"{value.get('count')} {value.get('period')}"


def build_health(target_path: Path, database: str | None = None) -> dict[str, Any]:
    """The build-health section's data; ``found`` is false when neither artefact exists.

    ``database`` (the report's database) lets the section warn when the artefacts are of
    a build against another database.
    """
    problems: list[str] = []
    run_results = _read_json(target_path / RUN_RESULTS, problems)
    sources = _read_json(target_path / SOURCES, problems)
    return {
        "target_path": str(target_path),
        "found": run_results is not None or sources is not None,
        "run_results": summarise_run_results(run_results, database) if run_results else None,
        "freshness": summarise_sources(sources) if sources else None,
        "problems": problems,
    }
