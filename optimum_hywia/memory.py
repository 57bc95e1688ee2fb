"""Process memory on the CPU: freed tensor memory handed back to the operating system, so resident memory follows
the tensors alive rather than the largest set ever alive.

glibc serves allocations above a threshold with their own mappings, returned to the system when freed, and the rest
from heaps that keep freed blocks. The threshold starts at 128 KiB but rises after each large free, up to 32 MiB, so
the activations of a calibration pass (tens of MiB each) soon land in the heaps and stay resident after use (on a
343M-parameter Llama in fp32 the streamed gradient pass then peaked more than half the weights' bytes higher).
`hand_back_freed_memory()` fixes the threshold, as `MALLOC_MMAP_THRESHOLD_=131072` in the environment does; the
`hywia` commands call it at start.

Example:
    >>> from optimum_hywia.memory import hand_back_freed_memory
    >>> hand_back_freed_memory() in (True, False)
    True
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

M_MMAP_THRESHOLD = -3  # mallopt parameter (malloc.h)
MAPPED_ABOVE_BYTES = 128 * 1024


def hand_back_freed_memory() -> bool:
    """Fix glibc's mapping threshold at 128 KiB (module docstring). True when applied; False off glibc (macOS,
    Windows, musl), where nothing changes."""
    if not sys.platform.startswith("linux"):
        return False
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return mallopt(M_MMAP_THRESHOLD, MAPPED_ABOVE_BYTES) == 1
