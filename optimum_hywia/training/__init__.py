"""Pruning inside training and recovering after it: the callback, its schedule and saved state, the collectives
across ranks, LoRA/full recovery and distillation from the dense model.

The package itself imports nothing: `training.distributed` sits below the pruner (which broadcasts its plan) while
`training.callback` sits above it, so each module is imported by its own name, e.g.
`from optimum_hywia.training.callback import HyWIACallback` (also `optimum_hywia.HyWIACallback`).
"""
