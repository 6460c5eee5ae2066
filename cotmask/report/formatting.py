"""Number formats, LaTeX/Markdown rendering and :class:`Table` (a numeric frame and its display frame)."""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cotmask import stats
from cotmask.records import atomic_path
from cotmask.report.outputs import TABLE_FORMATS

#: the text of a missing number
MISSING = "–"


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float, np.floating, np.integer)) and math.isfinite(float(value))


def _signed(value: float, digits: int) -> str:
    """``+1.5`` / ``-0.3``; values that round to zero print as ``+0.0`` (never ``-0.0``)."""
    rounded = round(float(value), digits)
    return f"{rounded + 0.0 if rounded != 0 else 0.0:+.{digits}f}"


def format_accuracy(mean: float, sd: float, digits: int = 1) -> str:
    """``"47.1 ± 1.2"`` (no ± for a single seed), ``"–"`` when missing."""
    if not _finite(mean):
        return MISSING
    if not _finite(sd):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {sd:.{digits}f}"


def format_delta(delta: float, low: float, high: float, digits: int = 1) -> str:
    """``"+5.5 [+2.1, +8.9]"``, ``"–"`` when missing."""
    if not _finite(delta):
        return MISSING
    return f"{_signed(delta, digits)} [{_signed(low, digits)}, {_signed(high, digits)}]"


def delta_text(result: Mapping | None) -> str:
    """Formatted delta of a comparison row, ``"–"`` when the comparison is absent."""
    if result is None:
        return MISSING
    return format_delta(result["delta"], result["ci_low"], result["ci_high"])


def format_number(value: Any, digits: int = 1) -> str:
    if not _finite(value):
        return MISSING
    return f"{float(value):.{digits}f}"


def format_p_values(p_values: Mapping[int, float]) -> str:
    """``"0:0.031; 1:0.52"`` (seed:p), ``"–"`` when none."""
    if not p_values:
        return MISSING
    return "; ".join(f"{seed}:{p:.3g}" for seed, p in sorted(p_values.items()))


def seed_count_text(counts: Sequence[int]) -> str:
    """The number of seeds of a row's cells: ``"3"``, or a range ``"2-3"`` when they differ."""
    present = sorted({c for c in counts if c})
    if not present:
        return MISSING
    return str(present[0]) if len(present) == 1 else f"{present[0]}-{present[-1]}"


#: characters LaTeX's default input encoding does not typeset, mapped after the LaTeX escaping
_LATEX_UNICODE = {
    "±": r"$\pm$",
    "−": r"$-$",
    "–": "--",
    "Δ": r"$\Delta$",
}
#: LaTeX specials escaped in the caption (the cells and headers are escaped by the pandas Styler)
_LATEX_SPECIALS = {
    "\\": r"\textbackslash ",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde ",
    "^": r"\textasciicircum ",
}


def latex_unicode(text: str) -> str:
    """Map ±, −, –, Δ of an already escaped text to math/ASCII forms."""
    return "".join(_LATEX_UNICODE.get(ch, ch) for ch in str(text))


def latex_escape(text: str) -> str:
    """Escape LaTeX specials and map ±, −, –, Δ to math/ASCII forms (for the caption)."""
    return latex_unicode("".join(_LATEX_SPECIALS.get(ch, ch) for ch in str(text)))


def latex_tabular(display: pd.DataFrame) -> str:
    """The ``tabular`` of the (string) display frame, rendered by the pandas Styler (booktabs rules,
    cells and headers LaTeX-escaped, one left-aligned column per display column)."""
    styler = display.style.hide(axis="index")
    styler = styler.format(formatter=latex_unicode, escape="latex")
    styler = styler.format_index(formatter=latex_unicode, escape="latex", axis="columns")
    return styler.to_latex(column_format="l" * len(display.columns), hrules=True)


def to_latex(display: pd.DataFrame, caption: str, label: str) -> str:
    """A ``table`` environment of the (string) display frame (needs booktabs and graphicx), scaled to
    the line width."""
    lines = [
        r"\begin{table}[t]",
        r"\centering",
        r"\small",
        rf"\caption{{{latex_escape(caption)}}}",
        rf"\label{{tab:{label}}}",
        r"\resizebox{\linewidth}{!}{%",
        latex_tabular(display).rstrip("\n") + "}",
        r"\end{table}",
        "",
    ]
    return "\n".join(lines)


#: the look of a table file in a browser or the Snakemake report (self-contained: no external assets)
_HTML_STYLE = """
body { font-family: system-ui, sans-serif; font-size: 14px; margin: 1em; color: #222; }
h2 { font-size: 17px; margin: 0 0 0.5em 0; }
p.note { color: #444; max-width: 70em; margin: 0.3em 0; }
table.cotmask { border-collapse: collapse; margin-top: 0.8em; }
table.cotmask th, table.cotmask td { padding: 3px 9px; border-bottom: 1px solid #ddd; text-align: left; }
table.cotmask td { white-space: nowrap; }
table.cotmask th { border-bottom: 2px solid #555; background: #f4f4f4; vertical-align: bottom; }
table.cotmask tbody tr:hover { background: #fbf6e6; }
"""


def to_html(display: pd.DataFrame, title: str, notes: Sequence[str] = ()) -> str:
    """A standalone HTML page of the (string) display frame: the title, the notes, then the table with
    the numbers exactly as the Markdown table shows them (what ``snakemake --report`` shows inline)."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f"<title>{html.escape(title)}</title>",
        f"<style>{_HTML_STYLE}</style>",
        "</head>",
        "<body>",
        f"<h2>{html.escape(title)}</h2>",
    ]
    parts += [f'<p class="note">{html.escape(note)}</p>' for note in notes]
    if display.empty:
        parts.append('<p class="note"><em>No data for this table in this study.</em></p>')
    parts.append(display.to_html(index=False, border=0, classes="cotmask", escape=True, na_rep=MISSING))
    parts += ["</body>", "</html>", ""]
    return "\n".join(parts)


def to_markdown(display: pd.DataFrame, title: str, notes: Sequence[str] = ()) -> str:
    """``## title``, the notes as paragraphs, then a pipe table of the display frame."""
    parts = [f"## {title}", ""]
    for note in notes:
        parts += [note, ""]
    if display.empty:
        parts += ["_No data for this table in this study._", ""]
    parts.append(display.to_markdown(index=False, disable_numparse=True))
    parts.append("")
    return "\n".join(parts)


def write_text(text: str, path: Path) -> None:
    """Write ``text`` atomically (a temporary file in the same folder, then a rename), with the user's normal
    permissions (:func:`cotmask.records.atomic_path`)."""
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text, encoding="utf-8")


def json_value(value: Any) -> Any:
    """``value`` with numpy scalars as Python numbers, non-finite floats as None, keys as strings."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return stats.finite_or_none(value)
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_value(v) for v in value]
    return value


@dataclass
class Table:
    """A numeric frame (CSV, summary.json) and its string rendering (Markdown, LaTeX)."""

    stem: str
    title: str
    numeric: pd.DataFrame
    display: pd.DataFrame
    notes: list[str] = field(default_factory=list)

    @classmethod
    def from_rows(
        cls,
        stem: str,
        title: str,
        rows: tuple[list[dict], list[str]],
        display: tuple[list[dict], list[str]],
        notes: list[str],
    ) -> Table:
        """A table of (numeric rows, columns) and (display rows, display columns)."""
        return cls(
            stem,
            title,
            pd.DataFrame(rows[0], columns=rows[1]),
            pd.DataFrame(display[0], columns=display[1]),
            notes,
        )

    def write(self, tables_dir: Path) -> list[Path]:
        """``{stem}.csv`` (numeric), ``.md``, ``.tex`` and ``.html`` (the display) under ``tables_dir``."""
        paths = [tables_dir / f"{self.stem}.{ext}" for ext in TABLE_FORMATS]
        write_text(self.numeric.to_csv(index=False), paths[0])
        write_text(to_markdown(self.display, self.title, self.notes), paths[1])
        write_text(to_latex(self.display, self.title, f"cotmask-{self.stem}"), paths[2])
        write_text(to_html(self.display, self.title, self.notes), paths[3])
        return paths

    def records(self) -> list[dict]:
        return [
            {k: json_value(v) for k, v in row.items()}
            for row in self.numeric.to_dict(orient="records")
        ]
