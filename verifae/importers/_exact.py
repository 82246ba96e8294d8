"""What every importer shares: parameters read exactly, and exact strings for files.

A float16, bfloat16, float32 or float64 value is a dyadic rational that a double holds
exactly, so `Fraction(float(v))` (what `verifae.numbers.exact_array` does for numpy
floats) is its exact value: no decimal round trip, no rounding. NaN and infinities are
no weights: they are refused with the parameter's name and the first bad index.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np

from ..errors import EnvironmentFailure, SpecError, VerifaeError
from ..numbers import exact_array

__all__ = ["exact_parameter", "exact_string", "require"]


def exact_parameter(values: np.ndarray, where: str) -> np.ndarray:
    """The exact rationals of a float (or integer) array, as an object array of Fractions;
    SpecError naming `where` for a NaN, an infinity or a non-numeric dtype."""
    a = np.asarray(values)
    if a.dtype.name in ("bfloat16", "float16") or a.dtype.name.startswith("float8"):
        a = a.astype(np.float64)  # ml_dtypes' small floats (ONNX's bfloat16, float8): exact in a double
    if a.dtype.kind not in "fiu":
        raise SpecError(f"{where}: dtype {a.dtype} does not hold real numbers")
    if a.dtype.kind == "f":
        bad = np.argwhere(~np.isfinite(a))
        if bad.size:
            index = tuple(int(i) for i in bad[0])
            shown = "[" + ", ".join(map(str, index)) + "]" if index else ""
            raise SpecError(f"{where}{shown} is {float(a[index])!r}: NaN and infinite weights describe no model "
                            f"({len(bad)} of {a.size} entries are not finite)")
    try:
        return exact_array(a)
    except VerifaeError as exc:
        raise SpecError(f"{where}: {exc}") from None


def exact_string(q: Fraction) -> str:
    """q as a string the case parser reads back to exactly q: a terminating decimal when
    q has one (every double, every decimal like 1/50 does), else "p/q".

    A dyadic q = n / 2^k has exactly k digits after the point (n·5^k / 10^k), so a float32
    weight takes at most a few dozen digits; the digits are those of an integer, so
    nothing is rounded."""
    q = Fraction(q)
    if q.denominator == 1:
        return str(q.numerator)
    d = q.denominator
    twos = (d & -d).bit_length() - 1
    rest = d >> twos
    fives = 0
    while rest % 5 == 0:
        rest //= 5
        fives += 1
    if rest != 1:
        return f"{q.numerator}/{q.denominator}"
    k = max(twos, fives)
    n = abs(q.numerator * 10**k // q.denominator)  # exact: q·10^k is an integer by the choice of k
    sign = "-" if q < 0 else ""
    digits = str(n)
    if k <= len(digits) + 4:  # positional: 0.00123, 12.5
        digits = digits.rjust(k + 1, "0")
        return f"{sign}{digits[:-k]}.{digits[-k:]}"
    # a small value: scientific form, mantissa d.ddd (exactly the digits of n)
    exponent = len(digits) - 1 - k
    mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    return f"{sign}{mantissa}e{exponent}"


def require(package: str, extra: str) -> Any:
    """Import an optional package, or EnvironmentFailure naming the extra to install."""
    import importlib

    try:
        return importlib.import_module(package)
    except ImportError:
        raise EnvironmentFailure(
            f"reading this model needs the {package!r} package: pip install 'verifae[{extra}]'"
        ) from None
