"""Values that keep conversions of themselves travel to other processes without them."""

import pickle
from fractions import Fraction
from pathlib import Path

import numpy as np

from verifae import AutoencoderSpec, Box, LayeredSpec, enclose, enclose_layered
from verifae.cases import load_case

CASES = Path(__file__).resolve().parent.parent / "cases"


def test_a_spec_and_box_pickle_without_their_arb_conversions():
    case = load_case(CASES / "tanh-4x2.json")
    spec, box = case.spec, case.box
    before = enclose(spec, box, backend="arb")  # fills both caches with Arb balls, which do not pickle
    assert spec._derived and box._derived
    spec2, box2 = pickle.loads(pickle.dumps(spec)), pickle.loads(pickle.dumps(box))
    assert spec2._derived == {} and box2._derived == {}
    assert all((getattr(spec2, n) == getattr(spec, n)).all() for n in ("W_enc", "b_enc", "W_dec", "b_dec"))
    np.testing.assert_array_equal(enclose(spec2, box2, backend="arb").output, before.output)


def test_a_layered_spec_pickles_without_its_conversions():
    case = load_case(CASES / "tanh-4x2.json")
    layered = LayeredSpec.from_v1(case.spec)
    before = enclose_layered(layered, case.box, backend="arb")
    copy = pickle.loads(pickle.dumps(layered))
    assert copy._derived == {} and all(layer._derived == {} for layer in copy.layers)
    np.testing.assert_array_equal(enclose_layered(copy, case.box, backend="arb").output, before.output)


def _refuses(array: np.ndarray) -> bool:
    try:
        array[(0,) * array.ndim] = Fraction(3)
    except ValueError:
        return True
    return False


def test_exact_arrays_are_read_only_so_no_conversion_goes_stale():
    """Found by the adversarial review: `spec.W_enc[0, 0] = 3` after an enclosure left the
    cached conversion of the old weight in place, and the next enclosure missed z = 3x at
    x = 1 (and a changed box gave an inverted float64 enclosure)."""
    spec = AutoencoderSpec([[1]], [0], [[1]], [0], "identity")
    box = Box(["0"], ["1"])
    enclose(spec, box, backend="fast")
    layered = LayeredSpec.from_v1(spec)
    arrays = [spec.W_enc, spec.b_enc, spec.W_dec, spec.b_dec, box.lower, box.upper,
              *(a for layer in layered.layers for a in (layer.weight, layer.bias))]
    assert all(_refuses(a) for a in arrays)
    copies = [pickle.loads(pickle.dumps(v)) for v in (spec, box, layered)]
    assert all(_refuses(a) for a in (copies[0].W_enc, copies[1].lower, copies[2].layers[0].weight))
    assert 1 <= enclose(spec, box, backend="fast").pre_activation[0, 1] < 1.001  # still z = x on [0, 1]
