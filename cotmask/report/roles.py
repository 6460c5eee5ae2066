"""Benchmark roles: which of our benchmarks stands for which column of the paper's tables."""

from __future__ import annotations

#: benchmark role -> benchmark name as it appears in the index (``{benchmark}`` of the eval paths).
DEFAULT_BENCHMARKS: dict[str, str] = {
    "gsm": "gsm8k",
    "math": "math",
    "ic_2step": "gsm_ic_2step",
    "ic_mstep": "gsm_ic_mstep",
}
#: the pseudo-benchmark made of both GSM-IC splits (items pooled).
POOLED_ROLE = "ic_pooled"
ROLE_LABELS: dict[str, str] = {
    "gsm": "GSM8K",
    "math": "MATH",
    "ic_2step": "GSM-IC 2-step",
    "ic_mstep": "GSM-IC m-step",
    POOLED_ROLE: "GSM-IC pooled",
}
#: decodings in the order of the tables (others follow alphabetically).
DECODINGS: tuple[str, ...] = ("plain", "calc", "hybrid")
