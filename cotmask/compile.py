"""``torch.compile`` of the decoder for the training step, with a shared cache and an eager fallback.

At the embedded scale most of a step is not matrix products but the element-wise work around them (RMSNorm,
rotary embeddings, SwiGLU, the attention's reshapes); ``torch.compile`` with the inductor backend fuses it
(docs/speed.md measures the gain and the cost). Only the decoder is compiled, on the training path of
:mod:`cotmask.loss` (labelled positions only); generation and the saved model are the eager module, whose
parameters the compiled one shares, so nothing compiled is ever saved.

Compilation costs tens of seconds in every new process; inductor's on-disk cache (``cache_dir``,
``TORCHINDUCTOR_CACHE_DIR``) lets every job of a run after the first reuse the generated kernels. Compiled
kernels compute the same function as the eager ones up to floating-point rounding, so compiling is part of a
run's fingerprint: a job never resumes an eager checkpoint compiled or vice versa.

When the backend cannot run (no C++ compiler for the CPU kernels, no Triton for CUDA), :func:`compile_decoder`
says so in one log line and the run trains eagerly; a compilation that fails later falls back to eager
execution of the failing frame (``torch._dynamo.config.suppress_errors``), with torch's own warning.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

#: environment variable inductor reads for its on-disk cache (kernels, FX graphs, AOTAutograd graphs)
CACHE_ENV = "TORCHINDUCTOR_CACHE_DIR"


def backend_missing(device_type: str = "cpu") -> str | None:
    """Why inductor cannot compile for ``device_type`` here, or None when it can."""
    if device_type == "cuda":
        from torch.utils._triton import has_triton

        return None if has_triton() else "Triton is not installed (inductor needs it for CUDA kernels)"
    from torch._inductor import cpp_builder

    try:
        cpp_builder.get_cpp_compiler()
    except Exception as error:  # InvalidCxxCompiler and whatever a broken toolchain raises
        return f"no usable C++ compiler for inductor's CPU kernels ({type(error).__name__}: {error})"
    return None


def use_cache_dir(cache_dir: str | os.PathLike | None) -> str | None:
    """Point inductor's on-disk cache at ``cache_dir`` (created), shared by every job that names it; None
    leaves torch's default (a per-user folder under the system's temporary directory)."""
    if cache_dir is None:
        return None
    path = Path(cache_dir).resolve()
    path.mkdir(parents=True, exist_ok=True)
    os.environ[CACHE_ENV] = str(path)
    return str(path)


def compile_decoder(model: Any, *, cache_dir: str | os.PathLike | None = None) -> Any | None:
    """``torch.compile(model.get_decoder(), dynamic=True)`` (inductor), or None with one log line when the
    backend cannot run on the model's device. Dynamic shapes because batches differ in length (and in rows,
    with length buckets): one graph serves them all instead of a recompilation per shape."""
    import torch

    device_type = next(model.parameters()).device.type
    missing = backend_missing(device_type)
    if missing:
        logger.warning("compile: %s; training eagerly", missing)
        return None
    used = use_cache_dir(cache_dir)
    torch._dynamo.config.suppress_errors = True  # a frame that fails to compile runs eagerly (torch warns)
    # code generation gets the job's own threads: a pool of one worker per core would take the cores of the
    # jobs running beside it
    torch._inductor.config.compile_threads = max(1, torch.get_num_threads())
    logger.info("compile: the decoder is compiled with inductor (dynamic shapes; cache %s)",
                used or os.environ.get(CACHE_ENV) or "torch's default")
    return torch.compile(model.get_decoder(), dynamic=True)


def compile_seconds() -> float:
    """Seconds this process has spent compiling so far (dynamo's own accounting: tracing, AOTAutograd,
    inductor code generation and loading); 0.0 when nothing was compiled."""
    from torch._dynamo.utils import calculate_time_spent

    spent = calculate_time_spent()
    return round(float(spent.get("total_wall_time", 0.0)), 3)
