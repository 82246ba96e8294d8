"""Exact numbers in, outward-rounded doubles out.

verifae holds every parameter and box endpoint as an exact `Fraction`: the JSON
number or string "0.1" denotes 1/10, a Python float denotes its exact binary value.
Results leave as float64 endpoints rounded outward, so that a consumer who reads
them as doubles still holds a valid enclosure (design §2, contract item 2).

Rounding to a floating-point format is done here in integer arithmetic, because a
detour through float64 would round twice (float32(float64(q)) can differ from the
correctly rounded float32(q)).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from functools import cached_property
from numbers import Rational
from typing import Any

import numpy as np

from .errors import InvalidNumberError

__all__ = [
    "FloatFormat",
    "FLOAT32",
    "FLOAT64",
    "FORMATS",
    "to_exact",
    "exact_array",
    "round_nearest",
    "nearest_float",
    "nearest_floats",
    "is_double",
    "float_or_inf",
    "round_down",
    "round_up",
    "dyadic_down",
    "dyadic_up",
]


@dataclass(frozen=True)
class FloatFormat:
    """An IEEE-754 binary format: precision `p` (with the hidden bit) and exponent range."""

    name: str
    precision: int  # p: significand bits, hidden bit included
    emin: int  # exponent of the smallest normal number, 2**emin
    emax: int  # exponent of the largest finite binade, realmax < 2**(emax+1)
    dtype: Any

    @cached_property
    def unit_roundoff(self) -> Fraction:
        """u = 2**-p: |fl(x) - x| <= u|x| in the normal range (Higham, §2.1, Thm 2.2)."""
        return Fraction(1, 2**self.precision)

    @cached_property
    def eta(self) -> Fraction:
        """Smallest positive subnormal, 2**(emin - p + 1): the spacing of the subnormal grid."""
        return Fraction(1, 2 ** (self.precision - 1 - self.emin))

    @cached_property
    def realmax(self) -> Fraction:
        """Largest finite number, (2 - 2**(1-p)) * 2**emax."""
        return (2 - Fraction(1, 2 ** (self.precision - 1))) * 2**self.emax


FLOAT64 = FloatFormat("float64", 53, -1022, 1023, np.float64)
FLOAT32 = FloatFormat("float32", 24, -126, 127, np.float32)
FORMATS = {"float64": FLOAT64, "float32": FLOAT32}

# A decimal ("-1.5e-3", ".5", "7"), a rational ("1/3", "-2/7") or a C99 hexadecimal
# float ("0x1.8p-3"); surrounding blanks are allowed, nothing else.
_DECIMAL = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_RATIONAL = re.compile(r"([+-]?\d+)\s*/\s*(\d+)")
_HEX = re.compile(r"([+-]?)0[xX]([0-9a-fA-F]*)(?:\.([0-9a-fA-F]*))?(?:[pP]([+-]?\d+))?")
# A decimal exponent beyond this is refused rather than expanded: 10**(10**6) is a
# megabyte-sized integer, and no double-precision quantity needs it.
MAX_DECIMAL_EXPONENT = _MAX_DECIMAL_EXPONENT = 100_000


def _int(digits: str, base: int = 10) -> int:
    """int(digits) without Python's 4300-digit limit on decimal strings (a ValueError
    that would escape as an internal error); Decimal converts without it."""
    if base == 10 and len(digits) > 4000:
        return int(Decimal(digits))
    return int(digits, base)


def _parse_string(text: str) -> Fraction:
    s = text.strip()
    if _DECIMAL.fullmatch(s):
        mantissa, _, exponent = s.replace("E", "e").partition("e")
        if exponent and (len(exponent) > 12 or abs(int(exponent)) > _MAX_DECIMAL_EXPONENT):
            raise InvalidNumberError(f"{text!r}: exponent out of range")
        return Fraction(Decimal(s))
    m = _RATIONAL.fullmatch(s)
    if m:
        num, den = _int(m.group(1)), _int(m.group(2))
        if den == 0:
            raise InvalidNumberError(f"{text!r}: zero denominator")
        return Fraction(num, den)
    m = _HEX.fullmatch(s)
    if m and (m.group(2) or m.group(3)):
        sign, whole, frac, exp = m.group(1), m.group(2), m.group(3) or "", m.group(4)
        digits = int((whole + frac) or "0", 16)
        value = Fraction(digits, 16 ** len(frac))
        if exp is not None:
            e = int(exp) if len(exp) <= 12 else 10 * _MAX_DECIMAL_EXPONENT
            if abs(e) > 4 * _MAX_DECIMAL_EXPONENT:
                raise InvalidNumberError(f"{text!r}: exponent out of range")
            value *= Fraction(2) ** e
        return -value if sign == "-" else value
    raise InvalidNumberError(
        f"{text!r} is not a number (expected a decimal like '0.1', "
        "a rational like '1/3' or a hexadecimal float like '0x1.8p-3')"
    )


def to_exact(value: Any) -> Fraction:
    """The exact rational value of `value`.

    Accepts int, Fraction (and any `numbers.Rational`), float and numpy floating
    scalars (their exact binary value), Decimal, and strings holding a decimal,
    a rational or a hexadecimal float. Rejects NaN, infinities, booleans and
    anything else with `InvalidNumberError`.
    """
    if isinstance(value, (bool, np.bool_)):
        raise InvalidNumberError(f"{value!r} is a boolean, not a number")
    if type(value) is Fraction:  # exact_array of already-parsed values: the fast path
        return value
    if isinstance(value, Fraction):
        return value
    if isinstance(value, (int, np.integer)):
        return Fraction(int(value))
    if isinstance(value, Rational):
        return Fraction(int(value.numerator), int(value.denominator))
    if isinstance(value, (float, np.floating)):
        if not math.isfinite(float(value)):
            raise InvalidNumberError(f"{value!r} is not finite")
        # Every finite binary float is exactly representable in float64.
        return Fraction(float(value))
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise InvalidNumberError(f"{value!r} is not finite")
        return Fraction(value)
    if isinstance(value, str):
        return _parse_string(value)
    # Flint rationals and integers (fmpq, fmpz) expose p/q or convert via int.
    if hasattr(value, "p") and hasattr(value, "q"):
        return Fraction(int(value.p), int(value.q))
    raise InvalidNumberError(f"{value!r} of type {type(value).__name__} is not a number")


def exact_array(values: Any) -> np.ndarray:
    """An object array of Fractions with the shape of `values`.

    `values` is a nested list or tuple, a scalar, or anything `np.asarray` takes (a
    numpy array of any float or integer dtype, a PyTorch tensor): a float32 or float64
    entry is its exact binary value. Ragged nesting raises `InvalidNumberError`;
    callers add the parameter name.
    """
    if not isinstance(values, (np.ndarray, list, tuple, str, bytes)) and _array_like(values):
        values = _as_numpy(values)
    if isinstance(values, np.ndarray):
        if values.dtype.kind in "fiu":
            out = np.empty(values.shape, dtype=object)
            for index, v in np.ndenumerate(values):
                out[index] = to_exact(v)
            return out
        values = values.tolist()
    shape = _nested_shape(values)
    flat = list(_flatten(values, len(shape)))
    for i, v in enumerate(flat):
        # A Fraction (a case file's numbers arrive parsed) with fewer than 1023 more bits in
        # its numerator than in its denominator is below 2^1023, inside the double range:
        # kept as it is, without the slower comparison below.
        if type(v) is Fraction and v.numerator.bit_length() - v.denominator.bit_length() < 1023:
            continue
        q = to_exact(v)
        # As in case files: every value must be a number a float64 run can start from
        # (a float is one already; a numpy array of floats or integers is too).
        if not isinstance(v, float) and abs(q) > _DOUBLE_MAX:
            raise InvalidNumberError(f"{_short_number(v)} is beyond the double range (magnitude at most 1.8e308)")
        flat[i] = q
    out = np.empty(len(flat), dtype=object)
    out[:] = flat
    return out.reshape(shape)


_DOUBLE_MAX = Fraction(float(np.finfo(np.float64).max))


def _short_number(v: Any) -> str:
    text = str(v)
    return text if len(text) <= 40 else f"{text[:24]}… ({len(text)} characters)"


def _array_like(values: Any) -> bool:
    return hasattr(values, "__array__") or hasattr(values, "__array_interface__") or hasattr(values, "__dlpack__")


def _as_numpy(values: Any) -> np.ndarray:
    """An array-like object (a PyTorch tensor, a JAX or CuPy array) as a numpy array of
    the same values: no rounding, since every float16/32/64 value is a float64."""
    if hasattr(values, "detach"):  # a tensor that requires grad refuses __array__
        values = values.detach()
    if hasattr(values, "cpu"):
        values = values.cpu()
    try:
        a = np.asarray(values)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise InvalidNumberError(f"cannot read {type(values).__name__} as numbers: {exc}") from None
    if a.dtype.kind not in "fiu":
        raise InvalidNumberError(f"{type(values).__name__} of dtype {a.dtype} does not hold real numbers")
    return a


def _nested_shape(values: Any) -> tuple[int, ...]:
    if not isinstance(values, (list, tuple)):
        return ()
    if len(values) == 0:
        return (0,)
    inner = [_nested_shape(v) for v in values]
    if any(s != inner[0] for s in inner):
        raise InvalidNumberError("ragged nesting: the rows have different lengths")
    return (len(values), *inner[0])


def _flatten(values: Any, depth: int):
    if depth == 0:
        yield values
        return
    for v in values:
        yield from _flatten(v, depth - 1)


def is_double(q: Fraction) -> bool:
    """True when q is exactly a float64 (so float(q) is exact)."""
    d = q.denominator
    return d & (d - 1) == 0 and abs(q.numerator).bit_length() <= 53 and d.bit_length() <= 1075


def nearest_float(q: Fraction, fmt: FloatFormat) -> float:
    """fl(q) in `fmt` (round to nearest, ties to even), as a Python float.

    Raises OverflowError where IEEE would round to ±inf. Fast paths: CPython's
    float(Fraction) is int/int division, which is correctly rounded; a float32
    rounding of a value that is exactly a double is numpy's single correct cast.
    Anything else is rounded in integer arithmetic, never via float64, because
    float32(float64(q)) can differ from float32(q) (double rounding).
    """
    if fmt.precision == 53:
        f = float(q)  # raises OverflowError past the double range
        if math.isinf(f):
            raise OverflowError(f"{q} overflows float64")
        return f
    if is_double(q):
        with np.errstate(over="ignore"):
            f32 = fmt.dtype(float(q))
        if not np.isfinite(f32):
            raise OverflowError(f"{float(q):.3g} overflows {fmt.name}")
        return float(f32)
    return float(round_nearest(q, fmt))


def nearest_floats(
    values: np.ndarray, fmt: FloatFormat, f64: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """fl(q) in `fmt` for an object array of Fractions: (float64 values, overflow mask).

    Vectorised, and exact: each q is first rounded correctly to the nearest double
    f (CPython's float(Fraction)). For float32, rounding f again gives fl(q) unless
    f is exactly halfway between two float32 numbers: every such midpoint is a
    double, so a midpoint strictly between q and f would be a double closer to q
    than f. Those ties, and values near the overflow threshold, take the exact path.
    Overflowed entries hold ±inf. `f64`, if given, is float(values) already computed.
    """
    values = np.asarray(values, dtype=object)
    flat = values.ravel()
    if f64 is not None:
        f64 = np.asarray(f64, dtype=np.float64).ravel()
    else:
        f64 = np.empty(flat.shape, dtype=np.float64)
        for i, q in enumerate(flat):
            try:
                f64[i] = float(q)
            except OverflowError:
                f64[i] = math.inf if q > 0 else -math.inf  # copysign would call float(q)
    if fmt.precision == 53:
        out = f64
    else:
        with np.errstate(over="ignore"):
            rounded = f64.astype(fmt.dtype)
            down = np.nextafter(rounded, fmt.dtype(-np.inf))
            up = np.nextafter(rounded, fmt.dtype(np.inf))
        midpoint = (f64 == (rounded.astype(np.float64) + down.astype(np.float64)) / 2) | (
            f64 == (rounded.astype(np.float64) + up.astype(np.float64)) / 2
        )
        risky = midpoint | (np.abs(f64) >= float(fmt.realmax))
        out = rounded.astype(np.float64)
        for k in np.flatnonzero(risky):
            try:
                out[k] = float(round_nearest(flat[k], fmt))
            except OverflowError:
                out[k] = math.inf if flat[k] > 0 else -math.inf
    return out.reshape(values.shape), np.isinf(out).reshape(values.shape)


def round_nearest(q: Fraction, fmt: FloatFormat) -> Fraction:
    """fl(q): round to nearest, ties to even, in `fmt`, as an exact Fraction.

    Subnormal results are rounded on the subnormal grid. A value that rounds past
    realmax raises OverflowError (IEEE would give +-inf; the caller decides).
    """
    if q == 0:
        return Fraction(0)
    sign = -1 if q < 0 else 1
    a = abs(q)
    # e = floor(log2 a), found exactly from the integer parts.
    e = a.numerator.bit_length() - a.denominator.bit_length()
    if Fraction(2) ** e > a:
        e -= 1
    quantum_exp = max(e, fmt.emin) - (fmt.precision - 1)
    scaled = a / Fraction(2) ** quantum_exp
    m = round(scaled)  # Fraction.__round__ rounds half to even
    result = m * Fraction(2) ** quantum_exp
    if result > fmt.realmax:
        # Round-to-nearest overflows to infinity once a >= realmax + ulp/2.
        raise OverflowError(f"{float(q):.3g} overflows {fmt.name}")
    return sign * result


def float_or_inf(q: Fraction) -> float:
    """float(q), correctly rounded, or ±inf beyond the double range (where float(q), and
    so math.copysign(inf, q), raises OverflowError)."""
    try:
        return float(q)
    except OverflowError:
        return math.inf if q > 0 else -math.inf


def round_down(q: Fraction) -> float:
    """The largest float64 <= q (-inf if q is below -realmax)."""
    try:
        f = float(q)  # CPython rounds int/int division correctly (to nearest)
    except OverflowError:
        return -math.inf if q < 0 else float(np.finfo(np.float64).max)
    if Fraction(f) > q:
        f = math.nextafter(f, -math.inf)
    return f


def round_up(q: Fraction) -> float:
    """The smallest float64 >= q (+inf if q is above realmax)."""
    try:
        f = float(q)
    except OverflowError:
        return math.inf if q > 0 else -float(np.finfo(np.float64).max)
    if Fraction(f) < q:
        f = math.nextafter(f, math.inf)
    return f


_TINY = math.ulp(0.0)  # 2**-1074
_HUGE = float(np.finfo(np.float64).max)


def dyadic_down(mantissa: int, exponent: int) -> float:
    """The largest float64 <= mantissa * 2**exponent."""
    if abs(mantissa) < 2**53 and -1074 <= exponent <= 970:
        return math.ldexp(mantissa, exponent)  # exact: fits the significand, no overflow
    magnitude = abs(mantissa).bit_length() + exponent  # 2**(magnitude-1) <= |v| < 2**magnitude
    if mantissa == 0:
        return 0.0
    if magnitude > 1100:  # |v| > realmax: never expand a huge power of two
        return _HUGE if mantissa > 0 else -math.inf
    if magnitude < -1100:  # 0 < |v| < 2**-1074
        return 0.0 if mantissa > 0 else -_TINY
    return round_down(_dyadic(mantissa, exponent))


def dyadic_up(mantissa: int, exponent: int) -> float:
    """The smallest float64 >= mantissa * 2**exponent."""
    return 0.0 - dyadic_down(-mantissa, exponent)  # 0.0 - x never yields -0.0


def _dyadic(mantissa: int, exponent: int) -> Fraction:
    if exponent >= 0:
        return Fraction(mantissa * 2**exponent)
    return Fraction(mantissa, 2**-exponent)
