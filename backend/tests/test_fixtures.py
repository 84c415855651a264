"""The shared fixtures fail loudly: a warehouse without its synthetic run is an error of
every test that uses it, never a quiet skip."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from conftest import _synthetic_runs


def test_a_generator_that_cannot_be_imported_fails_the_warehouse(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a module set to None in sys.modules makes `import` raise ImportError
    monkeypatch.setitem(sys.modules, "quality_compass.synth.generate.series", None)
    with pytest.raises(ImportError):
        _synthetic_runs(tmp_path)
    assert not any(tmp_path.iterdir())
