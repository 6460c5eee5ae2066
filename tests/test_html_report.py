"""What `snakemake --report` shows: every table as an HTML page with the numbers rounded as in its Markdown
table (not a CSV download), the figures, captions that exist for exactly those files, and a workflow
description that names the configuration the report was made with. The analyses' tables and figures
(dependency distance, the Table 4 case study; rules dependency_table and case_study_table) are shown the same
way, with captions that name their job and its inputs.

Building a report from real numbers needs a finished run (minutes); these tests check the files and texts it
is made of, and one builds the report of the smoke DAG with every output empty (``snakemake --touch``, as in
test_reruns.py) to see what Snakemake shows and with which captions. docs/results.md ("Checking the report in
a browser") records the look at a real report in headless Chromium.
"""

from __future__ import annotations

import json
import re
import zipfile
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml
from test_reruns import SMOKE, create_outputs
from test_tables import N_RESAMPLES, _markdown_rows, make_study
from test_workflow import copy_workflow, snakemake

from cotmask import report
from cotmask.plan import Plan, validated_config
from cotmask.plan.analysis import DEPENDENCY_FILES
from cotmask.plan.case_study import CASE_STUDY_FILES
from cotmask.report.formatting import Table, to_html
from cotmask.report.outputs import DIAGNOSTICS_STEM, TABLE_FORMATS, report_entry

ROOT = Path(__file__).resolve().parents[1]
CAPTIONS = ROOT / "report"
#: a number printed with more digits than any table shows (1 decimal; McNemar p-values 3 significant
#: digits): 5 or more significant digits after the point, as in 35.111111111111114
LONG_NUMBER = re.compile(r"\d\.0*[1-9]\d{4,}")
#: The analyses' outputs the report shows (report_analysis_files in rules/common.smk): file name ->
#: (caption under report/, category); the HTML table as table_<stem>.rst, the figure as figure_<stem>.rst.
ANALYSIS_SHOWN = {
    Path(name).name: (f"table_{Path(name).stem}.rst", "Tables") if name.endswith(".html")
    else (f"figure_{Path(name).stem}.rst", "Figures")
    for name in DEPENDENCY_FILES + CASE_STUDY_FILES if name.endswith((".html", ".png"))
}
#: The job that writes each analysis caption's file, and its inputs in the plan (what the caption counts).
ANALYSIS_JOBS = {"dependency": ("dependency_table", Plan.dependency_files),
                 "table4_case_study": ("case_study_table", Plan.case_study_summaries)}
SHIPPED_CONFIGS = sorted(p.name for p in (ROOT / "config").glob("*.yaml") if p.name != "schema.yaml")


class _TableCells(HTMLParser):
    """The header and body cells of the one <table> of a page, as text."""

    def __init__(self):
        super().__init__()
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def html_rows(path: Path) -> list[dict[str, str]]:
    parser = _TableCells()
    parser.feed(path.read_text(encoding="utf-8"))
    header, *body = parser.rows
    return [dict(zip(header, row)) for row in body]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("study")
    index = make_study(root / "evals")
    out = root / "results"
    report.build_tables(index, out, rft_train_set="rft", n_resamples=N_RESAMPLES, bootstrap_seed=3)
    return out


@pytest.mark.parametrize("stem", report.TABLE_STEMS)
def test_each_table_has_an_html_page_with_the_markdown_numbers(built, stem):
    """The HTML table holds exactly the Markdown table's cells (the same rounding), never the CSV's
    full-precision floats, and carries the table's title and notes."""
    page = built / "tables" / f"{stem}.html"
    assert page.is_file()
    text = page.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and "<table" in text
    markdown = (built / "tables" / f"{stem}.md").read_text(encoding="utf-8")
    title = markdown.splitlines()[0].removeprefix("## ")
    assert f"<h2>{title}</h2>" in text.replace("&#x27;", "'")
    rows = html_rows(page)
    assert rows == _markdown_rows(built / "tables" / f"{stem}.md")
    assert not any(LONG_NUMBER.search(cell) for row in rows for cell in row.values())


def test_html_rounding_of_a_known_table(built):
    """table1's first row: accuracies `mean ± sd` and deltas `+d [lo, hi]` with one decimal, from the CSV."""
    import pandas as pd

    csv = pd.read_csv(built / "tables" / "table1_main.csv").iloc[0]
    row = html_rows(built / "tables" / "table1_main.html")[0]
    assert row["GSM8K SFT"] == f"{csv.gsm_sft_mean:.1f} ± {csv.gsm_sft_sd:.1f}"
    assert row["GSM8K MFT - SFT"].startswith(f"{csv.gsm_mft_minus_sft:+.1f} [".replace("-0.0", "+0.0"))
    assert not LONG_NUMBER.search(row["GSM8K SFT"]) and LONG_NUMBER.search(repr(float(csv.gsm_sft_mean)) + "0000")


def test_html_escapes_text_and_says_when_a_table_is_empty():
    import pandas as pd

    page = to_html(pd.DataFrame([{"Arm": "<b>x</b> & y"}]), "A <title>", ["note <1>"])
    assert "&lt;b&gt;x&lt;/b&gt; &amp; y" in page and "<b>x</b>" not in page
    assert "<h2>A &lt;title&gt;</h2>" in page and "note &lt;1&gt;" in page
    empty = to_html(pd.DataFrame(columns=["Arm"]), "Empty", [])
    assert "No data for this table" in empty


def test_table_write_returns_every_format(tmp_path):
    import pandas as pd

    table = Table("demo", "Demo", pd.DataFrame({"x": [1.23456]}), pd.DataFrame({"X": ["1.2"]}))
    paths = table.write(tmp_path)
    assert [p.suffix.lstrip(".") for p in paths] == list(TABLE_FORMATS)
    assert html_rows(paths[3]) == [{"X": "1.2"}]


# ------------------------------------------------------------------------- the diagnostics table


def _epoch_files(folder: Path, gaps: tuple[float, ...]) -> None:
    """diagnostics.jsonl with one epoch per gap: test accuracy 0.3 throughout, train accuracy 0.3 + gap."""
    import json

    folder.mkdir(parents=True)
    rows = [{"epoch": float(e), "step": e, "samples_seen": 10 * e, "train_loss": 0.5 / e, "test_loss": 0.6,
             "train_accuracy": 0.3 + gap, "test_accuracy": 0.3} for e, gap in enumerate(gaps, 1)]
    (folder / "diagnostics.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))


def test_build_tables_writes_the_diagnostics_table_when_given_runs(tmp_path):
    """With diagnostics_runs, build_tables writes tables/diagnostics.* (the files output_paths lists with
    diagnostics=True) from the epoch files, means over seeds; summary.json stays the evaluations' alone."""
    import pandas as pd

    index = make_study(tmp_path / "evals")
    runs = []
    for seed, last_gap in ((1, 0.2), (2, 0.4)):
        folder = tmp_path / "ft" / "llama" / "gsm" / "sft" / f"seed{seed}"
        _epoch_files(folder, (0.1, last_gap))
        runs.append({"model": "llama", "train_set": "gsm", "method": "sft", "seed": seed, "dir": str(folder)})
    out = tmp_path / "results"
    summary = report.build_tables(index, out, diagnostics_runs=runs, rft_train_set="rft", n_resamples=20,
                                  figures=False)
    expected = set(report.output_paths(out, figures=False, diagnostics=True).values())
    assert {p for p in out.rglob("*") if p.is_file()} == expected
    table = pd.read_csv(out / "tables" / "diagnostics.csv")
    assert table[["model", "train_set", "method", "n_seeds"]].values.tolist() == [["llama", "gsm", "sft", 2]]
    assert table.accuracy_gap.iloc[0] == pytest.approx(30.0) and table.best_epoch.iloc[0] == 1.0
    assert html_rows(out / "tables" / "diagnostics.html") == _markdown_rows(out / "tables" / "diagnostics.md")
    assert "diagnostics" not in summary["tables"] and "tables/diagnostics.csv" not in summary["outputs"]


def test_build_tables_names_a_fine_tune_without_diagnostics(tmp_path):
    index = make_study(tmp_path / "evals")
    folder = tmp_path / "ft" / "seed1"
    folder.mkdir(parents=True)
    runs = [{"model": "llama", "train_set": "gsm", "method": "sft", "seed": 1, "dir": str(folder)}]
    with pytest.raises(report.TableInputError, match=rf"^{re.escape(str(folder))}/diagnostics.jsonl: no overfitting"):
        report.build_tables(index, tmp_path / "results", diagnostics_runs=runs, rft_train_set="rft",
                            n_resamples=20, figures=False)
    assert not (tmp_path / "results" / "tables" / "diagnostics.csv").exists()


# ------------------------------------------------------------------------------ report items, captions


def test_report_shows_the_html_tables_and_the_figures_with_existing_captions():
    names = list(report.output_paths("results", diagnostics=True))
    shown = {name: report_entry(name) for name in names if report_entry(name)}
    stems = (*report.TABLE_STEMS, DIAGNOSTICS_STEM)
    assert {n for n in shown if n.endswith(".html")} == {f"{stem}.html" for stem in stems}
    assert {n for n in shown if n.endswith(".png")} == {f"{name}.png" for name in report.FIGURE_NAMES}
    assert not any(n.endswith((".csv", ".md", ".tex", ".json")) for n in shown)
    for caption, category in shown.values():
        assert (CAPTIONS / caption).is_file(), caption
        assert category in ("Tables", "Figures")
    # the analyses' HTML table and figure each, under the same naming scheme
    assert set(ANALYSIS_SHOWN) == {"dependency.html", "dependency.png", "table4_case_study.html",
                                   "table4_case_study.png"}
    for caption, _ in ANALYSIS_SHOWN.values():
        assert (CAPTIONS / caption).is_file(), caption
    # no caption file is left over for an output that no longer exists
    captions = {p.name for p in CAPTIONS.glob("*.rst")} - {"workflow.rst"}
    assert captions == {caption for caption, _ in [*shown.values(), *ANALYSIS_SHOWN.values()]}


class _Job:
    """What a caption's Jinja template sees as ``snakemake`` (config and the tables job's params)."""

    def __init__(self, config: dict, config_files: list[str], inputs: list[str] = ()):
        self.config = config
        self.params = type("Params", (), {"config_files": config_files})()
        self.input = list(inputs)


def _render(path: Path, job: _Job) -> str:
    jinja2 = pytest.importorskip("jinja2")
    docutils_core = pytest.importorskip("docutils.core")
    text = jinja2.Environment(undefined=jinja2.StrictUndefined).from_string(path.read_text(encoding="utf-8"))
    return docutils_core.publish_parts(text.render(snakemake=job), writer="html")["html_body"]


@pytest.mark.parametrize("config_file", ["config/config.yaml", "config/smoke.yaml", "config/paper.yaml"])
def test_workflow_description_names_the_configuration(config_file):
    """The report's front page renders (as Snakemake renders it: Jinja, then docutils) with a Configuration
    section that exists, the results folder and every top-level value of the config."""
    config = {"results_dir": "results", **yaml.safe_load((ROOT / config_file).read_text(encoding="utf-8"))}
    page = _render(CAPTIONS / "workflow.rst", _Job(config, [config_file]))
    assert re.search(r"<h[12][^>]*>Configuration</h[12]>", page)
    assert f"<tt class=\"docutils literal\">{config['results_dir']}/</tt>" in page
    assert "--configfile" in page
    for key in config:
        assert f"&#34;{key}&#34;" in page, key
    assert "system-message" not in page  # no reST error


ANALYSIS_CAPTIONS = sorted(caption for caption, _ in ANALYSIS_SHOWN.values())


@pytest.mark.parametrize("caption", sorted({p.name for p in CAPTIONS.glob("*_*.rst")} - set(ANALYSIS_CAPTIONS)))
def test_captions_render_and_name_the_config_file(caption):
    page = _render(CAPTIONS / caption, _Job({"results_dir": "results/smoke"}, ["config/smoke.yaml"]))
    assert "config/smoke.yaml" in page and "results/smoke/" in page
    assert "system-message" not in page


@pytest.mark.parametrize("config_file", SHIPPED_CONFIGS)
@pytest.mark.parametrize("caption", ANALYSIS_CAPTIONS)
def test_analysis_captions_render_for_the_shipped_configs(caption, config_file):
    """An analysis caption (its job has no config_files param: naming the config file there would rerun the
    job for every other file name) renders for every shipped config after the schema's defaults, and names
    the results folder, its job and how many per-fine-tune files that job reads in the config's plan."""
    config = validated_config(yaml.safe_load((ROOT / "config" / config_file).read_text(encoding="utf-8")))
    rule, inputs_of = ANALYSIS_JOBS[caption.split("_", 1)[1].removesuffix(".rst")]
    inputs = inputs_of(Plan(config))
    page = _render(CAPTIONS / caption, _Job(config, [], inputs))
    assert f"{config['results_dir']}/" in page
    assert f"<tt class=\"docutils literal\">{rule}</tt> job from {len(inputs)} per-fine-tune" in page
    assert "system-message" not in page


# ---------------------------------------------------------------- the report of a recorded smoke run


def _embedded(page: str, name: str) -> dict:
    """A JSON object the report page embeds as ``var NAME = {...};`` in its <script id="NAME">."""
    match = re.search(rf'<script id="{name}">\s*var {name} = (\{{.*?\}});\s*</script>', page, flags=re.S)
    assert match, f"no {name} in the report page"
    return json.loads(match.group(1))


@pytest.fixture(scope="module")
def smoke_report(tmp_path_factory) -> tuple[dict, dict]:
    """(results, categories) of ``snakemake --report`` on the smoke DAG with every output empty and every job
    recorded as done by ``--touch`` (captions render from the recorded jobs' params, inputs and config)."""
    directory = copy_workflow(tmp_path_factory.mktemp("report"))
    create_outputs(directory)
    touched = snakemake(directory, "--touch", "--forceall", "-c", "1", "--configfile", SMOKE)
    assert touched.returncode == 0, touched.stdout[-3000:]
    result = snakemake(directory, "--report", "report.zip", "--configfile", SMOKE)
    assert result.returncode == 0, result.stdout[-3000:]
    with zipfile.ZipFile(directory / "report.zip") as archive:
        page = archive.read("report/report.html").decode("utf-8")
    return _embedded(page, "results"), _embedded(page, "categories")


def test_smoke_report_shows_every_html_table_and_figure_with_its_caption(smoke_report):
    """The report holds exactly the tables job's HTML tables and PNG figures and the analyses' (dependency,
    Table 4 case study), each with its rendered caption and under Tables or Figures; nothing else."""
    results, categories = smoke_report
    plan = Plan(validated_config(yaml.safe_load((ROOT / SMOKE).read_text(encoding="utf-8"))))
    expected = {Path(path).name for name, path in plan.table_files().items() if report_entry(name)}
    expected |= {Path(path).name for path in plan.dependency_table_files() + plan.case_study_files()
                 if Path(path).name in ANALYSIS_SHOWN}
    assert {item["name"] for item in results.values()} == expected
    assert set(ANALYSIS_SHOWN) <= expected
    results_dir = plan.config["results_dir"]
    for path, item in results.items():
        assert path.startswith(f"{results_dir}/") and path.endswith((".html", ".png")), path
        assert item["caption"].startswith("<p>") and "system-message" not in item["caption"], path
        assert f"{results_dir}/" in item["caption"], path
    for name, (_, category) in ANALYSIS_SHOWN.items():
        rule, inputs_of = ANALYSIS_JOBS[Path(name).stem]
        item = next(item for item in results.values() if item["name"] == name)
        assert item["job_properties"]["rule"] == rule
        assert f"{rule}</tt> job from {len(inputs_of(plan))} per-fine-tune" in item["caption"]
        assert any(path.endswith(f"/{name}") for paths in categories[category].values() for path in paths)
