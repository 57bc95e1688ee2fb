"""`Registry`: named entries that third parties can extend; the bottom of the import graph (imports nothing of ours).

The registries of importance criteria, allocations and architectures are instances of it, created here so that the
configuration can check names without importing the modules that fill them.
"""

from __future__ import annotations

from typing import Callable, Generic, Iterator, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """A name -> entry table: duplicate names are rejected and every entry is checked before it is added.

    Example:
        >>> colours = Registry("colour", check=lambda entry: isinstance(entry, str) or "a string")
        >>> colours.add("red", "#f00")
        '#f00'
        >>> colours.names(), colours.get("red")
        (['red'], '#f00')
        >>> colours.add("red", "#e00")
        Traceback (most recent call last):
        ...
        ValueError: Colour `red` is already registered ('#f00').
    """

    def __init__(self, kind: str, check: Callable[[T], bool | str] | None = None):
        self.kind = kind
        self._check = check
        self._entries: dict[str, T] = {}

    def add(self, name: str, entry: T) -> T:
        """Add `entry` under `name`; raises for a name taken, a name that is not a non-empty string, a bad entry."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"A {self.kind} name must be a non-empty string, got {name!r}.")
        if name in self._entries:
            raise ValueError(f"{self.kind.capitalize()} `{name}` is already registered ({self._entries[name]!r}).")
        verdict = True if self._check is None else self._check(entry)
        if verdict is not True:
            expected = verdict if isinstance(verdict, str) else "a valid entry"
            raise TypeError(f"{self.kind.capitalize()} `{name}` must be {expected}, got {type(entry).__name__} {entry!r}.")
        self._entries[name] = entry
        return entry

    def get(self, name: str) -> T:
        if name not in self._entries:
            raise ValueError(f"Unknown {self.kind} `{name}`; available: {self.names()}.")
        return self._entries[name]

    def remove(self, name: str) -> T:
        """Take `name` out again (e.g. an entry registered for a test); returns its entry."""
        entry = self.get(name)
        del self._entries[name]
        return entry

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)


def _has(*attributes: str) -> Callable[[object], bool | str]:
    return lambda entry: all(hasattr(entry, name) for name in attributes) or f"an object with {list(attributes)}"


IMPORTANCES: Registry = Registry("importance", check=_has("run", "needs"))
ALLOCATIONS: Registry = Registry("allocation", check=lambda entry: callable(entry) or "callable")
ARCHITECTURES: Registry = Registry("architecture", check=_has("family", "unit_groups", "layers"))
