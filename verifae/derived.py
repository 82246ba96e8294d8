"""Conversions that an immutable value keeps of itself.

A `Box`, an `AutoencoderSpec`, a `Layer` and a `LayeredSpec` hold exact rationals that
every enclosure converts the same way (their float roundings, a backend's tensors).
Each keeps those conversions in its `_derived` dict, set empty when it is built: never
results, so a value with an empty cache is the same value.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["Derived"]


class Derived:
    """Mixin: `derived(key, compute)`, and pickling without the cache."""

    _derived: dict[Any, Any]

    def derived(self, key: Any, compute: Callable[[], Any]) -> Any:
        """`compute()`, once per key: a conversion of the immutable values, never a result."""
        if key not in self._derived:
            self._derived[key] = compute()
        return self._derived[key]

    def __getstate__(self) -> dict[str, Any]:
        # The conversions may hold Arb balls, which do not pickle; a copy sent to another
        # process (`verify` with jobs, a Dask worker) rebuilds them when it needs them.
        state = dict(self.__dict__)
        state["_derived"] = {}
        return state
