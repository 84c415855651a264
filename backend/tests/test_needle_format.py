"""The run format's vocabulary is stated once in Python and, where SQL needs it, once in dbt.

``quality_compass.needle`` is the Python home of the format's knowledge; the dbt project
keeps the copies that SQL reads as vars. The two must agree, in order.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from quality_compass.needle.layout import DOCUMENTS, EXPECTED_DOCUMENTS
from quality_compass.needle.vocabulary import SIGNAL_TYPES

DBT_PROJECT = Path(__file__).resolve().parents[1] / "dbt" / "dbt_project.yml"


def test_signal_types_equal_the_dbt_var() -> None:
    variables = yaml.safe_load(DBT_PROJECT.read_text())["vars"]
    assert list(SIGNAL_TYPES) == variables["signal_types"]


def test_expected_documents_are_documents() -> None:
    assert set(EXPECTED_DOCUMENTS) <= set(DOCUMENTS)
