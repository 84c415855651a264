"""Run dbt commands against the resolved database, from the project folder."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from quality_compass.errors import QcError
from quality_compass.paths import dbt_project_dir
from quality_compass.warehouse.connection import dbt_subprocess_env
from quality_compass.warehouse.settings import DbSettings


@dataclass
class DbtResult:
    args: list[str]
    returncode: int
    seconds: float
    output: str
    run_results: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def statuses(self) -> dict[str, int]:
        """Results per status, of the nodes (models, tests, seeds...): project hooks
        (``operation.*``, e.g. the on-run-start TLS check) are not counted; a failed hook
        shows as skipped nodes and a non-zero exit."""
        counts: dict[str, int] = {}
        for result in (self.run_results or {}).get("results", []):
            if str(result.get("unique_id", "")).startswith("operation."):
                continue
            status = str(result.get("status"))
            counts[status] = counts.get(status, 0) + 1
        return counts


def dbt_executable() -> list[str]:
    """The dbt of this environment (next to the running Python), else the one on PATH."""
    candidate = Path(sys.executable).parent / "dbt"
    if candidate.is_file():
        return [str(candidate)]
    found = shutil.which("dbt")
    if found:
        return [found]
    raise QcError(
        "dbt is not installed in this environment; run `uv sync` in backend/", exit_code=2
    )


def run_dbt(
    args: list[str],
    settings: DbSettings,
    *,
    project_dir: Path | None = None,
    stream: bool = True,
    check: bool = True,
    target_path: Path | None = None,
    extra_env: dict[str, str] | None = None,
) -> DbtResult:
    """Run ``dbt <args>`` with ``DBT_POSTGRES_*`` pointing at ``settings``.

    Output is streamed to stdout (when ``stream``) and captured. With ``check`` a non-zero
    exit raises a QcError that names the command.
    """
    project = project_dir or dbt_project_dir()
    env = dbt_subprocess_env(settings)
    if extra_env:
        env.update(extra_env)
    if target_path is not None:
        env["DBT_TARGET_PATH"] = str(target_path)
    command = [*dbt_executable(), *args]
    if "--profiles-dir" not in args:
        command += ["--profiles-dir", str(project)]
    if "--project-dir" not in args:
        command += ["--project-dir", str(project)]
    started = time.perf_counter()
    returncode, output = _run(command, project, env, stream)
    seconds = time.perf_counter() - started
    run_results = _fresh_run_results(
        (target_path or project / "target") / "run_results.json", seconds
    )
    result = DbtResult(
        args=args,
        returncode=returncode,
        seconds=seconds,
        output=output,
        run_results=run_results,
    )
    if check and not result.ok:
        raise QcError(
            f"`dbt {' '.join(args)}` failed (exit {returncode}); see the dbt output above"
        )
    return result


def _run(command: list[str], cwd: Path, env: dict[str, str], stream: bool) -> tuple[int, str]:
    """Run dbt; its output (stdout and stderr) is captured and, with ``stream``, echoed."""
    proc = subprocess.Popen(
        command,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    )
    lines: list[str] = []
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line)
        if stream:
            sys.stdout.write(line)
            sys.stdout.flush()
    return proc.wait(), "".join(lines)


def _fresh_run_results(path: Path, seconds: float) -> dict[str, Any] | None:
    """``run_results.json`` when this invocation wrote it (not a stale one), else None."""
    if not path.is_file() or path.stat().st_mtime < time.time() - seconds - 1:
        return None
    try:
        results: dict[str, Any] = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return results
