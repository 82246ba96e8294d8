"""Write the hand-made cases, the 784-64-784 case and the layered (format v2) cases of
cases/ (reproducible).

    python cases/scripts/make_cases.py

The digits cases come from cases/scripts/train_digits.py. Weights of the larger
models are float32 values (as a PyTorch model holds them), written as the shortest
decimal that reads back as the same double.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

CASES = Path(__file__).resolve().parent.parent


def write(name: str, description: str, model: dict, input_: dict, grad_output="mse") -> None:
    case = {"name": name, "description": description, "model": model, "input": input_, "grad_output": grad_output}
    text = json.dumps(case, indent=1)
    if len(text) > 200_000:  # big models: one line per matrix row keeps the file small
        text = json.dumps(case, separators=(",", ":"))
    (CASES / f"{name}.json").write_text(text + "\n")


def floats(a: np.ndarray) -> list:
    return np.asarray(a, dtype=np.float32).astype(np.float64).tolist()


def decimals(a: np.ndarray, places: int = 2) -> list:
    """Exact decimal strings with `places` digits after the point ("0.37", "-1.05"):
    the case means these decimals, not the doubles nearest to them."""
    scaled = np.rint(np.asarray(a, dtype=np.float64) * 10**places).astype(np.int64)
    def text(n: int) -> str:
        sign, n = ("-" if n < 0 else ""), abs(int(n))
        return f"{sign}{n // 10**places}.{n % 10**places:0{places}d}"
    return np.vectorize(text, otypes=[object])(scaled).tolist()


def layer(rng: np.random.Generator, out: int, inp: int, activation, name: str | None = None) -> dict:
    """A dense layer of decimal-string weights N(0, 1)/sqrt(in) and biases N(0, 0.1)."""
    entry = {"weight": decimals(rng.normal(size=(out, inp)) / np.sqrt(inp)),
             "bias": decimals(rng.normal(size=out) * 0.1), "activation": activation}
    if name is not None:
        entry["name"] = name
    return entry


def layered_cases() -> None:
    """Format v2 (design §6): layered models with exact decimal-string weights."""
    rng = np.random.default_rng(34243)
    write(
        "layered-mixed-3-4-4-2-4-3",
        "A layered 3-4-4-2-4-3 autoencoder with a different activation in every layer: relu, leaky_relu "
        "(negative_slope 0.2), tanh, elu and a sigmoid output layer named \"out\".",
        {
            "encoder": [layer(rng, 4, 3, "relu"), layer(rng, 4, 4, {"name": "leaky_relu", "negative_slope": "0.2"}),
                        layer(rng, 2, 4, "tanh")],
            "decoder": [layer(rng, 4, 2, "elu"), layer(rng, 3, 4, "sigmoid", name="out")],
        },
        {"center": ["0.2", "-0.1", "0.4"], "radius": "0.05"},
    )
    rng = np.random.default_rng(6)
    sizes = [4, 3, 3, 3, 2, 3, 3, 3, 4]
    n_encoder = 4
    layers = [layer(rng, sizes[k + 1], sizes[k], "tanh" if k < len(sizes) - 2 else "identity")
              for k in range(len(sizes) - 1)]
    write(
        "layered-deep-tanh-4-3-3-3-2-3-3-3-4",
        "A deep, narrow layered autoencoder: eight dense layers (4-3-3-3-2-3-3-3-4), tanh in every layer "
        "but the identity output; interval propagation widens layer by layer.",
        {"encoder": layers[:n_encoder], "decoder": layers[n_encoder:]},
        {"center": ["0.1", "0.3", "-0.2", "0.5"], "radius": "0.01"},
    )


def main() -> None:
    write(
        "tiny-relu-2-1-2",
        "By hand: z = x1 + 2·x2 + 1 is in [1, 2.5] > 0, so hid = z and x_hat = (z, z) lies in [1, 2.5].",
        {"activation": "relu", "W_enc": [[1, 2]], "b_enc": [1], "W_dec": [[1], [1]], "b_dec": [0, 0]},
        {"lower": [0, 0], "upper": ["0.5", "0.5"]},
    )
    write(
        "tiny-sigmoid-2-1-2",
        "By hand: z = x1 − x2 in [−1, 1], hid in [σ(−1), σ(1)] = [0.2689, 0.7311], σ' in [σ'(1), 1/4].",
        {"activation": "sigmoid", "W_enc": [[1, -1]], "b_enc": [0], "W_dec": [[2], [-2]], "b_dec": [0, 1]},
        {"lower": [0, 0], "upper": [1, 1]},
    )
    write(
        "tiny-tanh-2-1-2",
        "By hand: z = x1 − x2 in [−1, 1], hid in [tanh(−1), tanh(1)] = ±0.7616, tanh' in [0.42, 1].",
        {"activation": "tanh", "W_enc": [[1, -1]], "b_enc": [0], "W_dec": [[1], [1]], "b_dec": [0, 0]},
        {"lower": [0, 0], "upper": [1, 1]},
    )
    write(
        "tiny-identity-2-1-2",
        "By hand, exactly: an averager, x_hat = ((x1 + x2)/2, (x1 + x2)/2); on [0, 1]² it lies in [0, 1].",
        {"activation": "identity", "W_enc": [["1/2", "1/2"]], "b_enc": [0], "W_dec": [[1], [1]], "b_dec": [0, 0]},
        {"lower": [0, 0], "upper": [1, 1]},
    )
    write(
        "relu-kink-2-1-2",
        "The relu kink inside the box: z = x1 + x2 in [−1, 2] straddles 0, so relu' is [0, 1] "
        "and hid is [0, 2]; never a branch on the midpoint.",
        {"activation": "relu", "W_enc": [[1, 1]], "b_enc": [0], "W_dec": [[1], [-1]], "b_dec": [0, 0]},
        {"lower": [-1, 0], "upper": [1, 1]},
    )
    tanh_4x2 = {
        "activation": "tanh",
        "W_enc": [[0.1, -0.2, 0.3, 0.05], [0.0, 0.4, -0.1, 0.2]],
        "b_enc": [0.01, -0.02],
        "W_dec": [[0.5, 0.1], [-0.3, 0.2], [0.1, 0.1], [0.0, -0.4]],
        "b_dec": [0.0, 0.0, 0.1, 0.0],
    }
    write(
        "tanh-4x2",
        "The design's example: a 4-2-4 tanh autoencoder on a box of width 0.1.",
        tanh_4x2,
        {"lower": [0.0, 0.1, 0.2, 0.3], "upper": [0.1, 0.2, 0.3, 0.4]},
    )
    write(
        "point-tanh-4x2",
        "A point box: the real enclosure is a few ulps wide, while float runs differ from the "
        "real value by rounding; the float enclosures account for that.",
        tanh_4x2,
        {"center": [0.05, 0.15, 0.25, 0.35], "radius": 0},
    )
    write(
        "grad-output-box-tanh-4x2",
        "An incoming-gradient box instead of the MSE gradient: every g within 0.5 of (1, −1, 0, 0.5).",
        tanh_4x2,
        {"lower": [0.0, 0.1, 0.2, 0.3], "upper": [0.1, 0.2, 0.3, 0.4]},
        {"center": [1, -1, 0, "0.5"], "radius": "0.5"},
    )
    write(
        "decimal-strings-3-2-3",
        "Exact decimals, rationals and hexadecimal floats as strings: \"0.1\" is 1/10, not the double "
        "nearest to it.",
        {
            "activation": "relu",
            "W_enc": [["0.1", "1/3", "-0.25"], ["0x1.8p-3", "-2.5e-1", "7/10"]],
            "b_enc": ["0.01", "-1/7"],
            "W_dec": [["0.3", "0.6"], ["-1/3", "0.2"], ["0x1p-4", "1e-1"]],
            "b_dec": ["0.05", "0", "-0.1"],
        },
        {"center": ["0.1", "0.2", "0.3"], "radius": "1/100"},
    )
    rng = np.random.default_rng(8)
    d, h = 8, 3
    write(
        "wide-sigmoid-8-3-8",
        "A wide box (radius 1 around 0): naive interval bounds are loose here; the float-run "
        "check still lands inside.",
        {
            "activation": "sigmoid",
            "W_enc": floats(rng.normal(size=(h, d)) / np.sqrt(d)),
            "b_enc": floats(rng.normal(size=h) * 0.1),
            "W_dec": floats(rng.normal(size=(d, h)) / np.sqrt(h)),
            "b_dec": floats(rng.normal(size=d) * 0.1),
        },
        {"center": [0] * d, "radius": 1},
    )
    write(
        "saturated-sigmoid-4-2-4",
        "Sigmoid deep in saturation (z near ±40): in float32 the activation is exactly 0 or 1 "
        "and sigmoid' underflows; the float enclosures cover the library's error there.",
        {
            "activation": "sigmoid",
            "W_enc": [[1, 1, 0, 0], [0, 0, 1, 1]],
            "b_enc": [40, -40],
            "W_dec": [[1, 0], [0, 1], [1, 1], [1, -1]],
            "b_dec": [0, 0, 0, 0],
        },
        {"center": ["0.5", "0.5", "0.5", "0.5"], "radius": "0.5"},
    )
    write(
        "overflow-float32-2-1-2",
        "Weights of 1e30 on inputs near 1e10: z reaches 2e40, beyond float32 (3.4e38), so the float32 "
        "enclosures are unbounded and say why; float64 and the real semantics stay finite.",
        {"activation": "identity", "W_enc": [["1e30", 0]], "b_enc": [0], "W_dec": [[1], [0]], "b_dec": [0, 0]},
        {"lower": ["1e10", 0], "upper": ["2e10", 1]},
    )
    # 784-64-784 at a realistic scale: N(0, 1)/sqrt(fan_in) weights, a smooth 28×28 image.
    rng = np.random.default_rng(784)
    d, h = 784, 64
    yy, xx = np.mgrid[0:28, 0:28] / 27.0
    image = np.clip(np.exp(-((xx - 0.5) ** 2 + (yy - 0.45) ** 2) / 0.05) + 0.05 * rng.random((28, 28)), 0, 1)
    center = np.asarray(image.ravel(), dtype=np.float32)
    write(
        "large-784-64-784",
        "A 784-64-784 tanh autoencoder at MNIST scale (weights N(0,1)/sqrt(fan_in), seed 784), "
        "L∞ box of radius 0.01 around a smooth 28×28 image.",
        {
            "activation": "tanh",
            "W_enc": floats(rng.normal(size=(h, d)) / np.sqrt(d)),
            "b_enc": floats(rng.normal(size=h) * 0.01),
            "W_dec": floats(rng.normal(size=(d, h)) / np.sqrt(h)),
            "b_dec": floats(rng.normal(size=d) * 0.01),
        },
        {"center": floats(center), "radius": "0.01"},
    )
    layered_cases()


if __name__ == "__main__":
    main()
