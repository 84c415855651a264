"""docs/architecture/schema_design_*.md stay true to the built tables.

Each `### \\`schema.table\\`` section of a design doc has a column table whose first two cells
are the column (in backticks) and its PostgreSQL type. Every documented table must exist in
the warehouse build with exactly those columns, in that order, with those types - so a
model change that adds, drops, renames or retypes a column fails here until the doc says
so too.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import Warehouse

pytestmark = pytest.mark.dbt

DESIGN = Path(__file__).resolve().parents[2] / "docs" / "architecture"
DOCS = ("schema_design_node_results.md", "schema_design_contributions.md")
HEADING = re.compile(r"^### `(?P<schema>[a-z_]+)\.(?P<table>[a-z_]+)`\s*$")
ROW = re.compile(r"^\| `(?P<column>[a-z0-9_]+)` \| (?P<type>[^|]+?) \|")


def documented_tables(path: Path) -> dict[tuple[str, str], list[tuple[str, str]]]:
    tables: dict[tuple[str, str], list[tuple[str, str]]] = {}
    current: tuple[str, str] | None = None
    for line in path.read_text().splitlines():
        heading = HEADING.match(line)
        if heading:
            current = (heading["schema"], heading["table"])
            tables[current] = []
            continue
        if line.startswith("## "):
            current = None
        row = ROW.match(line)
        if row and current is not None:
            tables[current].append((row["column"], row["type"].strip()))
    return tables


@pytest.mark.parametrize("doc", DOCS)
def test_design_doc_matches_the_built_tables(warehouse: Warehouse, doc: str) -> None:
    tables = documented_tables(DESIGN / doc)
    assert len(tables) >= 3, f"{doc}: no tables parsed"
    for (schema, table), columns in tables.items():
        built = [
            (str(name), str(data_type))
            for name, data_type in warehouse.query(
                """
                select attribute.attname, format_type(attribute.atttypid, attribute.atttypmod)
                from pg_attribute as attribute
                join pg_class as relation on relation.oid = attribute.attrelid
                join pg_namespace as namespace on namespace.oid = relation.relnamespace
                where namespace.nspname = %s and relation.relname = %s
                    and attribute.attnum > 0 and not attribute.attisdropped
                order by attribute.attnum
                """,
                (schema, table),
            )
        ]
        assert built, f"{doc}: {schema}.{table} does not exist"
        missing_in_doc = [c for c, _ in built if c not in dict(columns)]
        missing_in_db = [c for c, _ in columns if c not in dict(built)]
        assert not missing_in_doc and not missing_in_db, (
            f"{doc}: {schema}.{table} - undocumented columns {missing_in_doc}, "
            f"documented but absent {missing_in_db}"
        )
        assert columns == built, f"{doc}: {schema}.{table} order or types differ"


def test_design_docs_cover_the_key_tables() -> None:
    covered = {table for doc in DOCS for (_, table) in documented_tables(DESIGN / doc)}
    assert {
        "raw_node_results",
        "raw_entity_results",
        "raw_contributions",
        "stg_nodes",
        "stg_entity_results",
        "stg_statistical_methods",
        "stg_anomalies",
        "stg_contributions",
        "fct_contributions",
    } <= covered
