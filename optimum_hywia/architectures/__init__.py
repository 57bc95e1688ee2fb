"""Architecture knowledge: which weights form each prunable unit, one spec per model family."""

from .base import ATTENTION, MLP, UNIT_KINDS, ArchitectureSpec, UnitGroup, UnitMember, member_module
from .registry import check_supported_config, get_architecture_spec, register_architecture, supported_architectures

__all__ = [
    "ATTENTION",
    "MLP",
    "UNIT_KINDS",
    "ArchitectureSpec",
    "UnitGroup",
    "UnitMember",
    "check_supported_config",
    "get_architecture_spec",
    "member_module",
    "register_architecture",
    "supported_architectures",
]
