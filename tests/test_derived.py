"""Values that keep conversions of themselves travel to other processes without them."""

import pickle
from pathlib import Path

import numpy as np

from verifae import LayeredSpec, enclose, enclose_layered
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
