"""NUL characters (issue 10 F): refused with file:line on every parse path; an escaped
backslash followed by the text ``u0000`` is ordinary text and loads."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from quality_compass.load.loader import load_run
from quality_compass.load.records import LineError, parse_json
from quality_compass.load.report import LoadOptions, LoadRejected
from quality_compass.warehouse.settings import DbSettings

AGG = "results/nodes/losIndex__medicareId__aggregate_time_period.jsonl"
NUL_REASON = "contains a \\u0000 (NUL) character, which PostgreSQL jsonb cannot store"


def _replace_in_line(path: Path, number: int, old: bytes, new: bytes) -> None:
    lines = path.read_bytes().split(b"\n")
    assert old in lines[number - 1]
    lines[number - 1] = lines[number - 1].replace(old, new, 1)
    path.write_bytes(b"\n".join(lines))


def test_nan_and_nul_on_one_line_is_a_reject_with_file_and_line(
    run_copy: Callable[..., Path], fresh_db: DbSettings
) -> None:
    run = run_copy()
    # NaN sends the line down the repair path; the NUL must still be caught there
    _replace_in_line(run / AGG, 7, b'"losOutliers":0.0', b'"losOutliers":NaN')
    _replace_in_line(run / AGG, 7, b'"facility":"', b'"facility":"A\\u0000')
    report = load_run(run, None, LoadOptions(dry_run=True))
    assert [str(reject) for reject in report.rejects] == [f"{AGG}:7: {NUL_REASON}"]
    with pytest.raises(LoadRejected) as rejected:
        load_run(run, fresh_db)
    assert f"{AGG}:7: {NUL_REASON}" in rejected.value.message


@pytest.mark.parametrize(
    "text",
    [
        b'{"a":"x\\u0000"}',
        b'{"a":"\\\\\\u0000"}',  # an escaped backslash, then a real NUL escape
        b'{"a\\u0000":1}',
        b'{"a":NaN,"b":"\\u0000"}',
        b'{"a":Infinity,"b":"\\\\\\\\\\u0000"}',
    ],
)
def test_every_nul_escape_is_refused(text: bytes) -> None:
    with pytest.raises(LineError, match="NUL"):
        parse_json(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (b'{"a":"x\\\\u0000"}', "x\\u0000"),
        (b'{"a":"\\\\\\\\u0000"}', "\\\\u0000"),
        (b'{"a":"\\\\u0000","b":NaN}', "\\u0000"),
    ],
)
def test_escaped_backslash_before_u0000_is_text(text: bytes, expected: str) -> None:
    value, _ = parse_json(text)
    assert value["a"] == expected


def test_escaped_backslash_u0000_loads_and_is_stored_verbatim(
    run_copy: Callable[..., Path], fresh_db: DbSettings
) -> None:
    run = run_copy()
    _replace_in_line(run / AGG, 7, b'"facility":"', b'"facility":"A\\\\u0000B')
    report = load_run(run, fresh_db)
    assert report.reject_count == 0
    with psycopg.connect(fresh_db.conninfo()) as conn:
        row = conn.execute(
            "select json_data -> 'metadata' ->> 'facility' from public.raw_entity_results "
            "where file_path = %s and line_number = 7",
            (AGG,),
        ).fetchone()
    assert row is not None and row[0].startswith("A\\u0000B")
