"""Typed errors. Every error verifae raises on purpose is a `VerifaeError`."""

from __future__ import annotations

__all__ = [
    "VerifaeError",
    "InvalidNumberError",
    "SpecError",
    "BoxError",
    "UnsupportedError",
    "OutputError",
    "EnvironmentFailure",
]


class VerifaeError(Exception):
    """Base class of every error verifae raises deliberately."""


class InvalidNumberError(VerifaeError, ValueError):
    """A value that is not a finite real number (NaN, infinity, an unparsable string)."""


class SpecError(VerifaeError, ValueError):
    """An autoencoder specification that is malformed: shapes, activation, values."""


class BoxError(VerifaeError, ValueError):
    """An input or grad_output box that is malformed: lower > upper, dimensions, radius."""


class UnsupportedError(VerifaeError):
    """A backend or method that cannot be rigorous for this request refuses it."""


class OutputError(VerifaeError):
    """A result that cannot be written where the user asked (a missing folder, no permission)."""


class EnvironmentFailure(VerifaeError):
    """A service or optional package that the request needs is unavailable (an unreachable
    Dask scheduler, a missing extra). Not the user's input: the CLI exits 5, not 2."""
