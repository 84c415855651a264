"""Read a report page the way a browser's parser would (html.parser), for test_report.py:
a small element tree with lookups by id, the embedded JSON data and the tables' cells."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from html.parser import HTMLParser
from typing import Any

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    children: list[Element | str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text for c in self.children)

    def iter(self, tag: str | None = None) -> list[Element]:
        found: list[Element] = []
        for child in self.children:
            if isinstance(child, Element):
                if tag is None or child.tag == tag:
                    found.append(child)
                found.extend(child.iter(tag))
        return found


class _TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {name: value or "" for name, value in attrs})
        self.stack[-1].children.append(element)
        if tag not in VOID:
            self.stack.append(element)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack[-1].children.append(Element(tag, {name: value or "" for name, value in attrs}))

    def handle_endtag(self, tag: str) -> None:
        for depth in range(len(self.stack) - 1, 0, -1):
            if self.stack[depth].tag == tag:
                del self.stack[depth:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


@dataclass
class ReportPage:
    html: str
    root: Element

    @classmethod
    def parse(cls, html: str) -> ReportPage:
        builder = _TreeBuilder()
        builder.feed(html)
        builder.close()
        return cls(html=html, root=builder.root)

    def by_id(self, element_id: str) -> Element:
        for element in self.root.iter():
            if element.attrs.get("id") == element_id:
                return element
        raise AssertionError(f"no element #{element_id} in the report")

    def has_id(self, element_id: str) -> bool:
        return any(e.attrs.get("id") == element_id for e in self.root.iter())

    @cached_property
    def data(self) -> dict[str, Any]:
        return json.loads(self.by_id("report-data").text)  # type: ignore[no-any-return]

    def body_rows(self, table_id: str) -> list[Element]:
        table = self.by_id(table_id)
        bodies = table.iter("tbody")
        assert bodies, f"#{table_id} has no tbody"
        return [row for row in bodies[0].children if isinstance(row, Element) and row.tag == "tr"]

    def signal(self, index: int) -> dict[str, Any]:
        signals = self.data["signals"]
        return dict(zip(signals["columns"], signals["rows"][index], strict=True))
