"""The table of supported model families, looked up by architecture (class) name."""

from __future__ import annotations

from torch import nn

from .baichuan import BAICHUAN_SPEC
from .base import ArchitectureSpec
from .bloom import BLOOM_SPEC
from .llama import LLAMA_SPEC
from .phi3 import PHI3_SPEC

_SPECS: dict[str, ArchitectureSpec] = {}


def register_architecture(spec: ArchitectureSpec) -> ArchitectureSpec:
    """Add a family to the table; each of its architecture names must be new."""
    taken = [name for name in spec.architectures if name in _SPECS]
    if taken:
        raise ValueError(f"Architectures {taken} are already registered (family `{_SPECS[taken[0]].family}`).")
    for name in spec.architectures:
        _SPECS[name] = spec
    return spec


def supported_architectures() -> list[str]:
    return sorted(_SPECS)


def get_architecture_spec(model: nn.Module) -> ArchitectureSpec:
    """The unit spec for `model`, by its class name (or `config.architectures` for remote-code models)."""
    names = [type(model).__name__, *(getattr(getattr(model, "config", None), "architectures", None) or [])]
    for name in names:
        if name in _SPECS:
            return _SPECS[name]
    raise ValueError(
        f"Unsupported architecture `{type(model).__name__}`; optimum-hywia supports: "
        f"{', '.join(supported_architectures())}."
    )


register_architecture(LLAMA_SPEC)
register_architecture(BLOOM_SPEC)
register_architecture(BAICHUAN_SPEC)
register_architecture(PHI3_SPEC)
