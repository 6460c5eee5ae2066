"""Tests of cotmask.stats: seed summaries, pairing, paired two-stage bootstrap, McNemar."""

from __future__ import annotations

import json
import math
import random
import statistics
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import binomtest, bootstrap

from cotmask import stats


def _vectors(
    b: int, c: int, both_right: int = 5, both_wrong: int = 4
) -> tuple[list[bool], list[bool]]:
    """Paired vectors with b (treatment right, control wrong) and c (the reverse) discordant pairs."""
    treatment = [True] * b + [False] * c + [True] * both_right + [False] * both_wrong
    control = [False] * b + [True] * c + [True] * both_right + [False] * both_wrong
    return treatment, control


def test_seed_summary_matches_statistics_module():
    values = [41.0, 44.5, 39.25]
    summary = stats.seed_summary(values)
    assert summary["mean"] == pytest.approx(statistics.fmean(values))
    assert summary["sd"] == pytest.approx(statistics.stdev(values))
    assert summary["n_seeds"] == 3
    single = stats.seed_summary([50.0])
    assert single["mean"] == 50.0 and math.isnan(single["sd"]) and single["n_seeds"] == 1


def test_mcnemar_exact_matches_hand_computation():
    treatment, control = _vectors(b=3, c=9)
    result = stats.mcnemar_test(treatment, control)
    # two-sided exact: 2 * P(X <= 3), X ~ Bin(12, 1/2)
    by_hand = 2 * sum(math.comb(12, k) for k in range(4)) / 2**12
    assert (result.b, result.c, result.method) == (3, 9, "exact")
    assert result.p_value == pytest.approx(by_hand)
    assert result.p_value == pytest.approx(binomtest(3, 12, 0.5).pvalue)


def test_mcnemar_exact_symmetric_and_capped_at_one():
    t, c = _vectors(b=4, c=4)
    assert stats.mcnemar_test(t, c).p_value == pytest.approx(1.0)
    t, c = _vectors(b=2, c=7)
    assert stats.mcnemar_test(t, c).p_value == pytest.approx(stats.mcnemar_test(c, t).p_value)


def test_mcnemar_chi_square_with_continuity_correction():
    treatment, control = _vectors(b=40, c=20)
    result = stats.mcnemar_test(treatment, control)
    statistic = (abs(40 - 20) - 1) ** 2 / 60
    assert result.method == "chi2-cc"
    assert result.statistic == pytest.approx(statistic)
    # chi-square with 1 df: P(X > s) = erfc(sqrt(s / 2))
    assert result.p_value == pytest.approx(math.erfc(math.sqrt(statistic / 2)))


def test_mcnemar_no_discordant_pairs_and_length_mismatch():
    result = stats.mcnemar_test([True, False], [True, False])
    assert (result.p_value, result.method) == (1.0, "none")
    with pytest.raises(stats.ItemMismatchError):
        stats.mcnemar_test([True, False, True], [True, False])


def test_pair_items_is_order_independent():
    rng = np.random.default_rng(3)
    ids = [f"q{i:02d}" for i in range(30)]
    treat = {s: {i: bool(rng.random() < 0.6) for i in ids} for s in (0, 1)}
    ctrl = {s: {i: bool(rng.random() < 0.5) for i in ids} for s in (0, 1)}
    clusters = {i: f"t{int(i[1:]) % 4}" for i in ids}

    def shuffled(runs):
        out = {}
        for seed in reversed(list(runs)):
            items = list(runs[seed].items())
            random.Random(seed).shuffle(items)
            out[seed] = dict(items)
        return out

    first = stats.pair_items(treat, ctrl, clusters)
    second = stats.pair_items(shuffled(treat), shuffled(ctrl), clusters)
    assert first.ids == second.ids == sorted(ids)
    np.testing.assert_array_equal(first.treatment, second.treatment)
    np.testing.assert_array_equal(first.control, second.control)
    assert first.clusters == second.clusters
    # the column of item "q07" holds q07's outcome for every seed
    column = first.ids.index("q07")
    assert first.treatment[:, column].tolist() == [float(treat[0]["q07"]), float(treat[1]["q07"])]
    a = stats.paired_bootstrap_delta(
        first.treatment, first.control, first.clusters, n_resamples=200, seed=1
    )
    b = stats.paired_bootstrap_delta(
        second.treatment, second.control, second.clusters, n_resamples=200, seed=1
    )
    assert a == b


def test_pair_items_rejects_mismatched_item_sets():
    treat = {0: {"a": True, "b": False, "c": True}}
    ctrl = {0: {"a": True, "b": True, "c": False}, 1: {"a": True, "b": True, "d": False}}
    with pytest.raises(stats.ItemMismatchError) as error:
        stats.pair_items(treat, ctrl, labels=("mft", "sft"))
    message = str(error.value)
    assert "sft seed 1" in message and "'c'" in message and "'d'" in message
    with pytest.raises(stats.ItemMismatchError, match="duplicate"):
        stats.check_item_sets({"file.jsonl": ["a", "a", "b"]})


def test_point_estimate_is_difference_of_means_and_seeded():
    rng = np.random.default_rng(0)
    treatment = rng.random((3, 80)) < 0.7
    control = rng.random((2, 80)) < 0.5
    result = stats.paired_bootstrap_delta(treatment, control, n_resamples=300, seed=5)
    assert result.delta == pytest.approx(treatment.mean() - control.mean())
    assert result.ci_low < result.delta < result.ci_high
    assert (result.n_seeds_treatment, result.n_seeds_control, result.n_items) == (3, 2, 80)
    again = stats.paired_bootstrap_delta(treatment, control, n_resamples=300, seed=5)
    other = stats.paired_bootstrap_delta(treatment, control, n_resamples=300, seed=6)
    assert again == result and other.ci_low != result.ci_low
    with pytest.raises(stats.ItemMismatchError):
        stats.paired_bootstrap_delta(treatment, control[:, :79])


def test_pairing_narrows_the_interval_for_correlated_arms():
    """With the same items in both arms, item difficulty cancels: the paired CI is narrow."""
    rng = np.random.default_rng(1)
    easy = rng.random(400) < 0.5
    control = np.tile(easy, (2, 1)).astype(float)
    treatment = control.copy()
    flip = rng.choice(400, size=20, replace=False)
    treatment[:, flip] = 1.0
    paired = stats.paired_bootstrap_delta(treatment, control, n_resamples=500, seed=0)
    unpaired_width = np.subtract(*reversed(stats.bootstrap_ci(treatment[0], 500, 0))) + np.subtract(
        *reversed(stats.bootstrap_ci(control[0], 500, 1))
    )
    assert paired.ci_high - paired.ci_low < 0.5 * unpaired_width


def _simulate(rng: np.random.Generator, n_items: int, n_seeds: int, effect: float, seed_sd: float):
    base = rng.uniform(0.25, 0.65, size=n_items)
    control = rng.random((n_seeds, n_items)) < base + rng.normal(0, seed_sd, size=(n_seeds, 1))
    treated = base + effect
    treatment = rng.random((n_seeds, n_items)) < treated + rng.normal(0, seed_sd, size=(n_seeds, 1))
    return treatment, control


def test_bootstrap_interval_covers_known_effect():
    rng = np.random.default_rng(2024)
    effect, covered, widths = 0.1, 0, []
    repetitions = 100
    for rep in range(repetitions):
        treatment, control = _simulate(rng, n_items=150, n_seeds=3, effect=effect, seed_sd=0.02)
        result = stats.paired_bootstrap_delta(treatment, control, n_resamples=300, seed=rep)
        covered += result.ci_low <= effect <= result.ci_high
        widths.append(result.ci_high - result.ci_low)
    assert 0.85 <= covered / repetitions <= 1.0
    assert 0.03 < float(np.mean(widths)) < 0.2  # informative, not trivially wide


def _clustered_outcomes(
    rng, p_cluster: np.ndarray, size: int, n_seeds: int, shared: float
) -> np.ndarray:
    """0/1 (seeds x items): an item copies its template's outcome with probability ``shared``."""
    cluster_draw = rng.random((n_seeds, p_cluster.size)) < p_cluster
    own_draw = rng.random((n_seeds, p_cluster.size * size)) < np.repeat(p_cluster, size)
    copy = rng.random((n_seeds, p_cluster.size * size)) < shared
    return np.where(copy, np.repeat(cluster_draw, size, axis=1), own_draw)


def test_clustered_interval_is_wider_when_clusters_are_correlated():
    rng = np.random.default_rng(11)
    n_clusters, size = 30, 10
    base = rng.uniform(0.2, 0.6, size=n_clusters)
    clusters = np.repeat([f"t{g}" for g in range(n_clusters)], size).tolist()
    control = _clustered_outcomes(rng, base, size, n_seeds=3, shared=0.9)
    treatment = _clustered_outcomes(rng, base + 0.1, size, n_seeds=3, shared=0.9)
    clustered = stats.paired_bootstrap_delta(treatment, control, clusters, n_resamples=800, seed=0)
    item_level = stats.paired_bootstrap_delta(treatment, control, None, n_resamples=800, seed=0)
    assert clustered.n_clusters == n_clusters and item_level.n_clusters == n_clusters * size
    assert clustered.delta == pytest.approx(item_level.delta)
    assert (clustered.ci_high - clustered.ci_low) > 1.25 * (item_level.ci_high - item_level.ci_low)
    # without within-template correlation, clustering changes little
    control = _clustered_outcomes(rng, base, size, n_seeds=3, shared=0.0)
    treatment = _clustered_outcomes(rng, base + 0.1, size, n_seeds=3, shared=0.0)
    clustered = stats.paired_bootstrap_delta(treatment, control, clusters, n_resamples=800, seed=0)
    item_level = stats.paired_bootstrap_delta(treatment, control, None, n_resamples=800, seed=0)
    assert (clustered.ci_high - clustered.ci_low) < 1.3 * (item_level.ci_high - item_level.ci_low)


def test_seed_stage_widens_interval_when_seeds_disagree():
    rng = np.random.default_rng(5)
    base = rng.uniform(0.3, 0.7, size=200)
    seed_shift = np.array([[-0.2], [0.0], [0.2]])
    treatment = rng.random((3, 200)) < base + seed_shift
    single = stats.bootstrap_mean_ci(treatment[1:2], n_resamples=500, seed=0)
    several = stats.bootstrap_mean_ci(treatment, n_resamples=500, seed=0)
    assert several[0] <= treatment.mean() <= several[1]
    assert (several[1] - several[0]) > (single[1] - single[0])


def test_mcnemar_per_seed_pairs_matching_seeds_only():
    paired = stats.PairedItems(
        ids=["a", "b", "c"],
        treatment=np.array([[1, 1, 0], [1, 0, 0]], dtype=float),
        control=np.array([[0, 1, 0], [1, 1, 1]], dtype=float),
        treatment_seeds=[0, 2],
        control_seeds=[0, 1],
    )
    results = stats.mcnemar_per_seed(paired)
    assert list(results) == [0]
    assert (results[0].b, results[0].c) == (1, 0)


# --------------------------------------------------------------------------------------------------
# Library implementations give the results of the hand-written ones (issue 16, point 9)
# --------------------------------------------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[1]


def _hand_written_percentile_ci(values, n_resamples: int, seed: int, confidence: float = 0.95):
    """The item bootstrap cotmask.stats.bootstrap_ci computed before it called scipy (kept as the reference)."""
    values = np.asarray(values, dtype=float)
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, values.size, size=(n_resamples, values.size))].mean(axis=1)
    tail = (1.0 - confidence) / 2.0
    return tuple(np.quantile(means, [tail, 1.0 - tail]))


@pytest.mark.parametrize("n_items,p", [(40, 0.3), (300, 0.55), (1319, 0.41)])
def test_scipy_percentile_bootstrap_agrees_with_the_hand_written_one(n_items, p):
    """Both draw from the same bootstrap distribution: with 20,000 resamples their endpoints agree within
    Monte-Carlo error (a percentile endpoint's sd is ~0.15 of the standard error here; the tolerance is
    one accuracy step 1/n or 0.25 standard errors, whichever is larger)."""
    values = (np.random.default_rng(n_items).random(n_items) < p).astype(float)
    new = stats.bootstrap_ci(values, n_resamples=20_000, seed=1)
    old = _hand_written_percentile_ci(values, 20_000, seed=2)
    standard_error = values.std() / math.sqrt(n_items)
    tolerance = max(1.0 / n_items, 0.25 * standard_error)
    assert new[0] == pytest.approx(old[0], abs=tolerance)
    assert new[1] == pytest.approx(old[1], abs=tolerance)
    assert new[0] < values.mean() < new[1]
    # and the interval is the normal-theory one up to Monte-Carlo error and discreteness
    assert new[1] - new[0] == pytest.approx(2 * 1.96 * standard_error, rel=0.1)


def test_bootstrap_ci_degenerate_inputs():
    assert stats.bootstrap_ci([1.0]) == (1.0, 1.0)
    assert stats.bootstrap_ci([0.0, 0.0, 0.0]) == (0.0, 0.0)
    assert all(math.isnan(v) for v in stats.bootstrap_ci([]))
    assert stats.bootstrap_ci([1, 0, 1, 0], seed=5) == stats.bootstrap_ci([1, 0, 1, 0], seed=5)


def test_two_stage_bootstrap_reduces_to_scipys_for_one_seed_and_no_clusters():
    """The kept two-stage code, with one seed per arm and every item its own cluster, is the ordinary
    (paired) item bootstrap: its intervals agree with scipy.stats.bootstrap's within Monte-Carlo error."""
    rng = np.random.default_rng(11)
    n_items = 400
    control = (rng.random(n_items) < 0.5).astype(float)
    treatment = np.where(rng.random(n_items) < 0.15, 1.0 - control, control)
    standard_error = (treatment - control).std() / math.sqrt(n_items)
    ours = stats.paired_bootstrap_delta(treatment, control, n_resamples=20_000, seed=0)
    library = bootstrap(
        (treatment, control),
        lambda t, c, axis=-1: t.mean(axis=axis) - c.mean(axis=axis),
        paired=True,
        n_resamples=20_000,
        method="percentile",
        rng=np.random.default_rng(1),
    ).confidence_interval
    assert ours.ci_low == pytest.approx(library.low, abs=0.25 * standard_error)
    assert ours.ci_high == pytest.approx(library.high, abs=0.25 * standard_error)
    single = stats.bootstrap_mean_ci(control, n_resamples=20_000, seed=0)
    plain = stats.bootstrap_ci(control, n_resamples=20_000, seed=3)
    assert single == pytest.approx(plain, abs=0.25 * control.std() / math.sqrt(n_items))


def _committed_mcnemar_results() -> list[dict]:
    path = ROOT / "results" / "summary.json"
    if not path.is_file():
        return []
    summary = json.loads(path.read_text(encoding="utf-8"))
    return [test for row in summary["comparisons_detail"] for test in row["mcnemar"].values()]


@pytest.mark.skipif(not _committed_mcnemar_results(), reason="results/summary.json not committed")
def test_committed_mcnemar_p_values_recompute_from_their_discordant_pairs():
    """Every McNemar result of the committed summary.json is what mcnemar_test gives for its discordant
    counts (b, c): the exact ones equal scipy.stats.binomtest(b, b + c), the others the chi-square."""
    results = _committed_mcnemar_results()
    methods = {result["method"] for result in results}
    assert "chi2-cc" in methods
    for result in results:
        b, c = result["b"], result["c"]
        treatment, control = _vectors(b, c)
        again = stats.mcnemar_test(treatment, control)
        assert (again.b, again.c, again.method) == (b, c, result["method"])
        assert again.p_value == pytest.approx(result["p_value"], rel=1e-12, abs=1e-300)
        if result["method"] == "exact":
            assert result["p_value"] == pytest.approx(min(1.0, binomtest(b, b + c, 0.5).pvalue), rel=1e-12)
