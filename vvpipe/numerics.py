"""CPU numerics that do not depend on which x86-64 machine runs the pipeline.

Three libraries pick their float kernels by the CPU: ATen's vectorised ops, oneDNN's
convolutions and MKL's BLAS. An AVX-512 machine and an AVX2 machine therefore sum in other
orders and end with other weights, and a committed ``dvc.lock`` stops matching. The pipeline caps
all three at AVX2 (the common ground of x86-64 machines of the last decade) and fixes the number
of threads, which splits the same reductions differently too. Each library reads its cap once, at
its first tensor operation, so the caps are set when the ``vvpipe`` package is imported
(``pin_isa``), and ``stage.run`` fixes the threads and checks that the cap took.

``VVPIPE_NATIVE_ISA=1`` lifts the caps (faster on AVX-512, but machine-dependent numbers).
"""

from __future__ import annotations

import os
import platform
import sys
from typing import Any

from vvpipe.errors import UsageError

NATIVE_OPT_OUT = "VVPIPE_NATIVE_ISA"
THREADS_VARIABLE = "VVPIPE_THREADS"
# The committed results were made with two threads: the thread count is part of their identity.
DEFAULT_THREADS = 2

PINNED_ISA = {
    "ATEN_CPU_CAPABILITY": "avx2",    # ATen's vectorised kernels
    "ONEDNN_MAX_CPU_ISA": "AVX2",     # oneDNN (convolutions)
    "MKL_CBWR": "AVX2",               # MKL's conditional numerical reproducibility branch
    "MKL_ENABLE_INSTRUCTIONS": "AVX2",
}


def isa_pinned() -> bool:
    return os.environ.get(NATIVE_OPT_OUT, "") not in ("1", "true", "yes")


def thread_count() -> int:
    """``VVPIPE_THREADS``, else ``OMP_NUM_THREADS``, else 2."""
    for variable in (THREADS_VARIABLE, "OMP_NUM_THREADS"):
        value = os.environ.get(variable, "").strip()
        if value:
            if not value.isdigit() or int(value) < 1:
                raise UsageError(f"{variable}={value!r} is not a positive thread count")
            return int(value)
    return DEFAULT_THREADS


def pin_isa() -> None:
    """Cap the CPU instruction sets, unless opted out. Only environment variables: the libraries
    read them at their first tensor operation, which must come later."""
    if isa_pinned():
        os.environ.update(PINNED_ISA)


def pin() -> None:
    """The caps, a fixed thread count, and proof that torch's kernels obey the cap (a tensor
    operation before ``pin_isa`` would have fixed them at the machine's best)."""
    pin_isa()
    threads = thread_count()
    os.environ["OMP_NUM_THREADS"] = str(threads)  # for a torch imported later in this process
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(threads)
        capability = torch.backends.cpu.get_cpu_capability()
        if isa_pinned() and capability.startswith("AVX512"):
            raise RuntimeError(f"torch runs {capability} kernels although they are capped at "
                               "AVX2: a tensor operation ran before vvpipe was imported")


def provenance(device: Any) -> dict:
    """What decides the float results besides code, data and params; recorded in every metrics
    file. Only settings, nothing machine-specific, so that pinned runs on different machines write
    byte-identical files."""
    import torch

    gpu = torch.cuda.get_device_name(device) if torch.device(device).type == "cuda" else None
    return {
        "device": str(device),
        "gpu": gpu,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "isa_pinned": isa_pinned(),
        "machine": platform.machine(),
    }
