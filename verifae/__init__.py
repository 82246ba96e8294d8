"""verifae: verified arithmetic for the one-hidden-layer autoencoder.

    x_hat = W_dec·act(W_enc·x + b_enc) + b_dec

`enclose` computes intervals that provably contain every value of the outputs, the
backward-pass gradients and the reconstruction error over an input box, for this
model (`AutoencoderSpec`) and for layered ones (`LayeredSpec`: any number of dense
layers each way); `evaluate` runs the spec at one point in float32, float64 or exact
rationals.
"""

from ._version import __version__
from .activations import ACTIVATIONS
from .api import (
    BatchEnclosure,
    Enclosure,
    Evaluation,
    LayeredBatchEnclosure,
    LayeredEnclosure,
    LayerEnclosure,
    choose_backend,
    choose_layered_backend,
    enclose,
    enclose_layered,
    enclose_many,
    evaluate,
    iter_enclose_many,
)
from .backends import BACKENDS, RIGOROUS_BACKENDS, get_backend
from .batch import WEIGHT_GRADIENTS
from .box import Box
from .check import CheckResult, check
from .errors import (
    BoxError,
    EnvironmentFailure,
    InvalidNumberError,
    OutputError,
    SpecError,
    UnsupportedError,
    VerifaeError,
)
from .importers import from_torch
from .layered import Layer, LayeredSpec
from .model import AutoencoderSpec, compression_ratio
from .verify import (
    Property,
    PropertyError,
    Verdict,
    VerifyResult,
    certificate_json,
    check_certificate,
    check_certificate_file,
    parse_property,
    verify,
)

__all__ = [
    "ACTIVATIONS",
    "AutoencoderSpec",
    "BACKENDS",
    "BatchEnclosure",
    "Box",
    "BoxError",
    "CheckResult",
    "Enclosure",
    "EnvironmentFailure",
    "Evaluation",
    "InvalidNumberError",
    "Layer",
    "LayerEnclosure",
    "LayeredBatchEnclosure",
    "LayeredEnclosure",
    "LayeredSpec",
    "OutputError",
    "Property",
    "PropertyError",
    "RIGOROUS_BACKENDS",
    "SpecError",
    "UnsupportedError",
    "VerifaeError",
    "Verdict",
    "VerifyResult",
    "WEIGHT_GRADIENTS",
    "__version__",
    "certificate_json",
    "check",
    "check_certificate",
    "check_certificate_file",
    "choose_backend",
    "choose_layered_backend",
    "compression_ratio",
    "enclose",
    "enclose_layered",
    "enclose_many",
    "evaluate",
    "iter_enclose_many",
    "from_torch",
    "get_backend",
    "parse_property",
    "verify",
]
