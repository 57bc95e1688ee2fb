"""PruningSummary: what a pruning run removed, as numbers, a dict and a table."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class PruningSummary:
    """Parameters before/after and every layer's widths before/after pruning.

    Example:
        >>> summary = PruningSummary(100, 80, [{"intermediate_size": 8}], [{"intermediate_size": 6}], [0])
        >>> round(summary.kept_fraction, 2)
        0.8
    """

    params_before: int
    params_after: int
    widths_before: list[dict]
    widths_after: list[dict]
    pruned_layers: list[int]
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def kept_fraction(self) -> float:
        return self.params_after / self.params_before

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "kept_fraction": self.kept_fraction}

    def to_table(self) -> str:
        keys = list(self.widths_before[0]) if self.widths_before else []
        header = "| layer | pruned | " + " | ".join(keys) + " |"
        rule = "|---|---|" + "---|" * len(keys)
        rows = []
        for index, (before, after) in enumerate(zip(self.widths_before, self.widths_after)):
            cells = [f"{before[key]} → {after[key]}" if before[key] != after[key] else str(after[key]) for key in keys]
            rows.append(f"| {index} | {'yes' if index in self.pruned_layers else 'no'} | " + " | ".join(cells) + " |")
        totals = (
            f"parameters: {self.params_before:,} → {self.params_after:,} "
            f"({100 * self.kept_fraction:.1f}% kept)"
        )
        return "\n".join([totals, *self._plan_lines(), "", header, rule, *rows])

    def _plan_lines(self) -> list[str]:
        """HyWIA's plan pick (`extras["plan_choice"]`), one line per candidate, the shipped one marked."""
        choice = self.extras.get("plan_choice")
        if not choice:
            return []
        lines = [f"plan picked on {choice['windows']} windows (mean LM loss, lower is better):"]
        for candidate in choice["candidates"]:
            mark = " <- shipped" if candidate == choice["chosen"] else ""
            lines.append(f"  allocation {candidate['allocation']}, selection {candidate['selection']}: "
                         f"{candidate['loss']:.4f}{mark}")
        return lines

    def __str__(self) -> str:
        return self.to_table()
