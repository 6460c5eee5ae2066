"""The study's report: evaluations aggregated into the paper's tables (Tables 1, 2, 3, 5 counterparts),
Fig. 3 data, subgroup breakdowns, figures and ``summary.json``.

Entry point: :func:`build_tables` (called by the workflow's ``tables`` rule and by ``cotmask tables``).
All accuracies in the outputs are percentages (0-100); deltas are percentage points. The statistics
(seed mean/sd, paired two-stage bootstrap CIs, McNemar) are those of :mod:`cotmask.stats`.
docs/results.md describes every output file and column.

Modules, in the order of the data flow (none imports a later one; :mod:`~cotmask.report.plots` takes
frames and the training-set order, never the builders):

* ``reference``: the paper's numbers (``paper_reference.yaml``) and name matching;
* ``outputs``: the fixed set of output files and which of them ``snakemake --report`` shows;
* ``evaluations``: reading and checking the index and its files;
* ``options``: the options, resolved once (defaults and training-set order from the config/index);
* ``study``: cells and their statistics; ``formatting``: number formats, Markdown, LaTeX, :class:`Table`;
* builders: ``main_tables`` (Tables 1, 2), ``arm_tables`` (Tables 3, 5), ``comparisons`` (also the
  headline figure's panels and the paper's deltas), ``cells``,
  ``sweeps`` (Fig. 3), ``breakdowns`` (by steps, by distractor);
* ``plots``; ``build`` (:func:`build_tables`); ``files`` (:func:`build_tables_from_files`: the index and
  options as JSON files, what ``cotmask tables`` runs).
"""

import importlib

#: where each public name lives; imported on first use (PEP 562), so that the planner, which reads only the
#: paper's reference at every parse, does not import pandas, scipy and matplotlib (docs/speed.md)
_EXPORTS = {
    "build_tables": "build",
    "COMPARISON_COLUMNS": "comparisons",
    "Evaluation": "evaluations",
    "TableInputError": "evaluations",
    "load_evaluations": "evaluations",
    "build_tables_from_files": "files",
    "Table": "formatting",
    "format_accuracy": "formatting",
    "format_delta": "formatting",
    "DEFAULT_METHOD_LABELS": "options",
    "OPTION_DEFAULTS": "options",
    "Options": "options",
    "resolve_options": "options",
    "FIGURE_NAMES": "outputs",
    "TABLE_STEMS": "outputs",
    "output_paths": "outputs",
    "PAPER_REFERENCE": "reference",
    "Study": "study",
}


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'cotmask.report' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"cotmask.report.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value


__all__ = [
    "COMPARISON_COLUMNS",
    "DEFAULT_METHOD_LABELS",
    "FIGURE_NAMES",
    "OPTION_DEFAULTS",
    "PAPER_REFERENCE",
    "TABLE_STEMS",
    "Evaluation",
    "Options",
    "Study",
    "Table",
    "TableInputError",
    "build_tables",
    "build_tables_from_files",
    "format_accuracy",
    "format_delta",
    "load_evaluations",
    "output_paths",
    "resolve_options",
]
