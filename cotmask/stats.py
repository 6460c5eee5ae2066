"""Statistics for accuracies: bootstrap confidence intervals (more in later sections)."""

from __future__ import annotations

import numpy as np


def bootstrap_ci(
    correct, n_resamples: int = 1000, seed: int = 0, confidence: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of a 0/1 vector (items resampled with replacement)."""
    values = np.asarray(correct, dtype=float)
    if values.size == 0:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, values.size, size=(n_resamples, values.size))
    means = values[idx].mean(axis=1)
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return (float(low), float(high))
