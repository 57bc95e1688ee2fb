"""optimum-hywia: structured pruning of large language models with HyWIA.

Example:
    >>> from optimum_hywia import HyWIAConfig, HyWIAPruner
    >>> pruner = HyWIAPruner(HyWIAConfig(pruning_ratio=0.2))  # doctest: +SKIP
"""

from . import modeling  # noqa: F401  (registers the pruned-model types with the Auto classes)
from .allocation.strategies import available_allocations, register_allocation
from .architectures import (
    get_architecture_spec,
    register_architecture,
    supported_architectures,
)
from .training.callback import HyWIACallback
from .config_sections import CalibrationConfig, FusionConfig, MemoryConfig
from .configuration import HyWIAConfig
from .hub import HyWIATrainer  # also makes pruned models' save_pretrained / push_to_hub write the model card
from .hywia import hywia as _hywia  # noqa: F401  (registers the `hywia` criterion)
from .importance import ImportanceResult, Need, available_importances, register_importance
from .modeling import save_pruned_model, to_original_architecture
from .pruner import HyWIAPruner, count_parameters
from .training.recovery import prune_and_recover
from .summary import PruningSummary
from .version import __version__

__all__ = [
    "HyWIACallback",
    "CalibrationConfig",
    "FusionConfig",
    "HyWIAConfig",
    "MemoryConfig",
    "HyWIAPruner",
    "HyWIATrainer",
    "ImportanceResult",
    "Need",
    "PruningSummary",
    "__version__",
    "available_allocations",
    "available_importances",
    "count_parameters",
    "get_architecture_spec",
    "prune_and_recover",
    "register_allocation",
    "register_architecture",
    "register_importance",
    "save_pruned_model",
    "supported_architectures",
    "to_original_architecture",
]
