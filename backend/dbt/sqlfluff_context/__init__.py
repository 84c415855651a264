"""What dbt's Jinja context gives models and sqlfluff's jinja templater lacks.

sqlfluff (`.sqlfluff`, `library_path = sqlfluff_context`) puts every public name of this
module into the template context, ahead of its own dbt stand-ins. `var()` returns the real
values from dbt_project.yml (models loop over the tier lists, so a placeholder string does
not render), so the vars stay in one place.
"""

from __future__ import annotations

from pathlib import Path as _Path
from typing import Any as _Any

import yaml as _yaml

_PROJECT_VARS: dict[str, _Any] = _yaml.safe_load(
    (_Path(__file__).resolve().parents[1] / "dbt_project.yml").read_text()
)["vars"]


def var(name: str, default: _Any = None) -> _Any:
    """dbt's var(): the project's value, else the default (analyses take --vars)."""
    return _PROJECT_VARS.get(name, default)


class _Exceptions:
    """dbt's `exceptions`: a compile-time check that fails renders nothing here."""

    @staticmethod
    def raise_compiler_error(message: str) -> str:
        raise RuntimeError(message)

    @staticmethod
    def warn(message: str) -> str:
        return ""


exceptions = _Exceptions()
