"""Prove or refute properties of an autoencoder over a box (design §8).

`verify(spec, boxes, ["error<=0.05", "output[3]<=0.9"])` gives, per box, property and
semantics, a `Verdict`: proved, violated (with a confirmed counterexample) or unknown
(the budget ran out; the best bound and the open parts). `certificate_json` writes the
proofs of the real semantics for the independent checker `check_certificate`;
`crown_query` writes TorchLean's `crown_query_v1` documents, and `read_output_property`
reads a VNN-LIB file's output constraints as a property.
"""

from .api import VerifyResult, certificate_json, render_verdicts, to_json, verify
from .checker import CheckReport, check_certificate, check_certificate_file
from .properties import LinearConstraint, Property, PropertyError, parse_property
from .search import Verdict
from .torchlean import crown_query, replay_check
from .vnnlib import check_input_region, read_output_property

__all__ = [
    "CheckReport",
    "LinearConstraint",
    "Property",
    "PropertyError",
    "Verdict",
    "VerifyResult",
    "certificate_json",
    "check_certificate",
    "check_certificate_file",
    "check_input_region",
    "crown_query",
    "parse_property",
    "read_output_property",
    "render_verdicts",
    "replay_check",
    "to_json",
    "verify",
]
