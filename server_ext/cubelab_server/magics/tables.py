"""What the magics return and show: HTML tables with coloured statuses."""

from __future__ import annotations

import html

STATUS_COLOURS = {
    "pending": "var(--jp-layout-color3, #bbb)",
    "running": "var(--jp-brand-color1, #1976d2)",
    "stopping": "var(--jp-warn-color1, #f57c00)",
    "succeeded": "var(--jp-success-color1, #388e3c)",
    "failed": "var(--jp-error-color1, #d32f2f)",
    "upstream-failed": "var(--jp-warn-color1, #f57c00)",
    "cancelled": "var(--jp-warn-color1, #f57c00)",
    "stopped": "var(--jp-warn-color1, #f57c00)",
    "early-stopped": "var(--jp-warn-color1, #f57c00)",
    "skipped": "var(--jp-layout-color4, #888)",
}


def status_html(status: str) -> str:
    return f"<span style='color:{STATUS_COLOURS.get(status, 'inherit')};font-weight:600'>{html.escape(status)}</span>"


def html_table(rows: list[dict], columns: list[str], highlight: int | None = None) -> str:
    """``highlight``: the index of a row shown in bold (an experiment's best trial)."""
    head = "".join(f"<th style='text-align:left'>{html.escape(c)}</th>" for c in columns)
    body = ""
    for index, row in enumerate(rows):
        cells = ""
        for c in columns:
            value = row.get(c)
            text = html.escape("" if value is None else str(value))
            if c == "status" and value in STATUS_COLOURS:
                text = status_html(value)
            cells += f"<td style='text-align:left'>{text}</td>"
        style = " style='font-weight:600'" if index == highlight else ""
        body += f"<tr{style}>{cells}</tr>"
    return f"<table class='cubelab-table'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


class Table:
    """A small DataFrame-like result: HTML in notebooks, text elsewhere,
    ``.to_dataframe()`` when pandas is installed."""

    def __init__(self, rows: list[dict], columns: list[str], title: str = "", highlight: int | None = None):
        self.rows = rows
        self.columns = columns
        self.title = title
        self.highlight = highlight

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, index):
        return self.rows[index]

    def to_dataframe(self):
        import pandas as pd

        return pd.DataFrame(self.rows, columns=self.columns)

    def _repr_html_(self):
        title = f"<b>{html.escape(self.title)}</b>" if self.title else ""
        return title + html_table(self.rows, self.columns, self.highlight)

    def __repr__(self):
        widths = {c: max([len(c)] + [len(str(r.get(c) if r.get(c) is not None else "")) for r in self.rows]) for c in self.columns}
        lines = ["  ".join(c.ljust(widths[c]) for c in self.columns)]
        for r in self.rows:
            lines.append("  ".join(str(r.get(c) if r.get(c) is not None else "").ljust(widths[c]) for c in self.columns))
        return (self.title + "\n" if self.title else "") + "\n".join(lines)
