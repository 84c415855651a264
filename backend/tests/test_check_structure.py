"""``tools/check_structure.py`` passes on the package and fails on what it must refuse."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BACKEND = Path(__file__).resolve().parents[1]
TOOL = BACKEND / "tools" / "check_structure.py"


def _check(source: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(TOOL), "--source", str(source)],
        capture_output=True,
        text=True,
        check=False,
    )


def _package(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / "quality_compass" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_the_package_meets_the_limits() -> None:
    result = _check(BACKEND / "src")
    assert result.returncode == 0, result.stderr
    assert result.stdout.rstrip().endswith(": ok")


def test_an_import_cycle_through_a_lazy_import_fails(tmp_path: Path) -> None:
    source = _package(
        tmp_path,
        {
            "__init__.py": "",
            "a.py": "from quality_compass import b\n",
            "b.py": "def f() -> None:\n    from quality_compass.a import g\n",
        },
    )
    result = _check(source)
    assert result.returncode == 1
    assert (
        "import cycle: quality_compass.a (line 1) -> quality_compass.b (line 2) -> "
        "quality_compass.a" in result.stderr
    )


def test_a_function_over_80_lines_fails(tmp_path: Path) -> None:
    body = "".join(f"    x{i} = {i}\n" for i in range(80))
    source = _package(tmp_path, {"__init__.py": "", "long.py": f"def f() -> None:\n{body}"})
    result = _check(source)
    assert result.returncode == 1
    assert "function f has 81 lines (limit 80)" in result.stderr
