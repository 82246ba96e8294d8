"""Prove or refute properties of an autoencoder over a box (design §8).

`verify(spec, boxes, ["error<=0.05", "output[3]<=0.9"])` gives, per box, property and
semantics, a `Verdict`: proved, violated (with a confirmed counterexample) or unknown
(the budget ran out; the best bound and the open parts). `certificate_json` writes the
proofs of the real semantics for the independent checker `check_certificate`.
"""

from .api import VerifyResult, certificate_json, render_verdicts, to_json, verify
from .checker import CheckReport, check_certificate, check_certificate_file
from .properties import Property, PropertyError, parse_property
from .search import Verdict

__all__ = [
    "CheckReport",
    "Property",
    "PropertyError",
    "Verdict",
    "VerifyResult",
    "certificate_json",
    "check_certificate",
    "check_certificate_file",
    "parse_property",
    "render_verdicts",
    "to_json",
    "verify",
]
