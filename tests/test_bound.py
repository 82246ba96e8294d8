"""verifae.bound: the result JSON written fast is the text json.dumps writes."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from verifae.bound import _array_text, bound, endpoints, to_json, to_json_text
from verifae.cases import load_case

CASES = Path(__file__).resolve().parent.parent / "cases"


@pytest.mark.parametrize("name", ["overflow-float32-2-1-2.json", "layered-mixed-3-4-4-2-4-3.json",
                                  "digits-64-16-64-four-boxes.json"])
def test_to_json_text_is_the_text_of_json_dumps(name):
    """Unbounded entries ("inf"/"-inf"), NaN run values (null), several boxes, v1 and v2."""
    result = bound(load_case(CASES / name, layered=True), runs=16)
    text = to_json_text(result)
    assert text == json.dumps(to_json(result))
    assert to_json_text(result, indent=1) == json.dumps(to_json(result), indent=1)


@pytest.mark.parametrize("name", ["overflow-float32-2-1-2.json", "digits-layered-64-32-8-32-64-four-boxes.json"])
def test_json_written_ahead_is_the_same_text(name):
    """`bound(json_ahead=True)` writes every enclosure array's text while the check runs
    (every box's, v1 and v2, unbounded entries); `to_json_text` then gives the same text."""
    result = bound(load_case(CASES / name, layered=True), runs=8, json_ahead=True)
    placed: list[object] = []
    json.dumps(to_json(result, lambda a: placed.append(a)))
    written = {id(a) for a in placed if id(a) in result.json_texts and result.json_texts[id(a)][0] is a}
    # every array of every box's enclosures (the first box's twice, for several boxes)
    enclosure_arrays = {id(a) for b in result.boxes for e in b.enclosures.values() for _, a in e.items()}
    assert written == set(result.json_texts) >= enclosure_arrays and enclosure_arrays
    assert to_json_text(result) == json.dumps(to_json(result))


def test_json_written_ahead_is_used_only_for_its_own_array():
    result = bound(load_case(CASES / "tanh-4x2.json", layered=True), runs=8, json_ahead=True)
    output = result.enclosures["real"].output
    assert id(output) in result.json_texts
    result.json_texts[id(output)] = (output.copy(), "[0]")  # a text of another array, under this id
    assert to_json_text(result) == json.dumps(to_json(result))
    result.json_texts[id(output)] = (output, "[0]")
    assert to_json_text(result) != json.dumps(to_json(result))  # the array's own text is used as it is


def test_array_text_round_trips_every_double():
    values = np.array([[0.0, -0.0], [5e-324, -1.7976931348623157e308], [0.1, 1 / 3], [math.inf, -math.inf],
                       [math.nan, 2.5]])
    text = _array_text(values)
    assert text == json.dumps(endpoints(values))
    back = json.loads(text)
    for row, original in zip(back, values):
        for v, q in zip(row, original):
            if math.isnan(q):
                assert v is None
            elif math.isinf(q):
                assert v == ("inf" if q > 0 else "-inf")
            else:
                assert v == q and math.copysign(1, v) == math.copysign(1, q)
    for shaped in (np.zeros(0), np.zeros((2, 0, 2)), np.float64(3.5), np.arange(24.0).reshape(2, 3, 4)):
        assert _array_text(shaped) == json.dumps(endpoints(shaped))
