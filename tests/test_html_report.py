"""What `snakemake --report` shows: every table as an HTML page with the numbers rounded as in its Markdown
table (not a CSV download), the figures, captions that exist for exactly those files, and a workflow
description that names the configuration the report was made with.

Building a report needs a finished run (minutes); these tests check the files and texts it is made of, and
docs/results.md ("Checking the report in a browser") records the look at a real report in headless Chromium.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml
from test_tables import N_RESAMPLES, _markdown_rows, make_study

from cotmask import report
from cotmask.report.formatting import Table, to_html
from cotmask.report.outputs import TABLE_FORMATS, report_entry

ROOT = Path(__file__).resolve().parents[1]
CAPTIONS = ROOT / "report"
#: a number printed with more digits than any table shows (1 decimal; McNemar p-values 3 significant
#: digits): 5 or more significant digits after the point, as in 35.111111111111114
LONG_NUMBER = re.compile(r"\d\.0*[1-9]\d{4,}")


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


# ------------------------------------------------------------------------------ report items, captions


def test_report_shows_the_html_tables_and_the_figures_with_existing_captions():
    names = list(report.output_paths("results"))
    shown = {name: report_entry(name) for name in names if report_entry(name)}
    assert {n for n in shown if n.endswith(".html")} == {f"{stem}.html" for stem in report.TABLE_STEMS}
    assert {n for n in shown if n.endswith(".png")} == {f"{name}.png" for name in report.FIGURE_NAMES}
    assert not any(n.endswith((".csv", ".md", ".tex", ".json")) for n in shown)
    for caption, category in shown.values():
        assert (CAPTIONS / caption).is_file(), caption
        assert category in ("Tables", "Figures")
    # no caption file is left over for an output that no longer exists
    captions = {p.name for p in CAPTIONS.glob("*.rst")} - {"workflow.rst"}
    assert captions == {caption for caption, _ in shown.values()}


class _Job:
    """What a caption's Jinja template sees as ``snakemake`` (config and the tables job's params)."""

    def __init__(self, config: dict, config_files: list[str]):
        self.config = config
        self.params = type("Params", (), {"config_files": config_files})()


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


@pytest.mark.parametrize("caption", sorted(p.name for p in CAPTIONS.glob("*_*.rst")))
def test_captions_render_and_name_the_config_file(caption):
    page = _render(CAPTIONS / caption, _Job({"results_dir": "results/smoke"}, ["config/smoke.yaml"]))
    assert "config/smoke.yaml" in page and "results/smoke/" in page
    assert "system-message" not in page
