"""The exceptions optimum-hywia raises for bad input: one family, so callers can catch them all.

Each class also derives from the built-in exception that code written before it existed would catch (a bad value
is still a `ValueError`, a missing model still a `FileNotFoundError`). Every message names the bad value and says
how to fix it. This module imports nothing from optimum-hywia, so any module can use it.

Example:
    >>> from optimum_hywia.errors import HyWIAError
    >>> try:
    ...     HyWIAConfig(pruning_ratio=1.5)  # doctest: +SKIP
    ... except HyWIAError as error:
    ...     print(error)  # doctest: +SKIP
"""

from __future__ import annotations


class HyWIAError(Exception):
    """Base class of every error optimum-hywia raises for bad input or an unusable file."""


class ConfigError(HyWIAError, ValueError):
    """A `HyWIAConfig` value (or combination of values) that cannot work."""


class OutputFolderError(HyWIAError, FileExistsError):
    """A save would replace a folder that is not a previous optimum-hywia save (or must never be replaced)."""


class ModelNotFoundError(HyWIAError, FileNotFoundError):
    """A model path that does not exist, or a Hub id that cannot be reached."""


class UnsupportedArchitectureError(HyWIAError, ValueError):
    """A model family optimum-hywia cannot prune."""


class CheckpointError(HyWIAError, ValueError):
    """A saved model that cannot be read: corrupted weights, widths that do not match them, a newer format."""


class CalibrationDataError(HyWIAError, ValueError):
    """A text source that cannot give the windows asked for (empty, too short, not a source at all)."""


class DataUnavailableError(HyWIAError, RuntimeError):
    """A dataset that could not be fetched (offline, unknown name, network error)."""


class TokenizerMismatchError(HyWIAError, ValueError):
    """A tokenizer whose token ids do not fit the model's embedding table."""


class PlacementError(HyWIAError, ValueError):
    """A model whose weights are not where pruning can reach them: offloaded by accelerate (`device_map` with CPU or
    disk offload) or on the meta device."""


class NonFiniteError(HyWIAError, FloatingPointError):
    """A NaN or infinite value in a weight, a gradient statistic or an importance score: pruning stops before any
    plan is made, since a plan from such numbers is meaningless."""
