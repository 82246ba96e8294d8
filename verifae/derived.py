"""Conversions that an immutable value keeps of itself.

A `Box`, an `AutoencoderSpec`, a `Layer` and a `LayeredSpec` hold exact rationals that
every enclosure converts the same way (their float roundings, a backend's tensors, a
method's products of the parameters alone such as W_decᵀW_dec). Each keeps those in its
`_derived` dict, set empty when it is built: never anything that depends on a box or a
call, so a value with an empty cache is the same value. The cache is right only while
the exact arrays stay as they were, so they are read-only (`frozen`): changing a weight
in place raises instead of leaving a stale conversion to enclose the old model.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["Derived", "frozen"]


def frozen(array: np.ndarray) -> np.ndarray:
    """`array`, made read-only (it is a new array of the value's own, never the caller's)."""
    array.flags.writeable = False
    return array


class Derived:
    """Mixin: `derived(key, compute)`, and pickling without the cache."""

    _derived: dict[Any, Any]

    def derived(self, key: Any, compute: Callable[[], Any]) -> Any:
        """`compute()`, once per key: a function of the immutable values alone."""
        if key not in self._derived:
            self._derived[key] = compute()
        return self._derived[key]

    def __getstate__(self) -> dict[str, Any]:
        # The conversions may hold Arb balls, which do not pickle; a copy sent to another
        # process (`verify` with jobs, a Dask worker) rebuilds them when it needs them.
        state = dict(self.__dict__)
        state["_derived"] = {}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        # unpickled arrays are writeable again: read-only, as when the value was built
        for value in state.values():
            if isinstance(value, np.ndarray):
                frozen(value)
        self.__dict__.update(state)
