"""The loader's field contract (issue 10 A): it covers every cast staging makes, and each
kind of violation is a reject ``file:line: field path: reason`` (no dbt run here)."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jinja2
import jinja2.meta
import orjson
import psycopg
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import CONTAINER_RUN
from mutations import EXTREMES, TYPE_SWAPS, _paths
from quality_compass.load import contract
from quality_compass.load.build_gate import BUILD_GATE_KEY
from quality_compass.load.contract import (
    CLASSIFICATION,
    CONTRIBUTION,
    DOCUMENT_CONTRACTS,
    ENTITY_RESULT,
    NODE_HEADER,
    Either,
    Fields,
    First,
    Items,
    Leaf,
    Spec,
)
from quality_compass.load.contract_checks import compile_spec, timestamp_reason
from quality_compass.load.contract_fast import compile_fast
from quality_compass.load.loader import load_run
from quality_compass.load.references import NON_KEY_DIMENSIONS
from quality_compass.load.report import LoadOptions, LoadReport
from quality_compass.needle.vocabulary import FACILITY_DIM, NO_SCORE, TIER_LABELS
from quality_compass.paths import dbt_project_dir
from quality_compass.warehouse.raw_schema import MIGRATION_LOCK_KEY
from quality_compass.warehouse.settings import DbSettings

AGG = "results/nodes/losIndex__medicareId__aggregate_time_period.jsonl"
TEMPORAL = "results/nodes/losIndex__medicareId__dischargeMonth.jsonl"
STAGING = dbt_project_dir() / "models" / "staging"
#: Staging models whose casts read the loader's own tables, not a run's JSON.
LOADER_TABLES = {"stg_runs"}


# -- the contract covers staging -------------------------------------------------------------


def _leaves(spec: Spec, name: str = "") -> Iterator[tuple[str, Leaf]]:
    if isinstance(spec, Leaf):
        yield name, spec
    elif isinstance(spec, Fields):
        for key, sub in spec.fields.items():
            yield from _leaves(sub, key)
    elif isinstance(spec, Items | First):
        if spec.element is not None:
            yield from _leaves(spec.element, name)
    elif isinstance(spec, Either):
        yield name, spec.number
        yield from _leaves(spec.object_spec, name)


def _contract_kinds() -> dict[str, set[str]]:
    kinds: dict[str, set[str]] = {}
    for spec in (
        ENTITY_RESULT,
        NODE_HEADER,
        CONTRIBUTION,
        CLASSIFICATION,
        *DOCUMENT_CONTRACTS.values(),
    ):
        for name, leaf in _leaves(spec):
            kinds.setdefault(name, set()).add(leaf.kind)
    return kinds


def _render(sql_text: str) -> str:
    """Staging SQL with its Jinja expanded; the parsing macros leave visible markers, any other
    macro (entity keys, surrogate keys, ...) renders as ``MACRO()``."""
    environment = jinja2.Environment(extensions=["jinja2.ext.do"])
    known: dict[str, Callable[..., str]] = {
        "source": lambda *args: "SOURCE",
        "ref": lambda *args: "REF",
        "var": lambda name, default=None: str(name),
        "config": lambda *args, **kwargs: "",
        "is_incremental": lambda: False,
        "jsonb_object_or_null": lambda value: f"({value})",
        "jsonb_array_or_empty": lambda value: f"({value})",
        "jsonb_text_array": lambda value: f"({value})",
        "period_to_date": lambda value: f"PERIOD_TO_DATE({value})",
        "parse_timestamptz": lambda value: f"PARSE_TIMESTAMPTZ({value})",
    }
    names = jinja2.meta.find_undeclared_variables(environment.parse(sql_text))
    functions = {name: known.get(name, lambda *args, **kwargs: "MACRO()") for name in names}
    return environment.from_string(sql_text).render(**functions)


_RECORD = re.compile(r"jsonb_to_record(?:set)?\s*\(")
_SQL_TYPES = {"double precision": "number", "numeric": "numeric", "boolean": "boolean"}


def _balanced(text: str, start: int) -> int:
    """Index just past the parenthesis group opening at ``text[start]``."""
    depth = 0
    for index in range(start, len(text)):
        depth += {"(": 1, ")": -1}.get(text[index], 0)
        if depth == 0:
            return index + 1
    raise AssertionError(f"unbalanced parentheses after: {text[start : start + 80]}")


def _typed_record_columns(sql: str) -> Iterator[tuple[str, str]]:
    """(column, kind) of every ``jsonb_to_record(set)(...) as alias (column type, ...)``."""
    for match in _RECORD.finditer(sql):
        after = _balanced(sql, match.end() - 1)
        alias = re.match(r"\s*(?:with ordinality\s*)?as\s+\w+\s*\(", sql[after:])
        assert alias, sql[match.start() : after + 60]
        open_at = after + alias.end() - 1
        for column in sql[open_at + 1 : _balanced(sql, open_at) - 1].split(","):
            name, _, sql_type = column.strip().strip('"').partition(" ")
            kind = _SQL_TYPES.get(sql_type.strip().strip('"'))
            if kind:
                yield name.strip('"'), kind


_CAST_CHAIN = re.compile(r"\)\s*((?:::\s*(?:double precision|numeric|integer|bigint|boolean)\s*)+)")
_FIELD = re.compile(r"->>\s*'(\w+)'|'?(\w+)'?\s*->>\s*(?:\d+|\()|\((\w+)\s*#>>")


def _casts(sql: str) -> Iterator[tuple[str, str]]:
    """(field, kind) of every ``(... ->> 'field')::type...`` and ``array ->> n)::type``."""
    for match in _CAST_CHAIN.finditer(sql):
        chain = match.group(1)
        kind = (
            "integer"
            if "integer" in chain
            else "bigint"
            if "bigint" in chain
            else "boolean"
            if "boolean" in chain
            else "number"
        )
        # the expression the cast applies to: the parenthesis group closing at match.start()
        depth, start = 0, match.start()
        for index in range(match.start(), -1, -1):
            depth += {")": 1, "(": -1}.get(sql[index], 0)
            if depth == 0:
                start = index
                break
        for field in _FIELD.finditer(sql[start : match.start() + 1]):
            yield next(group for group in field.groups() if group), kind


def _later_integer_casts(sql: str, names: set[str]) -> dict[str, str]:
    """Record columns typed numeric that the model then casts to integer or bigint."""
    found = {}
    for name in names:
        cast = re.search(rf"\b{name}\s*::\s*(integer|bigint)\b", sql)
        if cast:
            found[name] = cast.group(1)
    return found


def _parsed_text(sql: str) -> Iterator[tuple[str, str]]:
    for macro, kind in (("PERIOD_TO_DATE", "period"), ("PARSE_TIMESTAMPTZ", "timestamp")):
        for match in re.finditer(macro + r"\(", sql):
            argument = sql[match.end() : _balanced(sql, match.end() - 1) - 1]
            names = re.findall(r"'(\w+)'", argument) or re.findall(r"(\w+)", argument)
            yield names[-1], kind


_ACCEPTS = {
    "number": {"number", "integer", "bigint"},
    "numeric": {"number", "integer", "bigint"},
    "integer": {"integer"},
    "bigint": {"integer", "bigint"},
    "boolean": {"boolean"},
    "period": {"period"},
    "timestamp": {"timestamp"},
}
#: SQL names that are not the JSON field's name.
_ALIASES = {"metric_values": "values", "latest_period": "latest_period"}


def _staging_requirements() -> list[tuple[str, str, str]]:
    """(model, JSON field, kind the contract must check) for every cast of staging."""
    required = []
    for path in sorted(STAGING.glob("stg_*.sql")):
        if path.stem in LOADER_TABLES:
            continue
        sql = _render(path.read_text())
        columns = dict(_typed_record_columns(sql))
        columns.update(_later_integer_casts(sql, {n for n, k in columns.items() if k == "numeric"}))
        pairs = [*columns.items(), *_casts(sql), *_parsed_text(sql)]
        for name, kind in pairs:
            required.append((path.stem, _ALIASES.get(name, name), kind))
    return required


def test_the_contract_checks_every_field_staging_casts() -> None:
    requirements = _staging_requirements()
    assert len(requirements) > 80, "the SQL parser found too few casts: is it still parsing?"
    kinds = _contract_kinds()
    missing = sorted(
        f"{model}: {name} needs a {kind} check (contract has {sorted(kinds.get(name, ())) or 'nothing'})"
        for model, name, kind in set(requirements)
        if not (kinds.get(name, set()) & _ACCEPTS[kind])
    )
    assert not missing, "load/contract.py lacks:\n" + "\n".join(missing)


_INDEXED = re.compile(r"'?(\w+)'?\s*->>?\s*(?:-?\d+|\()")


def _arrays(spec: Spec, name: str = "") -> Iterator[tuple[str, Items]]:
    if isinstance(spec, Items):
        yield name, spec
        if spec.element is not None:
            yield from _arrays(spec.element, name)
    elif isinstance(spec, Fields):
        for key, sub in spec.fields.items():
            yield from _arrays(sub, key)
    elif isinstance(spec, First):
        yield from _arrays(spec.element, name)
    elif isinstance(spec, Either):
        yield from _arrays(spec.object_spec, name)


def test_arrays_staging_reads_by_index_must_be_arrays() -> None:
    """``x ->> 0`` of a scalar is the scalar itself in PostgreSQL: such fields must be arrays."""
    arrays: dict[str, list[Items]] = {}
    for spec in (ENTITY_RESULT, NODE_HEADER, CONTRIBUTION, CLASSIFICATION):
        for name, items in _arrays(spec):
            arrays.setdefault(name, []).append(items)
    indexed = set()
    for path in sorted(STAGING.glob("stg_*.sql")):
        if path.stem not in LOADER_TABLES:
            for name in _INDEXED.findall(_render(path.read_text())):
                if name in arrays:
                    indexed.add(name)
    assert {"p10", "sample_sizes", "severity_range"} <= indexed, indexed
    lenient = sorted(name for name in indexed if not all(items.strict for items in arrays[name]))
    assert not lenient, f"read by index but not required to be arrays: {lenient}"


def test_the_sql_parser_sees_the_casts_it_must() -> None:
    """A guard on the guard: known casts of each pattern are found."""
    found = set(_staging_requirements())
    for expected in [
        ("stg_statistical_methods", "simple_zscore", "number"),
        ("stg_statistical_methods", "observations", "integer"),
        ("stg_statistical_methods", "peer_count", "integer"),
        ("stg_statistical_methods", "has_issues", "boolean"),
        ("stg_entity_results", "encounters", "bigint"),
        ("stg_entity_results", "values", "number"),
        ("stg_entity_results", "observed_count", "integer"),
        ("stg_node_percentile_trends", "p10", "number"),
        ("stg_node_percentile_trends", "sample_sizes", "integer"),
        ("stg_classifications", "severity_range", "integer"),
        ("stg_classifications", "base", "number"),
        ("stg_classifications", "timestamp", "timestamp"),
        ("stg_nodes", "start_period", "period"),
        ("stg_anomalies", "statistic_value", "number"),
    ]:
        assert expected in found, expected


def test_dbt_vars_the_contract_copies_are_equal() -> None:
    variables = yaml.safe_load((dbt_project_dir() / "dbt_project.yml").read_text())["vars"]
    assert variables["qc_build_gate_key"] == BUILD_GATE_KEY
    assert variables["qc_migration_lock_key"] == MIGRATION_LOCK_KEY
    assert set(variables["non_key_dimensions"]) == NON_KEY_DIMENSIONS
    assert variables["facility_dimension"] == FACILITY_DIM
    assert {
        *variables["anomaly_tiers"],
        variables["anomaly_no_score_label"],
    } == contract.ANOMALY_LABELS
    assert (*TIER_LABELS, NO_SCORE) == (
        *variables["anomaly_tiers"],
        variables["anomaly_no_score_label"],
    )


# -- violations are rejects with file:line: field path: reason ----------------------------------


def _set(obj: Any, path: tuple[str | int, ...], value: Any) -> None:
    for part in path[:-1]:
        obj = obj[part]
    obj[path[-1]] = value


def _reject_of(run: Path, rel: str, line: int, path: tuple[str | int, ...], value: Any) -> str:
    target = run / rel
    lines = target.read_bytes().split(b"\n")
    obj = orjson.loads(lines[line - 1])
    _set(obj, path, value)
    lines[line - 1] = (
        orjson.dumps(obj)
        if not isinstance(value, int) or abs(value) < 2**63
        else (__import__("json").dumps(obj, separators=(",", ":")).encode())
    )
    target.write_bytes(b"\n".join(lines))
    report: LoadReport = load_run(run, None, LoadOptions(dry_run=True))
    # a rejected header also stops the lines of its file: the first reject is the cause
    assert report.rejects and report.rejects[0].line_number == line, [
        str(r) for r in report.rejects
    ]
    return str(report.rejects[0])


@pytest.mark.parametrize(
    ("rel", "line", "path", "value", "expected"),
    [
        (
            AGG,
            12,
            ("statistical_methods", 0, "statistics", "simple_zscore"),
            "abc",
            'statistical_methods[0].statistics.simple_zscore: expected a number, got string "abc"',
        ),
        (
            AGG,
            12,
            ("metadata", "encounters"),
            2**70,
            "metadata.encounters: 1.1805916207174113e+21 does not fit in a PostgreSQL bigint",
        ),
        (
            AGG,
            12,
            ("metadata", "encounters"),
            "48032",
            'metadata.encounters: expected an integer, got string "48032"',
        ),
        (
            AGG,
            3,
            ("statistical_methods", 0, "statistics", "suppressed"),
            "false",
            'statistical_methods[0].statistics.suppressed: expected true or false, got string "false"',
        ),
        (
            AGG,
            3,
            ("statistical_methods", 0, "statistics", "peer_std"),
            1e308,
            "statistical_methods[0].statistics.peer_std: number 1e+308 is outside the loadable "
            "range (0 or 1e-100 to 1e+100 in magnitude)",
        ),
        (
            AGG,
            3,
            ("statistical_methods", 0, "statistics", "percentile_rank"),
            100.5,
            "statistical_methods[0].statistics.percentile_rank: 100.5 is above the maximum 100",
        ),
        (
            AGG,
            4,
            ("statistical_methods", 1, "anomalies", 0, "methods", 0, "anomaly"),
            "high",
            "statistical_methods[1].anomalies[0].methods[0].anomaly: expected one of",
        ),
        (
            TEMPORAL,
            5,
            ("metric", 0, "values", "timeline", 2, "value"),
            True,
            "metric[0].values.timeline[2].value: expected a number, got boolean true",
        ),
        (
            TEMPORAL,
            5,
            ("statistical_methods", 2, "statistics", "latest_period"),
            "0000-06",
            'statistical_methods[2].statistics.latest_period: period "0000-06" has year 0',
        ),
        (
            TEMPORAL,
            5,
            ("metric", 0, "temporal_runtime", "observed_count"),
            2**31,
            "metric[0].temporal_runtime.observed_count: 2147483648 does not fit in a PostgreSQL integer",
        ),
        (
            TEMPORAL,
            1,
            (
                "statistical_methods",
                1,
                "summary",
                "global_statistics",
                "percentile_trends",
                "p50",
                3,
            ),
            "1.1",
            "statistical_methods[1].summary.global_statistics.percentile_trends.p50[3]: expected a "
            'number, got string "1.1"',
        ),
        (
            AGG,
            1,
            ("canonical_child_node_ids", 0),
            "losIndex__medicareId__dischargeMonth",
            "canonical_child_node_ids[0]: expected an object, got string",
        ),
    ],
)
def test_violations_are_rejects_with_file_line_and_field_path(
    run_copy: Callable[..., Path],
    rel: str,
    line: int,
    path: tuple[str | int, ...],
    value: Any,
    expected: str,
) -> None:
    assert _reject_of(run_copy(), rel, line, path, value).startswith(f"{rel}:{line}: {expected}")


def test_an_entity_without_its_facility_is_refused(run_copy: Callable[..., Path]) -> None:
    reject = _reject_of(run_copy(), AGG, 9, ("entity", 0, "id"), "hospital")
    assert (
        reject == f"{AGG}:9: entity: the entity has no medicareId (every entity names its facility)"
    )


def test_a_classification_of_an_unknown_entity_is_refused(run_copy: Callable[..., Path]) -> None:
    run = run_copy()
    csv_path = run / "analysis" / "classification" / "classification_summary.csv"
    lines = csv_path.read_text().split("\n")
    lines[1] = lines[1].replace(",AFP658,", ",ZZZ999,")
    csv_path.write_text("\n".join(lines))
    report = load_run(run, None, LoadOptions(dry_run=True))
    assert [str(reject) for reject in report.rejects] == [
        "analysis/classification/classification_summary.csv:2: entity_key: entity "
        'medicareId=ZZZ999 is not an entity of node "losIndex__medicareId__aggregate_time_period" '
        "(results/nodes/losIndex__medicareId__aggregate_time_period.jsonl)"
    ]


def test_a_classification_of_a_node_outside_the_graph_is_refused(
    run_copy: Callable[..., Path],
) -> None:
    run = run_copy()
    csv_path = run / "analysis" / "classification" / "classification_summary.csv"
    lines = csv_path.read_text().split("\n")
    lines[1] = lines[1].replace(
        "losIndex__medicareId__aggregate_time_period", "losIndex__medicareId__zz"
    )
    csv_path.write_text("\n".join(lines))
    report = load_run(run, None, LoadOptions(dry_run=True))
    assert [str(reject) for reject in report.rejects] == [
        "analysis/classification/classification_summary.csv:2: node_id: node "
        '"losIndex__medicareId__zz" is not a node of graph.json'
    ]


def test_a_document_violation_names_the_document_and_field(run_copy: Callable[..., Path]) -> None:
    run = run_copy()
    graph = orjson.loads((run / "graph.json").read_bytes())
    graph["nodes"][1]["graph_entry_point"] = "yes"
    (run / "graph.json").write_bytes(orjson.dumps(graph))
    report = load_run(run, None, LoadOptions(dry_run=True))
    assert [str(reject) for reject in report.rejects] == [
        'graph.json: nodes[1].graph_entry_point: expected true or false, got string "yes"'
    ]


def test_numbers_below_double_precision_are_refused_with_file_and_line(
    run_copy: Callable[..., Path],
) -> None:
    run = run_copy()
    lines = (run / AGG).read_bytes().split(b"\n")
    lines[6] = lines[6].replace(b'"losOutliers":0.0', b'"losOutliers":1e-400')
    (run / AGG).write_bytes(b"\n".join(lines))
    report = load_run(run, None, LoadOptions(dry_run=True))
    assert [str(reject) for reject in report.rejects] == [
        f"{AGG}:7: number 1e-400 is too small for a double precision value (underflow)"
    ]


# -- the timestamp and period rules agree with PostgreSQL --------------------------------------

TIMESTAMPS = [
    "2026-01-16T08:59:39-06:00",
    "2026-01-15T16:52:46+00:00",
    "2026-01-16T15:06:38.427986+00:00",
    "2026-01-16T15:06:38.559587Z",
    "2026-01-16T15:06:46.823025+00:00Z",
    "2026-01-16",
    "2026-01-16 10:00",
    "2026-01-16 10:00 +05",
    "2026-01-16T10:00+0530",
    "2026-02-29T00:00:00Z",
    "2024-02-29T00:00:00Z",
    "1900-02-29",
    "2000-02-29",
    "2026-13-01",
    "2026-00-10",
    "2026-04-31",
    "2026-01-00",
    "0000-01-01",
    "9999-12-31T23:59:59.999999+15:59",
    "2026-01-01T24:00:00",
    "2026-01-01T24:00:01",
    "2026-01-01T23:60:00",
    "2026-01-01T23:59:60",
    "2026-01-01T23:59:61",
    "2026-01-01T10:00+16:00",
    "2026-01-01T10:00+15:60",
    "2026-01-01T10:00-15:59",
    "2026-01-01T10:00ZZ",
    "2026-01-01T10:00:00Z+01",
    "not a timestamp",
    "2026-1-1",
]


def test_timestamp_rule_agrees_with_parse_timestamptz(pg_server: DbSettings) -> None:
    macro = (dbt_project_dir() / "macros" / "parsing.sql").read_text()
    pattern = re.search(r"set iso_timestamp_pattern -%\}\s*(.+?)\s*\{%-? endset", macro, re.DOTALL)
    assert pattern, "the timestamp pattern of macros/parsing.sql moved"
    with psycopg.connect(pg_server.conninfo(database="postgres"), autocommit=True) as conn:
        for text in TIMESTAMPS:
            try:
                conn.execute(
                    "select case when %s ~ %s "
                    "then regexp_replace(%s, '([+-]\\d{2}(:?\\d{2})?)Z$', '\\1')::timestamptz end",
                    (text, pattern.group(1), text),
                )
                postgres_ok = True
            except psycopg.DataError:
                postgres_ok = False
            assert (timestamp_reason(text) is None) == postgres_ok, text


@pytest.mark.parametrize("period", ["0000", "000001", "0000-01", "0000-Q1", "0000-2"])
def test_periods_of_year_zero_are_refused_as_make_date_would(
    period: str, pg_server: DbSettings
) -> None:
    checker = compile_spec(contract.PERIOD)
    assert checker(period) == ("", f'period "{period}" has year 0')
    with (
        psycopg.connect(pg_server.conninfo(database="postgres"), autocommit=True) as conn,
        pytest.raises(psycopg.DataError),
    ):
        conn.execute("select make_date(0, 1, 1)")
    assert checker("0001-01") is None and checker("0000x") is None


# -- the generated fast pass agrees with the generic checker -----------------------------------


def _records() -> list[tuple[Spec, Any]]:
    """Real records of every kind the contract checks (the bundled container run)."""
    run = CONTAINER_RUN
    records: list[tuple[Spec, Any]] = []
    for node in sorted((run / "results" / "nodes").glob("*.jsonl")):
        lines = [line for line in node.read_bytes().split(b"\n") if line]
        records.append((NODE_HEADER, orjson.loads(lines[0])))
        records.extend((ENTITY_RESULT, orjson.loads(line)) for line in lines[1:6])
    records.append((DOCUMENT_CONTRACTS["graph"], orjson.loads((run / "graph.json").read_bytes())))
    records.append(
        (
            DOCUMENT_CONTRACTS["metadata_bundle"],
            orjson.loads((run / "metadata_bundle.json").read_bytes()),
        )
    )
    records.append(
        (
            CLASSIFICATION,
            {
                "node_id": "n",
                "metric_id": "m",
                "entity_key": {"medicareId": "A"},
                "signal_type": "baseline",
                "severity": 30,
                "severity_range": [26, 59],
                "inputs": {"aggregate_zscore": 0.5},
                "severity_calculation": {"base_severity": 30},
                "timestamp": "2026-01-15T17:19:19.515256+00:00",
            },
        )
    )
    records.append(
        (
            CONTRIBUTION,
            {
                "weight_share": 0.5,
                "weight_value": 3.0,
                "excess_over_parent": -0.1,
                "timestamp": "2026-01-16T15:06:38.559587Z",
            },
        )
    )
    return records


RECORDS = _records()
VALUES = [v for v in (*TYPE_SWAPS, *EXTREMES) if not (isinstance(v, str) and v.startswith("\x01"))]


@settings(max_examples=400, deadline=None, derandomize=True, database=None)
@given(data=st.data())
def test_the_fast_pass_agrees_with_the_generic_checker(data: st.DataObject) -> None:
    spec, record = data.draw(st.sampled_from(RECORDS))
    value = copy.deepcopy(record)
    paths = list(_paths(value))
    path = data.draw(st.sampled_from(paths))
    parent = value
    for part in path[:-1]:
        parent = parent[part]
    if data.draw(st.booleans()):
        del parent[path[-1]]
    else:
        parent[path[-1]] = data.draw(st.sampled_from(VALUES))
    assert compile_fast(spec)(value) == (compile_spec(spec)(value) is None), path
