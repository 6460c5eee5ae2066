"""Number formats, LaTeX/Markdown rendering and :class:`Table` (a numeric frame and its display frame)."""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cotmask import stats

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


_LATEX_ESCAPES = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "±": r"$\pm$",
    "−": r"$-$",
    "–": "--",
    "Δ": r"$\Delta$",
}


def latex_escape(text: str) -> str:
    """Escape LaTeX specials and map ±, −, –, Δ to math/ASCII forms."""
    return "".join(_LATEX_ESCAPES.get(ch, ch) for ch in str(text))


def to_latex(display: pd.DataFrame, caption: str, label: str) -> str:
    """A ``table`` environment of the (string) display frame (needs booktabs and graphicx)."""
    spec = "l" * len(display.columns)
    lines = [
        r"\begin{table}[t]",
        r"\centering",
        r"\small",
        rf"\caption{{{latex_escape(caption)}}}",
        rf"\label{{tab:{label}}}",
        r"\resizebox{\linewidth}{!}{%",
        rf"\begin{{tabular}}{{{spec}}}",
        r"\toprule",
        " & ".join(latex_escape(c) for c in display.columns) + r" \\",
        r"\midrule",
    ]
    for row in display.itertuples(index=False):
        lines.append(" & ".join(latex_escape(v) for v in row) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}}", r"\end{table}", ""]
    return "\n".join(lines)


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
    """Write ``text`` atomically (a temporary file in the same folder, then a rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


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
        paths = [tables_dir / f"{self.stem}.{ext}" for ext in ("csv", "md", "tex")]
        write_text(self.numeric.to_csv(index=False), paths[0])
        write_text(to_markdown(self.display, self.title, self.notes), paths[1])
        write_text(to_latex(self.display, self.title, f"cotmask-{self.stem}"), paths[2])
        return paths

    def records(self) -> list[dict]:
        return [
            {k: json_value(v) for k, v in row.items()}
            for row in self.numeric.to_dict(orient="records")
        ]
