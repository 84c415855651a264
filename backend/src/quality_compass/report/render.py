"""Render the report data as ONE self-contained HTML file.

- jinja2 with autoescape on: every text from the data (facility names, reasoning, labels)
  is escaped by the template.
- The data the charts need is embedded once as JSON in a ``<script
  type="application/json">`` block, with ``<``, ``>`` and ``&`` written as ``\\u003c``,
  ``\\u003e``, ``\\u0026`` so no value can close the block (``</script>``) or open a
  comment; the page's script reads it with ``JSON.parse`` and writes text with
  ``textContent`` only.
- Every script and style is inline (ECharts, vendored in ``static/echarts`` with its
  licence, and the page's own script and style); there are no fonts to load (system font
  stack). A Content-Security-Policy allows only those inline scripts (by hash) and no
  network request of any kind, so even a mistake could not fetch anything.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from functools import cache
from importlib import resources
from typing import Any

import jinja2
from markupsafe import Markup

from quality_compass.report import queries

_PACKAGE = "quality_compass.report"
#: The vendored chart library (see static/echarts/VENDORED.md).
ECHARTS_FILE = "static/echarts/echarts.min.js"
_SCRIPT_END = re.compile(r"</script|<!--", re.IGNORECASE)


def _asset(path: str) -> str:
    return resources.files(_PACKAGE).joinpath(path).read_text(encoding="utf-8")


@cache
def inline_script(path: str) -> str:
    """A script file's text, checked to be safe inside an inline ``<script>`` element."""
    text = _asset(path)
    if _SCRIPT_END.search(text):
        raise ValueError(f"{path} contains '</script' or '<!--' and cannot be inlined")
    return text


def json_for_script(value: Any) -> Markup:
    """JSON that is safe as the text of a ``<script type="application/json">`` element."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    text = (
        text.replace("&", "\\u0026")
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )
    return Markup(text)


def script_hash(text: str) -> str:
    """The CSP source expression allowing one inline script."""
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


# -- template filters ----------------------------------------------------------------------


def format_number(value: Any, decimals: int = 2) -> str:
    if value is None:
        return "–"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.{decimals}f}"
    return str(value)


def format_time(value: Any) -> str:
    """ISO timestamp -> 'YYYY-MM-DD HH:MM:SS UTC±hh:mm' (kept as is when not ISO)."""
    if not value:
        return "–"
    text = str(value)
    match = re.match(
        r"(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(?:\.\d+)?(Z|[+-]\d{2}:\d{2})?$", text
    )
    if not match:
        return text
    zone = match.group(3) or ""
    zone = " UTC" if zone in ("Z", "+00:00") else (f" {zone}" if zone else "")
    return f"{match.group(1)} {match.group(2)}{zone}"


def format_label(value: Any) -> str:
    """'critical_trajectory' -> 'critical trajectory'."""
    if value is None or value == "":
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value).replace("_", " ")


def format_seconds(value: Any) -> str:
    if not isinstance(value, int | float):
        return "–"
    if value < 120:
        return f"{value:.0f} s"
    if value < 7200:
        return f"{value / 60:.0f} min"
    if value < 172800:
        return f"{value / 3600:.1f} h"
    return f"{value / 86400:.1f} days"


def severity_class(value: Any) -> str:
    return f"sev-{str(value or queries.NO_SEVERITY).lower()}"


@cache
def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader(_PACKAGE, "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters.update(
        number=format_number,
        time=format_time,
        label=format_label,
        seconds=format_seconds,
        severity_class=severity_class,
    )
    return environment


def _signal_dicts(data: dict[str, Any]) -> list[dict[str, Any]]:
    columns = data["signals"]["columns"]
    return [dict(zip(columns, row, strict=True)) for row in data["signals"]["rows"]]


def render_html(data: dict[str, Any]) -> str:
    """The report page for ``data`` (build.build_report_data)."""
    scripts = {
        "echarts": inline_script(ECHARTS_FILE),
        "app": inline_script("static/report.js"),
    }
    csp = "; ".join(
        [
            "default-src 'none'",
            "script-src " + " ".join(script_hash(text) for text in scripts.values()),
            "style-src 'unsafe-inline'",
            "img-src data: blob:",
            "base-uri 'none'",
            "form-action 'none'",
        ]
    )
    signals = _signal_dicts(data)
    template = _environment().get_template("report.html.j2")
    return template.render(
        data=data,
        run=data["run"],
        signals=signals,
        table=[signals[index] for index in data["table"]],
        details=[(detail, signals[detail["signal"]]) for detail in data["details"]],
        severity_levels=[*queries.SEVERITY_LEVELS, queries.NO_SEVERITY],
        data_json=json_for_script(data),
        style=Markup(_asset("static/report.css")),
        echarts_js=Markup(scripts["echarts"]),
        app_js=Markup(scripts["app"]),
        csp=csp,
    )
