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

from cotmask.report.build import build_tables
from cotmask.report.comparisons import COMPARISON_COLUMNS
from cotmask.report.evaluations import Evaluation, TableInputError, load_evaluations
from cotmask.report.files import build_tables_from_files
from cotmask.report.formatting import Table, format_accuracy, format_delta
from cotmask.report.options import DEFAULT_METHOD_LABELS, OPTION_DEFAULTS, Options, resolve_options
from cotmask.report.outputs import FIGURE_NAMES, TABLE_STEMS, output_paths
from cotmask.report.reference import PAPER_REFERENCE
from cotmask.report.study import Study

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
