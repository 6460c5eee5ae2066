"""Statistics for accuracies: seed summaries, paired (clustered, two-stage) bootstrap, McNemar.

Accuracies here are fractions in [0, 1]; :mod:`cotmask.report` converts them to percentages.

Paired bootstrap of a difference (``paired_bootstrap_delta``)
--------------------------------------------------------------
The data of one comparison are two 0/1 matrices, ``treatment`` (k_T seeds x n items) and ``control``
(k_C seeds x n items), whose columns are the *same* items (see :func:`pair_items`), and a cluster
label per item (``metadata.template`` where problems share a template, otherwise the item itself).
The point estimate is ``mean(treatment) - mean(control)`` (mean over seeds and items). Each of the
``n_resamples`` replicates is drawn in two stages:

1. seeds: for each arm, draw k_a seeds with replacement from that arm's k_a seeds (independently per
   arm; with ``pair_seeds=True`` and identical seed lists, one draw is shared by both arms);
2. items: draw G clusters with replacement from the G clusters; *the same* clusters are used for
   treatment and control (this is the pairing); every item of a drawn cluster enters once per draw.

The replicate difference is ``sum_g W_g (Tbar_g - Cbar_g) / sum_g W_g |g|``, where ``W_g`` is how often
cluster g was drawn and ``Tbar_g`` the sum over cluster g's items of the item's accuracy averaged over
the drawn seeds. The interval is the percentile interval of the replicates. Everything is vectorised
(resample counts are multinomial draws; clusters are pre-summed), processed in blocks of replicates
so that memory stays bounded, and driven by ``numpy.random.default_rng(seed)``.

No library implements this two-stage, cluster-paired scheme, so it is written here; the plain one-stage
item bootstrap of one evaluation (:func:`bootstrap_ci`) is :func:`scipy.stats.bootstrap`, and the exact
McNemar test is :func:`scipy.stats.binomtest` on the discordant pairs.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

#: McNemar uses the exact binomial test when the discordant count b + c is below this.
MCNEMAR_EXACT_BELOW = 25

#: Upper bound on replicate-block size x cluster count held in memory at once.
_BLOCK_CELLS = 4_000_000


class ItemMismatchError(ValueError):
    """Two evaluations that must be paired do not cover the same items."""


def bootstrap_ci(
    correct, n_resamples: int = 1000, seed: int = 0, confidence: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of a 0/1 vector (items resampled with replacement).

    A plain one-stage bootstrap, so it is :func:`scipy.stats.bootstrap` (``method="percentile"``,
    driven by ``numpy.random.default_rng(seed)``). One item gives the degenerate interval (x, x),
    which scipy refuses to compute; no item gives (NaN, NaN).
    """
    values = np.asarray(correct, dtype=float).ravel()
    if values.size == 0:
        return (float("nan"), float("nan"))
    if values.size == 1:
        return (float(values[0]), float(values[0]))
    from scipy import stats as scipy_stats  # imported when used: the planner reads this package

    result = scipy_stats.bootstrap(
        (values,),
        np.mean,
        n_resamples=n_resamples,
        confidence_level=confidence,
        method="percentile",
        vectorized=True,
        rng=np.random.default_rng(seed),
    )
    interval = result.confidence_interval
    return (float(interval.low), float(interval.high))


# --------------------------------------------------------------------------------------------------
# Seed summaries
# --------------------------------------------------------------------------------------------------


def seed_summary(values: Sequence[float]) -> dict[str, float | int]:
    """Mean, sample standard deviation (ddof=1; NaN for one seed) and count of per-seed values."""
    array = np.asarray(values, dtype=float)
    if array.size == 0:
        return {"mean": float("nan"), "sd": float("nan"), "n_seeds": 0}
    sd = float(array.std(ddof=1)) if array.size > 1 else float("nan")
    return {"mean": float(array.mean()), "sd": sd, "n_seeds": int(array.size)}


# --------------------------------------------------------------------------------------------------
# Pairing by item id
# --------------------------------------------------------------------------------------------------


def check_item_sets(item_sets: Mapping[str, Sequence[str] | set[str]]) -> list[str]:
    """Check that every named source covers the same item ids; return the sorted common ids.

    ``item_sets`` maps a description of the source (a file path, "mft seed 1", ...) to its ids.
    Raises :class:`ItemMismatchError` naming the first source that differs from the first one, with
    counts and a few example ids; also raises on duplicate ids within one source.
    """
    if not item_sets:
        raise ItemMismatchError("no evaluations to pair")
    reference_name, reference = None, None
    for name, ids in item_sets.items():
        id_list = list(ids)
        as_set = set(id_list)
        if len(as_set) != len(id_list):
            duplicates = sorted(i for i, n in Counter(id_list).items() if n > 1)[:3]
            raise ItemMismatchError(f"{name}: duplicate item ids {duplicates}")
        if reference is None:
            reference_name, reference = name, as_set
            continue
        if as_set != reference:
            missing = sorted(reference - as_set)
            extra = sorted(as_set - reference)
            raise ItemMismatchError(
                f"item sets differ: {name} has {len(as_set)} items, {reference_name} has "
                f"{len(reference)}; missing from {name}: {len(missing)} {missing[:3]}, "
                f"not in {reference_name}: {len(extra)} {extra[:3]}"
            )
    return sorted(reference)


@dataclass(frozen=True)
class PairedItems:
    """Item-aligned 0/1 matrices of two arms (columns = ``ids``, rows = seeds)."""

    ids: list[str]
    treatment: np.ndarray
    control: np.ndarray
    treatment_seeds: list[Hashable]
    control_seeds: list[Hashable]
    clusters: list[str] = field(default_factory=list)


def pair_items(
    treatment: Mapping[Hashable, Mapping[str, bool]],
    control: Mapping[Hashable, Mapping[str, bool]],
    clusters: Mapping[str, str | None] | None = None,
    labels: tuple[str, str] = ("treatment", "control"),
) -> PairedItems:
    """Align two arms by item id (file order does not matter).

    ``treatment``/``control`` map seed -> {item id: correct}. Every seed of both arms must cover the
    same ids (else :class:`ItemMismatchError`). ``clusters`` maps item id -> cluster label (None or
    missing = the item is its own cluster). Columns are sorted by id.
    """
    if not treatment or not control:
        empty = labels[0] if not treatment else labels[1]
        raise ItemMismatchError(f"{empty}: no seeds to pair")
    sets = {f"{labels[0]} seed {s}": list(v) for s, v in treatment.items()}
    sets.update({f"{labels[1]} seed {s}": list(v) for s, v in control.items()})
    ids = check_item_sets(sets)
    t_seeds, c_seeds = sorted(treatment), sorted(control)
    t_matrix = np.array([[bool(treatment[s][i]) for i in ids] for s in t_seeds], dtype=float)
    c_matrix = np.array([[bool(control[s][i]) for i in ids] for s in c_seeds], dtype=float)
    cluster_labels = [cluster_label(i, (clusters or {}).get(i)) for i in ids]
    return PairedItems(ids, t_matrix, c_matrix, t_seeds, c_seeds, cluster_labels)


def cluster_label(item_id: str, template: str | None) -> str:
    """Cluster label of an item: ``template:<name>`` if it has a template, else ``item:<id>``."""
    if template is None or template == "":
        return f"item:{item_id}"
    return f"template:{template}"


def _cluster_codes(clusters: Sequence[Hashable] | None, n_items: int) -> tuple[np.ndarray, int]:
    """Integer code per item (0..G-1) and G; None means every item is its own cluster."""
    if clusters is None:
        return np.arange(n_items), n_items
    if len(clusters) != n_items:
        raise ValueError(f"clusters has {len(clusters)} labels for {n_items} items")
    _, codes = np.unique(np.asarray([str(c) for c in clusters]), return_inverse=True)
    return codes.ravel(), int(codes.max()) + 1 if n_items else 0


# --------------------------------------------------------------------------------------------------
# Two-stage bootstrap
# --------------------------------------------------------------------------------------------------


def _as_matrix(values, name: str) -> np.ndarray:
    matrix = np.asarray(values, dtype=float)
    if matrix.ndim == 1:
        matrix = matrix[None, :]
    if matrix.ndim != 2 or matrix.shape[0] == 0:
        raise ValueError(f"{name} must be a (seeds x items) matrix with at least one seed")
    return matrix


def _resample_counts(rng: np.random.Generator, n_units: int, n_draws: int) -> np.ndarray:
    """(n_draws x n_units) counts of how often each unit is drawn in n_units draws with replacement."""
    picks = rng.integers(0, n_units, size=(n_draws, n_units))
    picks += np.arange(n_draws)[:, None] * n_units
    return np.bincount(picks.ravel(), minlength=n_draws * n_units).reshape(n_draws, n_units)


def _replicates(
    arms: Sequence[np.ndarray],
    coefficients: Sequence[float],
    clusters: Sequence[Hashable] | None,
    n_resamples: int,
    rng: np.random.Generator,
    shared_seed_draw: bool,
) -> np.ndarray:
    """Replicates of ``sum_a coef_a * mean_a`` under the two-stage scheme of the module docstring."""
    n_items = arms[0].shape[1]
    codes, n_clusters = _cluster_codes(clusters, n_items)
    sizes = np.bincount(codes, minlength=n_clusters).astype(float)
    # per arm: (seeds x clusters) sums of correct answers
    summed = []
    for matrix in arms:
        per_cluster = np.zeros((matrix.shape[0], n_clusters))
        for row, values in enumerate(matrix):
            per_cluster[row] = np.bincount(codes, weights=values, minlength=n_clusters)
        summed.append(per_cluster)
    block = max(1, min(n_resamples, _BLOCK_CELLS // max(1, n_clusters)))
    out = np.empty(n_resamples)
    for start in range(0, n_resamples, block):
        size = min(block, n_resamples - start)
        seed_draws = []
        for index, matrix in enumerate(arms):
            k = matrix.shape[0]
            if shared_seed_draw and index > 0:
                seed_draws.append(seed_draws[0])
            else:
                seed_draws.append(rng.multinomial(k, np.full(k, 1.0 / k), size=size))
        weights = _resample_counts(rng, n_clusters, size)
        numerator = np.zeros((size, n_clusters))
        for coef, draw, per_cluster, matrix in zip(coefficients, seed_draws, summed, arms):
            numerator += coef * (draw @ per_cluster) / matrix.shape[0]
        out[start : start + size] = (weights * numerator).sum(axis=1) / (weights @ sizes)
    return out


def _percentile_interval(values: np.ndarray, confidence: float) -> tuple[float, float]:
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(values, [tail, 1.0 - tail])
    return float(low), float(high)


def bootstrap_mean_ci(
    correct,
    clusters: Sequence[Hashable] | None = None,
    *,
    n_resamples: int = 2000,
    seed: int = 0,
    confidence: float = 0.95,
) -> tuple[float, float]:
    """Two-stage (seeds, then item clusters) percentile interval of the mean of a seeds x items matrix."""
    matrix = _as_matrix(correct, "correct")
    if matrix.shape[1] == 0:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    reps = _replicates([matrix], [1.0], clusters, n_resamples, rng, shared_seed_draw=False)
    return _percentile_interval(reps, confidence)


@dataclass(frozen=True)
class PairedDelta:
    """Result of :func:`paired_bootstrap_delta` (fractions, not percentages)."""

    delta: float
    ci_low: float
    ci_high: float
    treatment_mean: float
    control_mean: float
    n_items: int
    n_clusters: int
    n_seeds_treatment: int
    n_seeds_control: int
    n_resamples: int
    confidence: float

    def as_dict(self) -> dict:
        return asdict(self)


def paired_bootstrap_delta(
    treatment,
    control,
    clusters: Sequence[Hashable] | None = None,
    *,
    n_resamples: int = 2000,
    seed: int = 0,
    confidence: float = 0.95,
    pair_seeds: bool = False,
) -> PairedDelta:
    """Difference of mean accuracy (treatment - control) with a paired two-stage bootstrap interval.

    ``treatment`` and ``control`` are 0/1 matrices (seeds x items) with the same item columns (build
    them with :func:`pair_items`); a 1-D vector counts as one seed. ``clusters`` gives one label per
    item column (None: item-level resampling). The scheme is described in the module docstring.
    """
    t_matrix, c_matrix = _as_matrix(treatment, "treatment"), _as_matrix(control, "control")
    if t_matrix.shape[1] != c_matrix.shape[1]:
        raise ItemMismatchError(
            f"treatment has {t_matrix.shape[1]} items, control has {c_matrix.shape[1]}"
        )
    n_items = t_matrix.shape[1]
    if n_items == 0:
        raise ItemMismatchError("no items to compare")
    _, n_clusters = _cluster_codes(clusters, n_items)
    shared = pair_seeds and t_matrix.shape[0] == c_matrix.shape[0]
    rng = np.random.default_rng(seed)
    reps = _replicates([t_matrix, c_matrix], [1.0, -1.0], clusters, n_resamples, rng, shared)
    low, high = _percentile_interval(reps, confidence)
    t_mean, c_mean = float(t_matrix.mean()), float(c_matrix.mean())
    return PairedDelta(
        delta=t_mean - c_mean,
        ci_low=low,
        ci_high=high,
        treatment_mean=t_mean,
        control_mean=c_mean,
        n_items=n_items,
        n_clusters=n_clusters,
        n_seeds_treatment=t_matrix.shape[0],
        n_seeds_control=c_matrix.shape[0],
        n_resamples=n_resamples,
        confidence=confidence,
    )


# --------------------------------------------------------------------------------------------------
# McNemar
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class McNemarResult:
    """Discordant counts (b: treatment right & control wrong; c: the reverse) and the two-sided p."""

    b: int
    c: int
    statistic: float
    p_value: float
    method: str  # "exact" (binomial), "chi2-cc" (chi-square with continuity correction) or "none"

    def as_dict(self) -> dict:
        return asdict(self)


def mcnemar_test(
    treatment_correct, control_correct, exact_below: int = MCNEMAR_EXACT_BELOW
) -> McNemarResult:
    """McNemar test on two paired 0/1 vectors of one seed.

    With b + c < ``exact_below`` the two-sided exact binomial test of b ~ Bin(b + c, 1/2) is used
    (statistic = b); otherwise chi2 = (|b - c| - 1)^2 / (b + c) with 1 degree of freedom. When there
    are no discordant pairs, p = 1.
    """
    t = np.asarray(treatment_correct, dtype=bool)
    c_vec = np.asarray(control_correct, dtype=bool)
    if t.shape != c_vec.shape or t.ndim != 1:
        raise ItemMismatchError(
            f"McNemar needs two paired vectors of equal length, got {t.shape} and {c_vec.shape}"
        )
    b = int(np.sum(t & ~c_vec))
    c = int(np.sum(~t & c_vec))
    discordant = b + c
    if discordant == 0:
        return McNemarResult(b, c, 0.0, 1.0, "none")
    from scipy import stats as scipy_stats

    if discordant < exact_below:
        p_value = float(scipy_stats.binomtest(b, discordant, 0.5).pvalue)
        return McNemarResult(b, c, float(b), min(1.0, p_value), "exact")
    statistic = (abs(b - c) - 1.0) ** 2 / discordant
    p_value = float(scipy_stats.chi2.sf(statistic, df=1))
    return McNemarResult(b, c, statistic, p_value, "chi2-cc")


def mcnemar_per_seed(paired: PairedItems) -> dict[Hashable, McNemarResult]:
    """McNemar test for every seed present in both arms (seed s of treatment vs seed s of control)."""
    results = {}
    for t_row, seed in enumerate(paired.treatment_seeds):
        if seed in paired.control_seeds:
            c_row = paired.control_seeds.index(seed)
            results[seed] = mcnemar_test(paired.treatment[t_row], paired.control[c_row])
    return results


def finite_or_none(value: float | None) -> float | None:
    """JSON-friendly float: NaN/inf -> None."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None
