"""verifae.importers.boxes: boxes from .npy/.json/.csv files and VNN-LIB, exactly."""

from __future__ import annotations

import json
from fractions import Fraction

import numpy as np
import pytest

from verifae import BoxError
from verifae.importers.boxes import boxes_from_vnnlib, load_boxes, read_rows


def exact(values) -> list[Fraction]:
    return [Fraction(v) for v in values]


def test_npy_rows_are_their_exact_binary_values(tmp_path):
    a = np.array([[0.1, 0.7], [1.0, 0.0]], dtype=np.float32)
    np.save(tmp_path / "c.npy", a)
    rows = read_rows(tmp_path / "c.npy")
    assert rows == [exact([float(a[0, 0]), float(a[0, 1])]), exact([1.0, 0.0])]
    assert rows[0][0] != Fraction(1, 10)
    np.save(tmp_path / "img.npy", np.zeros((3, 2, 2)))  # samples of 2×2 images, flattened as nn.Flatten
    assert [len(r) for r in read_rows(tmp_path / "img.npy")] == [4, 4, 4]
    np.save(tmp_path / "one.npy", np.array([0.5, 0.25]))
    assert read_rows(tmp_path / "one.npy") == [exact([0.5, 0.25])]


def test_json_and_csv_rows_are_their_exact_decimals(tmp_path):
    (tmp_path / "c.json").write_text("[[0.1, 1e-3, \"1/3\"], [1, 2, 3]]")
    assert read_rows(tmp_path / "c.json") == [[Fraction(1, 10), Fraction(1, 1000), Fraction(1, 3)], exact([1, 2, 3])]
    (tmp_path / "v.json").write_text("[0.1, 0.2]")
    assert read_rows(tmp_path / "v.json") == [[Fraction(1, 10), Fraction(1, 5)]]
    (tmp_path / "c.csv").write_text("a,b\n0.1,0.2\n\n0.3,-4e-1\n")
    assert read_rows(tmp_path / "c.csv") == [[Fraction(1, 10), Fraction(1, 5)], [Fraction(3, 10), Fraction(-2, 5)]]
    (tmp_path / "col.csv").write_text("0.1\n0.2\n0.3\n")  # one column: one center
    assert read_rows(tmp_path / "col.csv") == [[Fraction(1, 10), Fraction(1, 5), Fraction(3, 10)]]


def test_center_radius_and_clip_give_one_exact_box_per_row(tmp_path):
    np.save(tmp_path / "c.npy", np.array([[0.0, 0.5, 1.0], [0.25, 0.25, 0.25]], dtype=np.float32))
    boxes = load_boxes(center=tmp_path / "c.npy", radius="0.02", clip=("0", "1"), dim=3)
    assert len(boxes) == 2
    assert list(boxes[0].lower) == [0, Fraction(1, 2) - Fraction(1, 50), 1 - Fraction(1, 50)]
    assert list(boxes[0].upper) == [Fraction(1, 50), Fraction(1, 2) + Fraction(1, 50), 1]
    assert list(boxes[1].lower) == [Fraction(1, 4) - Fraction(1, 50)] * 3
    unclipped = load_boxes(center=tmp_path / "c.npy", radius="0.5")
    assert unclipped[0].lower[0] == Fraction(-1, 2)


def test_lower_and_upper_files(tmp_path):
    (tmp_path / "lo.json").write_text("[[0, 0], [1, 1]]")
    (tmp_path / "hi.csv").write_text("0.5,0.5\n2,2\n")
    boxes = load_boxes(lower=tmp_path / "lo.json", upper=tmp_path / "hi.csv", dim=2)
    assert [list(b.upper) for b in boxes] == [[Fraction(1, 2)] * 2, [2, 2]]


BOX_REFUSALS = [
    ({"center": "missing.npy", "radius": "0.1"}, r"--center .*missing.npy: no such file"),
    ({"center": "c.npy", "radius": "0.1", "dim": 5}, r"--center .*c.npy has 3 values per row, but the model's "
                                                     r"input_dim is 5"),
    ({"center": "c.npy", "radius": "-0.1"}, r"--radius -0.1 is negative"),
    ({"center": "c.npy", "radius": "abc"}, r"--radius: 'abc' is not a number"),
    ({"center": "c.npy"}, r"--center needs --radius R"),
    ({"center": "c.npy", "radius": "0.1", "clip": ("1", "0")}, r"--clip 1 0: the lower end exceeds the upper end"),
    ({"center": "c.npy", "radius": "0.1", "clip": ("2", "3")}, r"row 1, entry 1 = 0.0 lies farther than the radius "
                                                              r"outside the clip range \[2.0, 3.0\]"),
    ({"center": "c.npy", "radius": "0.1", "vnnlib": "p.vnnlib"}, r"give the input box one way: .* \(got --center "
                                                                 r"and --vnnlib\)"),
    ({}, r"give the input box one way: --center FILE --radius R"),
    ({"lower": "c.npy"}, r"--lower and --upper go together"),
    ({"lower": "c.npy", "upper": "c.npy", "radius": "1"}, r"--radius and --clip go with --center"),
    ({"lower": "c.npy", "upper": "two.npy"}, r"--lower .* has 1 rows of 3 values but --upper .* has 2 rows of 3"),
    ({"lower": "hi.npy", "upper": "c.npy"}, r"row 1 of --lower/--upper: lower\[0\] = 1.0 exceeds upper\[0\] = 0.0"),
    ({"center": "nan.npy", "radius": "0.1"}, r"nan.npy\[0, 1\] is nan: NaN and infinite"),
    ({"center": "bad.csv", "radius": "0.1"}, r"bad.csv: row 2, column 2: 'x' is not a number"),
    ({"center": "ragged.json", "radius": "0.1"}, r"ragged.json: row 2 has 1 values but row 1 has 2"),
    ({"center": "c.txt", "radius": "0.1"}, r"c.txt: unknown file type '.txt'; expected .npy, .json or .csv"),
    ({"center": "obj.npy", "radius": "0.1"}, r"obj.npy: not a readable .npy array of numbers"),
    ({"center": "empty.json", "radius": "0.1"}, r"empty.json: expected a list of numbers or a list of such lists"),
]


@pytest.mark.parametrize("kwargs, message", BOX_REFUSALS)
def test_box_refusals(tmp_path, monkeypatch, kwargs, message):
    monkeypatch.chdir(tmp_path)
    np.save("c.npy", np.zeros((1, 3)))
    np.save("two.npy", np.zeros((2, 3)))
    np.save("hi.npy", np.ones((1, 3)))
    np.save("nan.npy", np.array([[0.0, np.nan, 0.0]]))
    np.save("obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    (tmp_path / "bad.csv").write_text("1,2\n3,x\n")
    (tmp_path / "ragged.json").write_text("[[1, 2], [3]]")
    (tmp_path / "c.txt").write_text("1 2 3")
    (tmp_path / "empty.json").write_text("[]")
    (tmp_path / "p.vnnlib").write_text("")
    with pytest.raises(BoxError, match=message):
        load_boxes(**kwargs)


PROPERTY = """
; an ACAS-Xu-like property: input box, output constraint
(declare-const X_0 Real)
(declare-const X_1 Real)
(declare-const Y_0 Real)
(assert (<= X_0 0.5))
(assert (>= X_0 -0.5))
(assert (and (>= X_1 (- 0.25)) (<= X_1 1e-1)))
(assert (<= 0 X_1))   ; the constant on the left; the tighter bound wins
(assert (>= Y_0 3.9))
"""


def test_a_vnnlib_box(tmp_path):
    (tmp_path / "p.vnnlib").write_text(PROPERTY)
    (box,) = boxes_from_vnnlib(tmp_path / "p.vnnlib", dim=2)
    assert list(box.lower) == [Fraction(-1, 2), 0] and list(box.upper) == [Fraction(1, 2), Fraction(1, 10)]


def test_an_or_of_vnnlib_boxes_gives_several_boxes(tmp_path):
    (tmp_path / "p.vnnlib").write_text("""
(declare-const X_0 Real)
(declare-const X_1 Real)
(assert (or (and (>= X_0 0) (<= X_0 1) (>= X_1 0) (<= X_1 1))
            (and (>= X_0 2) (<= X_0 3) (>= X_1 0) (<= X_1 1))
            (and (>= X_0 5) (<= X_0 4) (>= X_1 0) (<= X_1 1))))
""")
    boxes = boxes_from_vnnlib(tmp_path / "p.vnnlib")
    assert [(list(b.lower), list(b.upper)) for b in boxes] == [([0, 0], [1, 1]), ([2, 0], [3, 1])]


VNNLIB_REFUSALS = [
    ("(declare-const X_0 Real)\n(assert (<= X_0 1))", r"X_0 has no lower bound, so the input set is not a bounded "
                                                      r"box"),
    ("(declare-const X_0 Real)\n(declare-const X_1 Real)\n(assert (<= X_0 X_1))",
     r"\(<= X_0 X_1\) is not a box constraint on the inputs: verifae reads bounds of one input by a constant"),
    ("(declare-const X_0 Real)\n(assert (<= (+ X_0 1) 2))", r"is not a box constraint on the inputs"),
    ("(declare-const X_0 Real)\n(assert (not (<= X_0 1)))", r"the complement of a box is not a box"),
    ("(declare-const X_0 Real)\n(declare-const Y_0 Real)\n(assert (<= X_0 Y_0))",
     r"\(<= X_0 Y_0\) mixes inputs and outputs"),
    ("(declare-const X_0 Real)\n(assert (<= X_0 0))\n(assert (>= X_0 1))",
     r"the input constraints are contradictory"),
    ("(declare-const X_0 Real)\n(assert (<= X_0 1)", r"unbalanced '\('"),
    ("(declare-const X_0 Real)\n(define-fun f () Real 1)", r"\(define-fun f \(\) Real 1\) is not read"),
    ("(declare-const X_1 Real)", r"the inputs are not X_0 ... X_0"),
    ("(declare-const Y_0 Real)", r"no input variables"),
    ("(declare-const X_0 Real)\n(declare-const X_1 Real)\n(declare-const X_2 Real)",
     r"declares 3 inputs, but the model's input_dim is 2"),
]


@pytest.mark.parametrize("text, message", VNNLIB_REFUSALS)
def test_vnnlib_refusals_say_why_it_is_not_a_box(tmp_path, text, message):
    (tmp_path / "p.vnnlib").write_text(text)
    with pytest.raises(BoxError, match=message):
        boxes_from_vnnlib(tmp_path / "p.vnnlib", dim=2 if "X_2" in text else None)


def test_json_numbers_are_never_doubles(tmp_path):
    (tmp_path / "c.json").write_text(json.dumps([0.1] * 3))
    (box,) = load_boxes(center=tmp_path / "c.json", radius="0")
    assert list(box.lower) == [Fraction(1, 10)] * 3
