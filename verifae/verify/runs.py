"""Point runs for the counterexample search and its confirmation.

The search climbs in float64 numpy runs; a candidate is then confirmed in the
semantics of the verdict:

- real: the model is enclosed at the exact candidate point (a rational in the box) in
  Arb at `REFERENCE_BITS` bits; the candidate violates only when that whole enclosure
  is beyond T;
- float32 / float64: the numpy run at the candidate, its input rounded to nearest in
  the format from its exact value (as `verifae.check` and the float backends do), must
  violate. The PyTorch run at the same point is reported beside it when torch is
  installed: both are IEEE runs of the model, so either one breaking the property is a
  run in that semantics that breaks it (design §2; the libraries' libm within K ulps
  is the trust boundary).

Every model is run as a `LayeredSpec` (a v1 spec through `LayeredSpec.from_v1`, whose
operations are those of the v1 code, in the same order).
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import numpy as np

from .. import torch_runs
from ..api import Enclosure, LayeredEnclosure, enclose, enclose_layered
from ..backends import get_backend
from ..box import Box
from ..layered import (
    LayeredParameters,
    LayeredSpec,
    layered_backward,
    layered_forward,
    layered_parameters,
    mse_grad_output,
    reconstruction_error,
)
from ..model import AutoencoderSpec
from .properties import Property

__all__ = ["ModelRuns", "REFERENCE_BITS", "exact_strings"]

#: the precision of the real-semantics confirmation (an Arb ball at an exact point)
REFERENCE_BITS = 200


def exact_strings(values: Any) -> list[str]:
    """Exact values as strings ("3/10", "1"): what certificates and counterexamples hold."""
    return [str(Fraction(v)) for v in values]


class ModelRuns:
    """Float runs (numpy, PyTorch) and high-precision point enclosures of one model."""

    def __init__(self, spec: AutoencoderSpec | LayeredSpec) -> None:
        self.spec = spec
        self.layered = spec if isinstance(spec, LayeredSpec) else LayeredSpec.from_v1(spec)
        self.input_dim = self.layered.input_dim
        self.latent_dim = self.layered.latent_dim
        self._params: dict[str, LayeredParameters] = {}

    def params(self, fmt: str) -> LayeredParameters:
        if fmt not in self._params:
            self._params[fmt] = layered_parameters(get_backend(fmt), self.layered)
        return self._params[fmt]

    def inputs(self, x_exact: np.ndarray, fmt: str) -> np.ndarray:
        """The exact point(s) rounded to nearest in `fmt` (correctly, from the exact values)."""
        return get_backend(fmt).constant(np.asarray(x_exact, dtype=object))

    # ------------------------------------------------------------ numpy runs

    def values(self, prop: Property, X: np.ndarray, fmt: str) -> np.ndarray:
        """The property's value at each row of X (already in the format's dtype)."""
        B = get_backend(fmt)
        p = self.params(fmt)
        with np.errstate(all="ignore"):
            fwd = layered_forward(B, p, X)
            error = reconstruction_error(B, fwd.output, X)
            grad = None
            if prop.kind == "input_grad_inf":
                g = mse_grad_output(B, fwd.output, X, self.input_dim)
                grad = layered_backward(B, p, X, fwd, g)["input"]
            return prop.point_value(fwd.latent, fwd.output, error, grad)

    def gradient(self, prop: Property, X: np.ndarray) -> np.ndarray:
        """d(badness)/dx at each row of X, float64: the direction of the ascent. Exact
        calculus of the float64 run for error, output and latent (the VJP of the layered
        model plus, for E, its direct term −(2/d)(x_hat − x)); forward differences for
        input_grad_inf, whose derivative needs second derivatives."""
        B = get_backend("float64")
        p = self.params("float64")
        d = self.input_dim
        with np.errstate(all="ignore"):
            if prop.kind == "input_grad_inf":
                base = self.values(prop, X, "float64")
                h = 1e-7 * np.maximum(1.0, np.abs(X))
                grad = np.empty_like(X)
                for k in range(d):
                    Xk = X.copy()
                    Xk[:, k] += h[:, k]
                    grad[:, k] = (self.values(prop, Xk, "float64") - base) / h[:, k]
            elif prop.kind == "error":
                fwd = layered_forward(B, p, X)
                g = mse_grad_output(B, fwd.output, X, d)
                grad = layered_backward(B, p, X, fwd, g)["input"] - g
            else:
                if prop.kind == "latent":
                    p = LayeredParameters(p.layers[: p.n_encoder], p.n_encoder, d)
                fwd = layered_forward(B, p, X)
                g = prop.output_cotangent(fwd.output)
                grad = layered_backward(B, p, X, fwd, g)["input"]
        sign = 1.0 if prop.sense == "<=" else -1.0
        return np.nan_to_num(sign * grad)

    # ------------------------------------------------------------ PyTorch

    def torch_value(self, prop: Property, x_fmt: np.ndarray, fmt: str) -> float | None:
        """The property's value in PyTorch's run at one point (already rounded to the
        format): nn.Linear layers and the activations' torch modules, F.mse_loss against a
        detached copy of x, autograd for dX. None when torch is not installed."""
        if not torch_runs.available():
            return None
        import torch
        import torch.nn.functional as F

        p = self.params(fmt)
        dtype = torch.float32 if fmt == "float32" else torch.float64
        x = torch.tensor(np.asarray(x_fmt), dtype=dtype, requires_grad=True)
        a = x
        latent = None
        for k, layer in enumerate(p.layers):
            linear = torch.nn.Linear(layer.weight.shape[1], layer.weight.shape[0], dtype=dtype)
            with torch.no_grad():
                linear.weight.copy_(torch.from_numpy(np.asarray(layer.weight)))
                linear.bias.copy_(torch.from_numpy(np.asarray(layer.bias)))
            a = linear(a)
            if layer.activation is not None:
                a = layer.activation.torch_module(np.dtype(fmt).type)(a)
            if k == p.n_encoder - 1:
                latent = a
        assert latent is not None
        loss = F.mse_loss(a, x.detach(), reduction="mean")
        if prop.kind == "error":
            return float(loss.detach())
        if prop.kind == "output":
            return float(a.detach()[prop.index])
        if prop.kind == "vnnlib":
            return float(prop.margin(a.detach().numpy()[None, :])[0])
        if prop.kind == "latent":
            return float(latent.detach()[prop.index])
        loss.backward()
        assert x.grad is not None
        return float(x.grad.abs().max())

    # ------------------------------------------------------------ enclosures

    def reference(self, x_exact: np.ndarray) -> Enclosure | LayeredEnclosure:
        """The real-semantics enclosure at the exact point x, in Arb at REFERENCE_BITS."""
        point = Box.point(x_exact)
        if isinstance(self.spec, AutoencoderSpec):
            return enclose(self.spec, point, backend="arb", precision=REFERENCE_BITS, method="interval")
        return enclose_layered(self.spec, point, backend="arb", precision=REFERENCE_BITS, method="interval")

    def confirm(self, prop: Property, semantics: str, x_exact: np.ndarray) -> dict[str, Any] | None:
        """A confirmed counterexample at the exact point x (in the box), or None.

        real: the Arb enclosure of the value at x lies wholly beyond T.
        float32/float64: the numpy run at fl(x) breaks the property; the PyTorch run and
        the real value at x are reported beside it (a point can break the property in
        float32 and not in real numbers: `real.violated` says which)."""
        x_exact = np.asarray(x_exact, dtype=object)
        if semantics == "real":
            lo, hi = prop.value_bounds(self.reference(x_exact))
            if not prop.refutes(lo, hi):
                return None
            return {"x": exact_strings(x_exact), "value": [lo, hi],
                    "confirmed_by": f"arb at {REFERENCE_BITS} bits at the exact point"}
        X = self.inputs(x_exact, semantics)
        value = float(self.values(prop, X[None, :], semantics)[0])
        if not prop.violated_by(value):
            return None
        found: dict[str, Any] = {"x": exact_strings(x_exact), "value": value,
                                 "runs": {"numpy": {"value": value, "violated": True}}}
        try:
            t = self.torch_value(prop, X, semantics)
        except Exception as exc:  # noqa: BLE001 - PyTorch's run is a second witness only
            found["runs"]["torch"] = {"error": f"{type(exc).__name__}: {exc}"}
        else:
            if t is not None:
                found["runs"]["torch"] = {"value": t, "violated": prop.violated_by(t)}
        lo, hi = prop.value_bounds(self.reference(x_exact))
        found["real"] = {"value": [lo, hi],
                         "violated": True if prop.refutes(lo, hi) else False if prop.proves(lo, hi) else None}
        return found


def json_float(v: float) -> float | str:
    """A float for JSON: the strings "inf", "-inf", "nan" where JSON has no number."""
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return v
