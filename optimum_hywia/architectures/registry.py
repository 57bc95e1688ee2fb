"""The table of supported model families, looked up by architecture (class) name."""

from __future__ import annotations

from typing import Any

from torch import nn

from ..errors import UnsupportedArchitectureError
from ..registry import ARCHITECTURES
from .baichuan import BAICHUAN_SPEC
from .base import ArchitectureSpec
from .bloom import BLOOM_SPEC
from .llama import LLAMA_SPEC
from .phi3 import PHI3_SPEC


def register_architecture(spec: ArchitectureSpec) -> ArchitectureSpec:
    """Add a family to the table (`optimum_hywia.registry.ARCHITECTURES`); each of its architecture names must be new."""
    taken = [name for name in spec.architectures if name in ARCHITECTURES]
    if taken:
        raise ValueError(
            f"Architectures {taken} are already registered (family `{ARCHITECTURES.get(taken[0]).family}`)."
        )
    for name in spec.architectures:
        ARCHITECTURES.add(name, spec)
    return spec


def supported_architectures() -> list[str]:
    return ARCHITECTURES.names()


def get_architecture_spec(model: nn.Module) -> ArchitectureSpec:
    """The unit spec for `model`, by its class name (or `config.architectures` for remote-code models); a wrapper
    subclass (FSDP2's `FSDP<Class>`) is known by the class it wraps."""
    classes = [cls.__name__ for cls in type(model).__mro__]
    names = [*classes, *(getattr(getattr(model, "config", None), "architectures", None) or [])]
    for name in names:
        if name in ARCHITECTURES:
            return ARCHITECTURES.get(name)
    raise UnsupportedArchitectureError(
        f"Unsupported architecture `{type(model).__name__}`; optimum-hywia supports: "
        f"{', '.join(supported_architectures())}."
    )


def check_supported_config(config: Any) -> None:
    """Raise `UnsupportedArchitectureError` when a model's config names only architectures no spec covers.

    Checked from the config alone, before any weight is loaded; a config naming no architecture passes.
    """
    names = getattr(config, "architectures", None) or []
    if names and not any(name in ARCHITECTURES for name in names):
        raise UnsupportedArchitectureError(
            f"Cannot prune `{names[0]}` (model_type `{getattr(config, 'model_type', '?')}`): optimum-hywia supports "
            f"{', '.join(supported_architectures())}. Pick a model of one of these families."
        )


register_architecture(LLAMA_SPEC)
register_architecture(BLOOM_SPEC)
register_architecture(BAICHUAN_SPEC)
register_architecture(PHI3_SPEC)
