"""An independent reference implementation of design §1, for the soundness tests.

Plain loops over Python scalars, sharing no code with verifae's model or backends.
Rational values stay exact (flint `fmpq`); only the transcendental activations produce flint
`arb` balls, at a high working precision, around the exact real value (Arb's
operations are rigorous). Keeping the rational part exact matters: a quantity
that is exactly 0, such as x_hat − x when h = 0, must not become a ball
straddling an enclosure endpoint. Everything is computed at one point x and one
incoming gradient g.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import flint
from flint import arb, fmpq

from verifae.activations import get_activation  # only for an entry's default configuration (layered)

REFERENCE_BITS = 256


def _q(v: Fraction) -> fmpq:
    return fmpq(v.numerator, v.denominator)


def _act(name: str, z: Any) -> tuple[Any, Any]:
    """(act(z), act'(z)) with the spec's conventions (relu'(0) = 0); z is an exact fmpq."""
    if name == "identity":
        return z, fmpq(1)
    if name == "relu":
        return (z if z > 0 else fmpq(0)), fmpq(1 if z > 0 else 0)
    if name == "leaky_relu":  # the default negative_slope, 1/100; leaky_relu'(0) = 1/100
        s = fmpq(1, 100)
        return (z if z > 0 else s * z), (fmpq(1) if z > 0 else s)
    if name == "elu":  # the default alpha, 1; elu'(0) = 1 (the z <= 0 branch, as PyTorch)
        if z > 0:
            return z, fmpq(1)
        # expm1, not exp − 1: a 256-bit exp(z) − 1 is a ball wider than a subnormal z
        return arb(z).expm1(), arb(z).exp()
    if name == "sigmoid":
        s = 1 / (1 + arb(-z).exp())
        return s, s * (1 - s)
    if name == "tanh":
        t = arb(z).tanh()
        return t, 1 - t * t
    if name == "softplus":  # the defaults beta 1, threshold 20: z itself above 20 (PyTorch)
        Z = arb(z)
        smooth = (Z.exp().log1p(), 1 / (1 + (-Z).exp()))
        if Z > 20:
            return z, fmpq(1)
        if Z <= 20:
            return smooth
        return smooth[0].union(Z), smooth[1].union(arb(1))  # a ball across the switch
    if name == "silu":  # z·s(z), s + z·s·(1 − s) with 1 − s = 1/(1 + e^z)
        Z = arb(z)
        s = 1 / (1 + (-Z).exp())
        return Z * s, s + Z * s / (1 + Z.exp())
    if name == "gelu":  # z·Φ(z), Φ(z) + z·φ(z); Φ(z) = erfc(−z/√2)/2 (no cancellation for z ≪ 0)
        Z = arb(z)
        cdf = (-Z / arb(2).sqrt()).erfc() / 2
        pdf = (-Z * Z / 2).exp() / (2 * arb.pi()).sqrt()
        return Z * cdf, cdf + Z * pdf
    raise ValueError(name)


def reference(spec, x: list[Fraction], g: list[Fraction] | None) -> dict[str, Any]:
    """Every quantity at x, with g = None meaning grad_output "mse".

    Returns flat lists (matrices row-major) keyed like `Enclosure.items()`.
    """
    with flint.ctx.workprec(REFERENCE_BITS):
        num = _q
        W_enc = [[num(v) for v in row] for row in spec.W_enc.tolist()]
        b_enc = [num(v) for v in spec.b_enc]
        W_dec = [[num(v) for v in row] for row in spec.W_dec.tolist()]
        b_dec = [num(v) for v in spec.b_dec]
        xs = [num(v) for v in x]
        d, h = len(b_dec), len(b_enc)
        zero = fmpq(0)

        z = [sum((W_enc[j][i] * xs[i] for i in range(d)), zero) + b_enc[j] for j in range(h)]
        acts = [_act(spec.activation, zj) for zj in z]
        hid = [a for a, _ in acts]
        dact = [da for _, da in acts]
        x_hat = [sum((W_dec[i][j] * hid[j] for j in range(h)), zero) + b_dec[i] for i in range(d)]
        r = [x_hat[i] - xs[i] for i in range(d)]
        error = sum((ri * ri for ri in r), zero) / d
        if g is None:
            gs = [2 * ri / d for ri in r]
        else:
            gs = [num(v) for v in g]
        dH = [sum((W_dec[i][j] * gs[i] for i in range(d)), zero) for j in range(h)]
        dZ = [dH[j] * dact[j] for j in range(h)]
        return {
            "pre_activation": z,
            "hidden": hid,
            "output": x_hat,
            "reconstruction_error": [error],
            "gradients.W_enc": [dZ[j] * xs[i] for j in range(h) for i in range(d)],
            "gradients.b_enc": dZ,
            "gradients.W_dec": [gs[i] * hid[j] for i in range(d) for j in range(h)],
            "gradients.b_dec": gs,
            "gradients.input": [sum((W_enc[j][i] * dZ[j] for j in range(h)), zero) for i in range(d)],
        }


def outside(enclosure, ref: dict[str, Any]) -> list[str]:
    """The quantities (with flat index) whose reference value is not inside the enclosure.

    Zero tolerance: a rational must satisfy lo <= v <= hi exactly; an arb ball must
    lie entirely inside [lo, hi] (the float endpoints are exact arbs).
    """
    misses = []
    for name, bounds in enclosure.items():
        flat = bounds.reshape(-1, 2)
        values = ref[name]
        assert len(values) == flat.shape[0], (name, len(values), flat.shape)
        for k, (v, (lo, hi)) in enumerate(zip(values, flat)):
            if isinstance(v, fmpq):
                inside = lo <= Fraction(int(v.p), int(v.q)) <= hi
            else:
                with flint.ctx.workprec(REFERENCE_BITS):
                    low = v.lower()
                    if name == "reconstruction_error":
                        # A mean of squares is >= 0; a residual that is exactly 0 but came out
                        # as a tiny ball (b_dec = 1/1000 is not dyadic) squares to a ball
                        # reaching below 0, which no real value does.
                        low = max(low, arb(0))
                    inside = bool(arb(lo) <= low) and bool(v.upper() <= arb(hi))
            if not inside:
                misses.append(f"{name}[{k}]: {v} not in [{lo!r}, {hi!r}]")
    return misses


# ---------------------------------------------------------------- layered models (issue 13)


def _sign(z: Any) -> int | None:
    """1, -1 or 0 when decided (exactly, or by the whole ball), None for a ball around 0."""
    if isinstance(z, fmpq):
        return (z > 0) - (z < 0)
    if z > 0:
        return 1
    if z < 0:
        return -1
    return 0 if z.is_exact() else None


def _layer_act(config: dict[str, str], z: Any) -> tuple[Any, Any]:
    """(act(z), act'(z)) for an activation given by its JSON config; z an fmpq or an arb.
    A ball around 0 (a difference of two equal transcendental values) gets the hull of
    both sides: still an enclosure of the exact value."""
    name = config["name"]
    if name not in ("relu", "leaky_relu"):  # the formulas above (their default parameters)
        if config != get_activation(name).config():  # _act knows the default parameters only
            raise ValueError(f"no layered reference for {config}")
        return _act(name, z)
    s = Fraction(config["negative_slope"]) if name == "leaky_relu" else Fraction(0)
    slope = fmpq(s.numerator, s.denominator)
    sign = _sign(z)
    if sign is None:
        return arb(0).union(z).union(slope * z), arb(slope).union(arb(1))
    return (z if sign > 0 else slope * z), (fmpq(1) if sign > 0 else slope)


def layered_reference(spec, x: list[Fraction], g: list[Fraction] | None) -> dict[str, Any]:
    """Every quantity of a layered model at x (g None: grad_output "mse"), keyed like
    `LayeredEnclosure.items()`; plain loops, reading only the layers' exact parameters,
    names and activation configs."""
    with flint.ctx.workprec(REFERENCE_BITS):
        layers = list(spec.encoder) + list(spec.decoder)
        zero = fmpq(0)
        xs = [_q(v) for v in x]
        d = len(xs)
        out: dict[str, Any] = {}
        a = xs
        inputs, pres, derivs = [], [], []
        for layer in layers:
            W = [[_q(v) for v in row] for row in layer.weight.tolist()]
            b = [_q(v) for v in layer.bias]
            z = [sum((W[j][i] * a[i] for i in range(len(a))), zero) + b[j] for j in range(len(b))]
            config = {"name": "identity"} if layer.activation is None else layer.activation.config()
            pairs = [_layer_act(config, zj) for zj in z]
            inputs.append(a)
            pres.append(z)
            derivs.append([da for _, da in pairs])
            a = [v for v, _ in pairs]
            out[f"layers.{layer.name}.pre_activation"] = z
            out[f"layers.{layer.name}.post_activation"] = a
        out["latent"] = out[f"layers.{layers[len(spec.encoder) - 1].name}.post_activation"]
        out["output"] = a
        r = [a[i] - xs[i] for i in range(d)]
        out["reconstruction_error"] = [sum((ri * ri for ri in r), zero) / d]
        gy = [2 * ri / d for ri in r] if g is None else [_q(v) for v in g]
        for k in reversed(range(len(layers))):
            layer = layers[k]
            W = [[_q(v) for v in row] for row in layer.weight.tolist()]
            dz = [gy[j] * derivs[k][j] for j in range(len(gy))]
            out[f"gradients.{layer.name}.weight"] = [dz[j] * ai for j in range(len(dz)) for ai in inputs[k]]
            out[f"gradients.{layer.name}.bias"] = dz
            gy = [sum((W[j][i] * dz[j] for j in range(len(dz))), zero) for i in range(len(inputs[k]))]
        out["gradients.input"] = gy
        return out
