"""What ``qc validate`` reports: issues with file, line and rule id, and counts per rule.

Rule ids are ``docs/reference/needle_run_format.md`` §9 numbers (``9.2-11`` is rule 11
of §9.2), plus ``1`` (required files), ``2.1`` and ``2.2`` (encoding, timestamps) and
``10`` (known variants). Only the first ``ISSUES_KEPT_PER_RULE`` issues of a rule are
kept; all are counted.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from quality_compass.errors import QcError

ERROR = "error"
WARNING = "warning"

ISSUES_KEPT_PER_RULE = 200


class ValidateError(QcError):
    """The run folder cannot be validated at all (it does not exist)."""

    exit_code = 2


@dataclass
class Issue:
    severity: str
    rule: str
    file: str
    line: int | None
    message: str

    def render(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        tag = f"[{self.rule}]" if self.severity == ERROR else f"[{self.rule}] warning:"
        return f"{where}: {tag} {self.message}"


@dataclass
class Report:
    run_dir: Path
    issues: list[Issue] = field(default_factory=list)
    by_rule: dict[str, list[int]] = field(default_factory=dict)
    files: int = 0
    lines_read: int = 0
    bytes: int = 0

    @property
    def errors(self) -> int:
        return sum(c[0] for c in self.by_rule.values())

    @property
    def warnings(self) -> int:
        return sum(c[1] for c in self.by_rule.values())

    @property
    def ok(self) -> bool:
        return self.errors == 0

    def add(self, severity: str, rule: str, file: str, line: int | None, message: str) -> None:
        counts = self.by_rule.setdefault(rule, [0, 0])
        counts[0 if severity == ERROR else 1] += 1
        if counts[0] + counts[1] <= ISSUES_KEPT_PER_RULE:
            self.issues.append(Issue(severity, rule, file, line, message))

    def _shown(self, max_errors: int) -> list[Issue]:
        ordered = [i for i in self.issues if i.severity == ERROR] + [
            i for i in self.issues if i.severity == WARNING
        ]
        return ordered if max_errors <= 0 else ordered[:max_errors]

    def lines(self, max_errors: int = 50) -> list[str]:
        """The human report: issues (errors first, capped), then a summary per rule."""
        out = [issue.render() for issue in self._shown(max_errors)]
        hidden = self.errors + self.warnings - len(out)
        if hidden > 0:
            out.append(f"... {hidden} more issue(s) not shown (--max-errors {max_errors})")
        out.append(
            f"checked {self.run_dir}: {self.files} files, {self.lines_read} lines, "
            f"{self.bytes / 1e6:.1f} MB: {self.errors} error(s), {self.warnings} warning(s)"
        )
        if self.by_rule:
            out.append(f"  {'rule':<12} {'errors':>7} {'warnings':>9}")
            for rule in sorted(self.by_rule, key=rule_sort_key):
                errors, warnings = self.by_rule[rule]
                out.append(f"  {rule:<12} {errors:>7} {warnings:>9}")
        return out

    def to_json(self, max_errors: int = 50) -> str:
        return json.dumps(
            {
                "run_dir": str(self.run_dir),
                "ok": self.ok,
                "files": self.files,
                "lines": self.lines_read,
                "bytes": self.bytes,
                "errors": self.errors,
                "warnings": self.warnings,
                "by_rule": {
                    rule: {"errors": c[0], "warnings": c[1]}
                    for rule, c in sorted(self.by_rule.items(), key=lambda kv: rule_sort_key(kv[0]))
                },
                "issues": [
                    {
                        "severity": i.severity,
                        "rule": i.rule,
                        "file": i.file,
                        "line": i.line,
                        "message": i.message,
                    }
                    for i in self._shown(max_errors)
                ],
            },
            indent=2,
        )


def rule_sort_key(rule: str) -> tuple[Any, ...]:
    """``9.2-11`` sorts as (9, 2, 11): sections, then rule numbers, numerically."""
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"[.-]", rule))
