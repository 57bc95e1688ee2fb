"""What the device a model runs on is good at: the bottom of the package, torch only."""

from __future__ import annotations

import torch


def fast_bfloat16(device: torch.device) -> bool:
    """Whether `device` runs bfloat16 matmuls faster than float32: a CUDA GPU that supports bfloat16, a CPU with
    AVX-512 BF16 or AMX (torch has no public query for the CPU's; the private ones are read when present).

    Example:
        >>> fast_bfloat16(torch.device("meta"))
        False
    """
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
        return any(getattr(torch.cpu, probe, lambda: False)() for probe in probes)
    return False
