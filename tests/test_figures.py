"""The figures of cotmask.report.plots: the headline forest plot (MFT − SFT, MFT − SFT-long with their CIs and
the paper's deltas) and the defects it must not have (cells never evaluated drawn as bars, coinciding
reference lines with two legend entries, clipped titles, panels on different y scales, empty grid cells).

Each figure is captured before it is saved (``plots.save_figure`` patched) and its artists are checked."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.patches import Rectangle
from test_tables import N_RESAMPLES, make_study

from cotmask import report
from cotmask.report import plots
from cotmask.report.reference import PAPER_REFERENCE

LABELS = report.DEFAULT_METHOD_LABELS


@pytest.fixture
def captured(monkeypatch):
    """The figures the plot functions draw, in order (nothing is written)."""
    figures = []

    def keep(fig, path):
        FigureCanvasAgg(fig).draw()
        figures.append(fig)
        return path

    monkeypatch.setattr(plots, "save_figure", keep)
    return figures


def _texts(ax) -> list[str]:
    return [t.get_text() for t in ax.texts]


def _bars(ax) -> list[Rectangle]:
    return [p for p in ax.patches if isinstance(p, Rectangle) and p.get_width() < 1]


# ------------------------------------------------------------------------------------------ layout


@pytest.mark.parametrize(
    "n_panels,max_cols,shape",
    [(1, 3, (1, 1)), (2, 3, (1, 2)), (3, 3, (1, 3)), (3, 2, (2, 2)), (4, 3, (2, 2)), (6, 3, (2, 3)), (5, 3, (2, 3))],
)
def test_grid_shape_leaves_as_few_holes_as_possible(n_panels, max_cols, shape):
    assert plots.grid_shape(n_panels, max_cols) == shape


def test_unused_grid_cells_are_removed():
    fig, axes = plots._new_figure(5, 3.0, max_cols=3)
    assert len(axes) == 5 and len(fig.axes) == 5


def _cells_frame() -> pd.DataFrame:
    """accuracy_cells rows: three groups x three methods on GSM8K and GSM-IC 2-step; llama/rft has no
    GSM-IC evaluation at all and mistral/gsm no SFT-long on GSM-IC."""
    rows = []
    for model, train_set in (("llama", "gsm"), ("llama", "rft"), ("mistral", "gsm")):
        for benchmark in ("gsm_test", "gsm_ic_2step"):
            for k, method in enumerate(("sft", "sft_long", "mft")):
                if benchmark == "gsm_ic_2step" and (train_set == "rft" or (model == "mistral" and method == "sft_long")):
                    continue
                rows.append({"model": model, "train_set": train_set, "method": method, "benchmark": benchmark,
                             "decoding": "calc", "mean": 40.0 + 5 * k, "sd": 1.0})
    return pd.DataFrame(rows)


def test_main_results_mark_cells_never_evaluated_instead_of_zero_bars(captured, tmp_path):
    plots.plot_main_results(_cells_frame(), tmp_path / "m.png", benchmarks={"gsm": "gsm_test", "ic_2step": "gsm_ic_2step"},
                            method_labels=LABELS, train_set_order=["gsm", "rft"])
    fig = captured[0]
    assert len(fig.axes) == 2  # one row of two panels, no empty cell
    gsm, ic = fig.axes
    assert len(_bars(gsm)) == 9 and not any(t == plots.NOT_RUN for t in _texts(gsm))
    ic_bars = _bars(ic)
    assert len(ic_bars) == 5  # 9 cells minus 4 never evaluated: no bar at all for them
    assert all(bar.get_height() > 0 for bar in ic_bars)
    not_run = [t for t in ic.texts if t.get_text() == plots.NOT_RUN]
    # one mark across the llama/rft group (group 1), one at mistral/gsm's SFT-long bar
    assert sorted(t.get_position()[0] for t in not_run) == pytest.approx([1.0, 2.0])
    assert {t.get_rotation() for t in not_run} == {0.0, 90.0}
    assert gsm.get_ylim() == ic.get_ylim() == (0.0, 100.0)


def _fig3_frame(sft: float, sft_long: float, benchmark: str = "gsm_test") -> pd.DataFrame:
    rows = [{"model": "llama", "train_set": "gsm", "benchmark": benchmark, "decoding": "calc", "setting": setting,
             "method": f"mft_{ratio}", "mask_ratio": ratio, "mean": 50 - 40 * ratio, "sd": 1.0}
            for setting in ("warmup", "no_warmup") for ratio in (0.2, 0.4, 0.8)]
    rows += [{"model": "llama", "train_set": "gsm", "benchmark": benchmark, "decoding": "calc", "setting": "reference",
              "method": method, "mask_ratio": np.nan, "mean": mean, "sd": 1.0}
             for method, mean in (("sft", sft), ("sft_long", sft_long))]
    return pd.DataFrame(rows)


def _reference_lines(ax) -> list[float]:
    return sorted(line.get_ydata()[0] for line in ax.lines if len(set(line.get_ydata())) == 1 and line.get_linestyle() != "-")


def test_fig3_coinciding_reference_lines_share_one_legend_entry(captured, tmp_path):
    plots.plot_fig3(_fig3_frame(64.9, 65.3), tmp_path / "f.png", benchmark="gsm_test", method_labels=LABELS)
    ax = captured[0].axes[0]
    assert _reference_lines(ax) == pytest.approx([64.9, 65.3])  # both drawn at their own value
    entries = ax.get_legend_handles_labels()[1]
    references = [e for e in entries if "SFT" in e]
    assert references == ["SFT and SFT-long (64.9, 65.3)"]


def test_fig3_separate_reference_lines_keep_their_own_entries(captured, tmp_path):
    plots.plot_fig3(_fig3_frame(60.0, 48.5), tmp_path / "f.png", benchmark="gsm_test", method_labels=LABELS)
    ax = captured[0].axes[0]
    entries = [e for e in ax.get_legend_handles_labels()[1] if "SFT" in e]
    assert sorted(entries) == ["SFT (60.0)", "SFT-long (48.5)"]
    styles = {line.get_linestyle() for line in ax.lines if len(set(line.get_ydata())) == 1}
    assert len(styles) == 2


def _inside_the_figure(fig) -> bool:
    box = fig._suptitle.get_window_extent(fig.canvas.get_renderer())
    return box.x0 >= 0 and box.x1 <= fig.bbox.width


def test_one_panel_figures_keep_their_whole_title(captured, tmp_path):
    long_name = "gsm_symbolic_p2_distractor_test_split"
    plots.plot_fig3(_fig3_frame(60.0, 48.5), tmp_path / "f.png", benchmark="gsm_test")
    steps = pd.DataFrame([{"model": "llama", "train_set": "gsm", "method": "sft", "benchmark": long_name,
                           "decoding": "calc", "n_steps": n, "mean": 50.0, "sd": 1.0} for n in (2, 3)])
    plots.plot_accuracy_by_steps(steps, tmp_path / "s.png", benchmark=long_name)
    fig3, by_steps = captured
    assert len(fig3.axes) == len(by_steps.axes) == 1
    assert long_name in by_steps._suptitle.get_text().replace("\n", "")
    assert "\n" in by_steps._suptitle.get_text()  # wrapped, not cut
    assert _inside_the_figure(fig3) and _inside_the_figure(by_steps)


def test_accuracy_by_steps_panels_share_the_y_axis(captured, tmp_path):
    rows = []
    for offset, (model, train_set) in enumerate((("llama", "gsm"), ("llama", "rft"), ("mistral", "gsm"))):
        for method in ("sft", "mft"):
            for steps in (2, 3, 4):
                rows.append({"model": model, "train_set": train_set, "method": method, "benchmark": "gsm_test",
                             "decoding": "calc", "n_steps": steps, "mean": 30 * offset + 80 - 10 * steps, "sd": 1.0})
    plots.plot_accuracy_by_steps(pd.DataFrame(rows), tmp_path / "s.png", benchmark="gsm_test", method_labels=LABELS)
    axes = captured[0].axes
    assert len(axes) == 3
    assert len({ax.get_ylim() for ax in axes}) == 1
    assert axes[0].get_ylim()[0] <= 40 - 1 and axes[0].get_ylim()[1] >= 120 - 1  # covers every panel's data
    assert [ax.get_ylabel() for ax in axes] == ["accuracy (%)", "", ""]


# ------------------------------------------------------------------------------------- forest plot


def _comparison(model, train_set, control, benchmark, delta, low, high, decoding="calc", control_train_set=None):
    return {"model": model, "train_set": train_set, "treatment": "mft", "control_train_set": control_train_set or train_set,
            "control": control, "benchmark": benchmark, "decoding": decoding, "delta": delta, "ci_low": low,
            "ci_high": high}


def _points(ax) -> list[tuple[float, float]]:
    """(x, y) of every plotted point with error bars (the difference markers)."""
    return sorted((float(c.lines[0].get_xdata()[0]), float(c.lines[0].get_ydata()[0])) for c in ax.containers)


def test_forest_draws_each_difference_with_its_interval(captured, tmp_path):
    frame = pd.DataFrame([
        _comparison("llama", "gsm", "sft", "gsm_test", -25.4, -32.5, -19.0),
        _comparison("llama", "gsm", "sft_long", "gsm_test", -25.9, -32.7, -19.8),
        _comparison("mistral", "gsm", "sft", "gsm_test", -9.0, -13.8, -4.0),
        _comparison("llama", "gsm", "sft", "ic", 0.0, -4.0, 4.1),
        _comparison("llama", "gsm", "sft", "gsm_test", 99.0, 98.0, 100.0, decoding="plain"),  # other decoding
        _comparison("llama", "gsm", "sft", "gsm_test", 77.0, 70.0, 80.0, control_train_set="rft"),  # cross-set
    ])
    plots.plot_forest(frame, tmp_path / "forest.png", panels=[("gsm_test", "GSM8K"), ("math_test", "MATH"), ("ic", "GSM-IC")],
                      groups=[("llama", "gsm"), ("mistral", "gsm")], decoding="calc",
                      paper_deltas={("llama", "gsm", "gsm_test"): 5.5, ("llama", "gsm", "ic"): 11.2},
                      method_labels=LABELS)
    fig = captured[0]
    gsm, ic = fig.axes[:2]
    assert len(fig.axes) == 2  # MATH was never compared: no panel
    assert [ax.get_title() for ax in (gsm, ic)] == ["GSM8K", "GSM-IC"]
    step = 0.6 / 2
    np.testing.assert_allclose(_points(gsm), [(-25.9, 0 + step / 2), (-25.4, 0 - step / 2), (-9.0, 1 - step / 2)])
    intervals = sorted(tuple(np.round(seg[:, 0], 1)) for c in gsm.containers for seg in c.lines[2][0].get_segments())
    assert intervals == [(-32.7, -19.8), (-32.5, -19.0), (-13.8, -4.0)]
    # mistral/gsm has no MFT − SFT-long on GSM8K and nothing on GSM-IC
    assert _texts(gsm) == [plots.NOT_RUN]
    assert gsm.texts[0].get_position()[1] == pytest.approx(1 + step / 2)  # at the missing point's place
    # on GSM-IC: llama/gsm lacks MFT − SFT-long, mistral/gsm the whole row (one mark across the row)
    assert sorted(t.get_position()[1] for t in ic.texts) == pytest.approx([step / 2, 1])
    assert _texts(ic) == [plots.NOT_RUN, plots.NOT_RUN]
    # the paper's MFT − SFT: a hollow diamond on the MFT − SFT row
    diamonds = [(line.get_xdata()[0], line.get_ydata()[0]) for ax in (gsm, ic) for line in ax.lines if line.get_marker() == "D"]
    np.testing.assert_allclose(diamonds, [(5.5, -step / 2), (11.2, -step / 2)])
    assert [t.get_text() for t in gsm.get_yticklabels()] == ["llama / gsm", "mistral / gsm"]
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend == ["MFT − SFT", "MFT − SFT-long", "paper: MFT − SFT"]


def test_forest_without_comparisons_says_so(captured, tmp_path):
    other = pd.DataFrame([{**_comparison("llama", "gsm", "sft", "gsm_test", 1.0, 0.0, 2.0), "treatment": "sft_long"},
                          _comparison("llama", "gsm", "sft", "gsm_test", 1.0, 0.0, 2.0, control_train_set="rft")])
    plots.plot_forest(other, tmp_path / "forest.png", panels=[("gsm_test", "GSM8K")], decoding="calc")
    assert "No" in captured[0].axes[0].texts[0].get_text()


def test_forest_shows_a_benchmark_compared_with_another_decoding_only_with_it(captured, tmp_path):
    """MATH evaluated with plain decoding only still gets its panel in a calc-decoding figure, titled so."""
    frame = pd.DataFrame([_comparison("llama", "gsm", "sft", "gsm_test", -3.0, -5.0, -1.0),
                          _comparison("llama", "gsm", "sft", "gsm_test", 8.0, 6.0, 10.0, decoding="plain"),
                          _comparison("llama", "math", "sft", "math_test", 1.5, -2.0, 5.0, decoding="plain")])
    plots.plot_forest(frame, tmp_path / "forest.png", panels=[("gsm_test", "GSM8K"), ("math_test", "MATH")],
                      groups=[("llama", "gsm"), ("llama", "math")], decoding="calc", method_labels=LABELS)
    gsm, math_panel = captured[0].axes
    assert (gsm.get_title(), math_panel.get_title()) == ("GSM8K", "MATH (plain decoding)")
    assert [x for x, _ in _points(gsm)] == [-3.0]  # the calc row, not the plain one
    assert [x for x, _ in _points(math_panel)] == [1.5]


@pytest.fixture(scope="module")
def built_partial(tmp_path_factory):
    """A study whose rft cells have no GSM-IC evaluation and whose mistral has no rft cell."""
    root = tmp_path_factory.mktemp("partial")
    index = make_study(root / "evals", models=("tiny-llama", "tiny-mistral"), train_sets=("gsm",), sweep=False)
    index += make_study(root / "evals", models=("tiny-llama",), train_sets=("rft",), benchmarks=("gsm8k", "math"),
                        sweep=False)
    out = root / "results"
    report.build_tables(index, out, rft_train_set="rft", n_resamples=N_RESAMPLES, bootstrap_seed=3)
    return out


def test_build_tables_draws_the_headline_figure_from_the_comparison_rows(built_partial, monkeypatch, tmp_path):
    """plot_forest gets exactly the comparisons table's rows, the panels of the benchmarks evaluated and the
    paper's deltas of Tables 1 and 5 for the matching cells."""
    calls = []
    original = plots.plot_forest
    monkeypatch.setattr(plots, "plot_forest", lambda frame, path, **kw: calls.append((frame, kw)) or original(frame, path, **kw))
    index_out = tmp_path / "again"
    index = make_study(tmp_path / "evals", models=("tiny-llama", "tiny-mistral"), train_sets=("gsm",), sweep=False)
    index += make_study(tmp_path / "evals", models=("tiny-llama",), train_sets=("rft",), benchmarks=("gsm8k", "math"),
                        sweep=False)
    report.build_tables(index, index_out, rft_train_set="rft", n_resamples=N_RESAMPLES, bootstrap_seed=3)
    frame, spec = calls[0]
    assert (index_out / "figures" / "forest_deltas.png").is_file()
    on_disk = pd.read_csv(index_out / "tables" / "comparisons.csv")
    assert len(frame) == len(on_disk)
    assert np.allclose(frame["delta"].astype(float), on_disk["delta"]) and np.allclose(
        frame["ci_low"].astype(float), on_disk["ci_low"])
    assert [name for name, _ in spec["panels"]] == ["gsm8k", "math", "gsm_ic_2step+gsm_ic_mstep"]
    assert spec["pairs"] == [("mft", "sft"), ("mft", "sft_long")]
    assert spec["groups"] == [("tiny-llama", "gsm"), ("tiny-llama", "rft"), ("tiny-mistral", "gsm")]
    assert spec["decoding"] == "calc"
    table1 = {(r["model"], r["train_set"], r["benchmark"]): r["mft"] - r["sft"] for r in PAPER_REFERENCE["table1"]}
    table5 = {(r["model"], r["method"]): r["gsm_ic"] for r in PAPER_REFERENCE["table5"]}
    assert spec["paper_deltas"] == pytest.approx({
        ("tiny-llama", "gsm", "gsm8k"): table1[("Llama2-7B", "GSM8K", "gsm")],
        ("tiny-llama", "rft", "gsm8k"): table1[("Llama2-7B", "GSM8K-RFT-U33", "gsm")],
        ("tiny-mistral", "gsm", "gsm8k"): table1[("Mistral-7B", "GSM8K", "gsm")],
        ("tiny-llama", "gsm", "gsm_ic_2step+gsm_ic_mstep"): table5[("Llama2-7B", "MFT")] - table5[("Llama2-7B", "SFT")],
    })


def test_headline_figure_marks_the_cells_a_study_did_not_run(built_partial, captured):
    comparisons = pd.read_csv(built_partial / "tables" / "comparisons.csv")
    plots.plot_forest(comparisons, built_partial / "unused.png",
                      panels=[("gsm8k", "GSM8K"), ("gsm_ic_2step+gsm_ic_mstep", "GSM-IC pooled")],
                      groups=[("tiny-llama", "gsm"), ("tiny-llama", "rft"), ("tiny-mistral", "gsm")])
    gsm, ic = captured[0].axes
    assert len(gsm.containers) == 6 and not gsm.texts
    assert len(ic.containers) == 4 and _texts(ic) == [plots.NOT_RUN]
    assert ic.texts[0].get_position()[1] == 1  # the tiny-llama/rft row
    within = comparisons[(comparisons.decoding == "calc") & (comparisons.benchmark == "gsm8k")
                         & (comparisons.train_set == comparisons.control_train_set) & (comparisons.treatment == "mft")]
    assert sorted(x for x, _ in _points(gsm)) == pytest.approx(sorted(within["delta"]))
