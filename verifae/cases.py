"""Case files in (design §3): exact numbers, clear errors with JSON field paths.

Python's json turns numbers into doubles; here every JSON number is parsed as a
`Decimal` and every numeric string as a decimal, rational or hexadecimal float,
so "0.1" and 0.1 both stay 1/10. NaN, Infinity and numbers beyond the double range
(1e400) are refused, naming the field, and so are duplicate keys (JSON allows them
and keeps the last one silently). A UTF-8 byte order mark is accepted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal, overload

from .activations import ACTIVATIONS, get_activation
from .box import Box
from .errors import InvalidNumberError, VerifaeError
from .layered import Layer, LayeredSpec
from .model import AutoencoderSpec
from .numbers import FLOAT64, MAX_DECIMAL_EXPONENT, to_exact

__all__ = ["Case", "LayeredCase", "CaseError", "VerifySettings", "DEFAULT_MAX_BYTES", "load_case", "load_box",
           "parse_case", "read_json"]

#: case files larger than this are refused unless the caller raises the limit
DEFAULT_MAX_BYTES = 64 * 2**20

_TOP_KEYS = ("name", "description", "model", "input", "grad_output", "verify")
_VERIFY_KEYS = ("properties", "semantics", "timeout", "max_parts", "eps", "centers", "clip")
_MODEL_KEYS = ("activation", "W_enc", "b_enc", "W_dec", "b_dec")
_LAYERED_KEYS = ("encoder", "decoder")
_LAYER_KEYS = ("weight", "bias", "activation", "name")


class CaseError(VerifaeError, ValueError):
    """A case file that cannot be read or does not follow design §3.

    `path` is the JSON field path ("model.W_enc[3]") or "" for the whole file.
    """

    def __init__(self, message: str, path: str = "", file: str | None = None) -> None:
        self.message = message
        self.path = path
        self.file = file
        where = ": ".join(p for p in (file, path) if p)
        super().__init__(f"{where}: {message}" if where else message)


@dataclass(frozen=True)
class VerifySettings:
    """The optional "verify" object of a case: what `verifae report` verifies over the
    case's boxes (the properties, per semantics, within `timeout` seconds and
    `max_parts` parts per verdict, and the tightest threshold per box) and, with `eps`,
    over the boxes of radius eps around `centers` (clipped to `clip`): the certified
    fraction against eps."""

    properties: tuple[Any, ...]  # verifae.verify.Property, parsed and checked against the model
    semantics: tuple[str, ...] = ("real",)
    timeout: float = 2.0
    max_parts: int = 20
    eps: tuple[Fraction, ...] = ()
    eps_text: tuple[str, ...] = ()  # each eps as written in the case file
    centers: tuple[tuple[Fraction, ...], ...] = ()
    clip: tuple[Fraction, Fraction] | None = None

    def boxes_at(self, eps: Fraction) -> tuple[Box, ...]:
        """One box [max(c − eps, lo), min(c + eps, hi)] per center (as `verifae case
        --center --radius eps --clip lo hi` builds them). Never empty: the centers lie
        inside `clip` (checked when the case is read)."""
        lo, hi = self.clip if self.clip is not None else (None, None)
        return tuple(Box([c - eps if lo is None else max(c - eps, lo) for c in center],
                         [c + eps if hi is None else min(c + eps, hi) for c in center]) for center in self.centers)


@dataclass(frozen=True)
class LayeredCase:
    """A case file of format v2: a layered model ("model": {"encoder": [...], "decoder":
    [...]}), its boxes, the incoming gradient and the optional "verify" object."""

    name: str
    description: str
    spec: LayeredSpec
    boxes: tuple[Box, ...]
    grad_output: Box | str
    verify: VerifySettings | None = None

    @property
    def box(self) -> Box:
        return self.boxes[0]


#: what the commands say about a layered case until they support one
_LAYERED_REFUSED = ("a layered model (model.encoder / model.decoder) is not supported here yet; "
                    "enclose it with verifae.enclose_layered")


@dataclass(frozen=True)
class Case:
    """One case file: a model, one or several input boxes, the incoming gradient, and
    the optional "verify" object (what `verifae report` verifies over the boxes)."""

    name: str
    description: str
    spec: AutoencoderSpec
    boxes: tuple[Box, ...]
    grad_output: Box | str
    verify: VerifySettings | None = None

    @property
    def box(self) -> Box:
        """The first (for most cases, the only) input box."""
        return self.boxes[0]


class _Object(dict):
    """A JSON object that remembers the keys it held more than once (json keeps the
    last value silently); validation refuses them with the object's field path."""

    duplicates: tuple[str, ...] = ()


def _object(pairs: list[tuple[str, Any]]) -> _Object:
    obj = _Object(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        duplicates = []
        for k, _ in pairs:
            if k in seen:
                duplicates.append(k)
            seen.add(k)
        obj.duplicates = tuple(duplicates)
    return obj


def _integer(token: str) -> int | Decimal:
    # Python refuses int(str) beyond 4300 digits (a ValueError without a field path);
    # Decimal has no such limit, and the range check then refuses the value with its path.
    return int(token) if len(token) <= 4000 else Decimal(token)


class _Constant:
    """NaN, Infinity or -Infinity in the JSON text, refused during validation with its path."""

    def __init__(self, token: str) -> None:
        self.token = token


def read_json(path: str | Path, max_bytes: int = DEFAULT_MAX_BYTES) -> Any:
    """Parse a JSON file keeping exact numbers; CaseError for every way it can be unreadable."""
    file = str(path)
    p = Path(path)
    try:
        size = p.stat().st_size
    except FileNotFoundError:
        raise CaseError("no such file", file=file) from None
    except OSError as exc:
        raise CaseError(f"cannot read the file ({exc.strerror})", file=file) from None
    if p.is_dir():
        raise CaseError("is a directory, not a case file", file=file)
    if size > max_bytes:
        raise CaseError(
            f"the file has {size} bytes, more than the limit of {max_bytes} (raise it with --max-size)", file=file
        )
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise CaseError(f"cannot read the file ({exc.strerror})", file=file) from None
    try:
        text = raw.decode("utf-8-sig")  # a byte order mark, as some Windows editors write, is fine
    except UnicodeDecodeError as exc:
        raise CaseError(f"not UTF-8 text (byte {exc.start} is 0x{raw[exc.start]:02x})", file=file) from None
    if not text.strip():
        raise CaseError("the file is empty (expected a JSON object)", file=file)
    try:
        return json.loads(text, parse_float=Decimal, parse_int=_integer, parse_constant=_Constant,
                          object_pairs_hook=_object)
    except json.JSONDecodeError as exc:
        raise CaseError(f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}", file=file) from None
    except RecursionError:
        raise CaseError("invalid JSON: nested too deeply", file=file) from None


@overload
def load_case(path: str | Path, max_bytes: int = ..., *, layered: Literal[False] = ...) -> Case: ...


@overload
def load_case(path: str | Path, max_bytes: int = ..., *, layered: bool) -> Case | LayeredCase: ...


def load_case(path: str | Path, max_bytes: int = DEFAULT_MAX_BYTES, *, layered: bool = False) -> Case | LayeredCase:
    """Read and validate one case file; its name defaults to the file's stem. A layered
    model (format v2) is read only with layered=True (a `LayeredCase`); otherwise it is
    refused with a CaseError at "model"."""
    data = read_json(path, max_bytes)
    try:
        return parse_case(data, default_name=Path(path).stem, layered=layered)
    except CaseError as exc:
        raise CaseError(exc.message, exc.path, file=str(path)) from None


def load_box(path: str | Path, max_bytes: int = DEFAULT_MAX_BYTES) -> Box:
    """A box file: {"lower": [...], "upper": [...]} or {"center": [...], "radius": r}."""
    data = read_json(path, max_bytes)
    try:
        return _box(data, "", None)
    except CaseError as exc:
        raise CaseError(exc.message, exc.path, file=str(path)) from None


@overload
def parse_case(data: Any, default_name: str = ..., *, layered: Literal[False] = ...) -> Case: ...


@overload
def parse_case(data: Any, default_name: str = ..., *, layered: bool) -> Case | LayeredCase: ...


def parse_case(data: Any, default_name: str = "case", *, layered: bool = False) -> Case | LayeredCase:
    """Validate parsed JSON (from `read_json`) into a Case, or with layered=True a
    LayeredCase for a layered model."""
    if not isinstance(data, dict):
        raise CaseError(f"the top level must be a JSON object, got {_kind(data)}")
    _known_keys(data, _TOP_KEYS, "")
    for key in ("model", "input"):
        if key not in data:
            raise CaseError(f"missing key {key!r}", "")
    name = data.get("name", default_name)
    if not isinstance(name, str) or not name:
        raise CaseError(f"expected a non-empty string, got {_kind(name)}", "name")
    description = data.get("description", "")
    if not isinstance(description, str):
        raise CaseError(f"expected a string, got {_kind(description)}", "description")
    spec = _model(data["model"])
    if isinstance(spec, LayeredSpec) and not layered:
        raise CaseError(_LAYERED_REFUSED, "model")
    if isinstance(data["input"], list):  # several boxes: verifae bound encloses them as a batch
        if not data["input"]:
            raise CaseError("expected at least one box", "input")
        boxes = tuple(_box(b, f"input[{i}]", spec.input_dim) for i, b in enumerate(data["input"]))
    else:
        boxes = (_box(data["input"], "input", spec.input_dim),)
    grad_output: Box | str = "mse"
    if "grad_output" in data and data["grad_output"] != "mse":
        if isinstance(data["grad_output"], str):
            raise CaseError(f"expected \"mse\" or a box, got {data['grad_output']!r}", "grad_output")
        grad_output = _box(data["grad_output"], "grad_output", spec.input_dim)
    settings = _verify(data["verify"], spec) if "verify" in data else None
    if isinstance(spec, LayeredSpec):
        return LayeredCase(name, description, spec, boxes, grad_output, settings)
    return Case(name, description, spec, boxes, grad_output, settings)


# ---------------------------------------------------------------- validation


def _kind(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, _Constant):
        return v.token
    if isinstance(v, (int, Decimal)):
        return "a number"
    if isinstance(v, dict):
        return "an object"
    names: dict[type, str] = {str: "a string", list: "a list"}
    return names.get(type(v), type(v).__name__)


def _known_keys(obj: dict, allowed: tuple[str, ...], path: str) -> None:
    duplicates = getattr(obj, "duplicates", ())
    if duplicates:
        raise CaseError(f'duplicate key "{duplicates[0]}"', path)
    unknown = [k for k in obj if k not in allowed]
    if unknown:
        where = f"{path}.{unknown[0]}" if path else unknown[0]
        raise CaseError(f"unknown key; expected one of {', '.join(allowed)}", where)


_DOUBLE_MAX = FLOAT64.realmax


def _short(v: Any) -> str:
    text = str(v)
    return text if len(text) <= 40 else f"{text[:12]}… ({len(text)} characters)"


def _number(v: Any, path: str) -> Fraction:
    if type(v) is Decimal:
        if -300 < v.adjusted() < 300:  # the common case, fast: finite, in range
            return Fraction(v)  # exact: the Decimal's integer ratio
        # Decided from the exponent alone: converting 1e999999999 to a Fraction would
        # build a billion-digit integer.
        if v.is_finite() and v:
            if v.adjusted() >= 309:
                raise CaseError(f"{_short(v)} is beyond the double range (magnitude at most 1.8e308)", path)
            if v.adjusted() < -MAX_DECIMAL_EXPONENT:
                raise CaseError(f"{_short(v)}: exponent out of range", path)
    if type(v) is int and abs(v) < 2**1000:
        return Fraction(v)
    if isinstance(v, _Constant):
        raise CaseError(f"{v.token} is not a finite number", path)
    if isinstance(v, bool) or not isinstance(v, (int, Decimal, str)):
        raise CaseError(f"expected a number, got {_kind(v)}", path)
    try:
        q = to_exact(v)
    except InvalidNumberError as exc:
        raise CaseError(str(exc), path) from None
    if abs(q) > _DOUBLE_MAX:
        raise CaseError(f"{_short(v)} is beyond the double range (magnitude at most 1.8e308)", path)
    return q


def _vector(v: Any, path: str, length: int | None = None, what: str = "") -> list[Fraction]:
    if not isinstance(v, list):
        raise CaseError(f"expected a list of numbers, got {_kind(v)}", path)
    if length is not None and len(v) != length:
        raise CaseError(f"expected {length} numbers{what}, got {len(v)}", path)
    # The common case inline (a decimal in range, as `_number` takes it first), and the
    # field path formed only for the others.
    return [Fraction(x) if type(x) is Decimal and -300 < x.adjusted() < 300 else _number(x, f"{path}[{i}]")
            for i, x in enumerate(v)]


def _matrix(v: Any, path: str, rows: int | None, cols: int | None, what: str) -> list[list[Fraction]]:
    if not isinstance(v, list):
        raise CaseError(f"expected a list of rows, got {_kind(v)}", path)
    if rows is not None and len(v) != rows:
        raise CaseError(f"expected {rows} rows{what}, got {len(v)}", path)
    if cols is None and v:  # every row must have the length of the first
        if not isinstance(v[0], list):
            raise CaseError(f"expected a list of numbers, got {_kind(v[0])}", f"{path}[0]")
        cols = len(v[0])
    return [_vector(row, f"{path}[{i}]", cols, "" if i else what) for i, row in enumerate(v)]


def _model(m: Any) -> AutoencoderSpec | LayeredSpec:
    if not isinstance(m, dict):
        raise CaseError(f"expected an object, got {_kind(m)}", "model")
    if "encoder" in m or "decoder" in m:
        return _layered(m)
    _known_keys(m, _MODEL_KEYS, "model")
    for key in _MODEL_KEYS:
        if key not in m:
            raise CaseError("missing key", f"model.{key}")
    act = _activation(m["activation"], "model.activation", allow_none=False)
    b_dec = _vector(m["b_dec"], "model.b_dec")
    W_enc = _matrix(m["W_enc"], "model.W_enc", None, None, "")
    h = len(W_enc)
    if h == 0:
        raise CaseError("expected at least one row (hidden_dim must be at least 1)", "model.W_enc")
    d = len(W_enc[0])
    if d == 0:
        raise CaseError("input_dim must be at least 1, but the rows are empty", "model.W_enc")
    b_enc = _vector(m["b_enc"], "model.b_enc", h, " (one per row of model.W_enc)")
    W_dec = _matrix(m["W_dec"], "model.W_dec", d, h, f" (input_dim {d}, from model.W_enc)")
    b_dec = _vector(m["b_dec"], "model.b_dec", d, f" (input_dim {d}, from model.W_enc)")
    try:
        return AutoencoderSpec(W_enc, b_enc, W_dec, b_dec, act)
    except VerifaeError as exc:  # shapes are checked above; kept as a safety net with a path
        raise CaseError(str(exc), "model") from None


def _activation(a: Any, path: str, allow_none: bool = True) -> Any:
    """A registry name or {"name": ..., parameter: number, ...}, as its registry entry;
    null for no activation at all (a bare linear layer, as v1's decoder) where
    `allow_none` (a layer of format v2; v1's encoder always has an activation)."""
    if a is None and allow_none:
        return None
    if isinstance(a, str):
        if a not in ACTIVATIONS:
            raise CaseError(f"unknown activation {a!r}; valid activations are: {', '.join(ACTIVATIONS)}", path)
        return get_activation(a)
    if not isinstance(a, dict):
        expected = "an activation name, an object with a name or null" if allow_none else \
            "an activation name or an object with a name"
        raise CaseError(f"expected {expected}, got {_kind(a)}", path)
    duplicates = getattr(a, "duplicates", ())
    if duplicates:
        raise CaseError(f'duplicate key "{duplicates[0]}"', path)
    if "name" not in a:
        raise CaseError("missing key", f"{path}.name")
    name = a["name"]
    if not isinstance(name, str) or name not in ACTIVATIONS:
        shown = repr(name) if isinstance(name, str) else _kind(name)
        raise CaseError(f"unknown activation {shown}; valid activations are: {', '.join(ACTIVATIONS)}",
                        f"{path}.name")
    params = {}
    for k, v in a.items():
        if k != "name":
            _number(v, f"{path}.{k}")  # a finite number in range, refused with its path
            params[k] = v if isinstance(v, (int, str)) else str(v)  # as written: "0.2", not Fraction(1, 5)
    try:
        return get_activation({"name": name, **params})
    except VerifaeError as exc:
        where = f"{path}.{next(iter(params))}" if len(params) == 1 and next(iter(params)) in str(exc) else path
        raise CaseError(str(exc), where) from None


def _layer(m: Any, path: str, previous: tuple[int, str] | None) -> Layer:
    """One layer object; `previous` is (the values the layer before gives, its path)."""
    if not isinstance(m, dict):
        raise CaseError(f"expected a layer object with weight, bias and activation, got {_kind(m)}", path)
    _known_keys(m, _LAYER_KEYS, path)
    for key in ("weight", "bias", "activation"):
        if key not in m:
            hint = ' (use null or "identity" for none)' if key == "activation" else ""
            raise CaseError(f"missing key{hint}", f"{path}.{key}")
    name = m.get("name", path.removeprefix("model.").replace("[", ".").replace("]", ""))
    if not isinstance(name, str) or not name:
        raise CaseError(f"expected a non-empty string, got {_kind(name)}", f"{path}.name")
    activation = _activation(m["activation"], f"{path}.activation")
    bias = _vector(m["bias"], f"{path}.bias")
    if not bias:
        raise CaseError("expected at least one number (a layer gives at least one value)", f"{path}.bias")
    weight = _matrix(m["weight"], f"{path}.weight", len(bias), None, f" (one per entry of {path}.bias)")
    cols = len(weight[0])
    if cols == 0:
        raise CaseError("the rows are empty (a layer takes at least one value)", f"{path}.weight")
    if previous is not None and cols != previous[0]:
        raise CaseError(f"shape ({len(weight)}, {cols}) does not chain: the previous layer gives {previous[0]} "
                        f"values ({previous[1]})", f"{path}.weight")
    try:
        return Layer(weight, bias, activation, name)
    except VerifaeError as exc:  # shapes are checked above; kept as a safety net with a path
        raise CaseError(str(exc), path) from None


def _layered(m: dict) -> LayeredSpec:
    """Format v2: {"encoder": [layer, ...], "decoder": [layer, ...]}."""
    _known_keys(m, _LAYERED_KEYS, "model")
    for key in _LAYERED_KEYS:
        if key not in m:
            raise CaseError("missing key (a layered model needs both encoder and decoder)", f"model.{key}")
        if not isinstance(m[key], list):
            raise CaseError(f"expected a list of layers, got {_kind(m[key])}", f"model.{key}")
        if not m[key]:
            raise CaseError("expected at least one layer", f"model.{key}")
    parts: dict[str, list[Layer]] = {}
    previous: tuple[int, str] | None = None
    seen: dict[str, str] = {}
    for key in _LAYERED_KEYS:
        parts[key] = []
        for i, item in enumerate(m[key]):
            path = f"model.{key}[{i}]"
            layer = _layer(item, path, previous)
            if layer.name in seen:
                raise CaseError(f"layer name {layer.name!r} is also the name of {seen[layer.name]}", f"{path}.name")
            seen[layer.name] = path
            parts[key].append(layer)
            previous = (layer.out_features, f"{path}.weight has shape {layer.weight.shape}")
    d = parts["encoder"][0].in_features
    last = parts["decoder"][-1]
    if last.out_features != d:
        path = f"model.decoder[{len(parts['decoder']) - 1}].weight"
        raise CaseError(f"shape {last.weight.shape} ends the decoder with {last.out_features} values, but the "
                        f"model's input_dim is {d} (model.encoder[0].weight has {d} columns)", path)
    try:
        return LayeredSpec(parts["encoder"], parts["decoder"])
    except VerifaeError as exc:  # everything is checked above; kept as a safety net with a path
        raise CaseError(str(exc), "model") from None


def _box(b: Any, path: str, dim: int | None) -> Box:
    where = lambda key: f"{path}.{key}" if path else key  # noqa: E731
    what = f" (input_dim {dim})" if dim is not None else ""
    if not isinstance(b, dict):
        alternatives = " (or a list of them)" if path == "input" else ""
        raise CaseError(f"expected an object with lower/upper or center/radius{alternatives}, got {_kind(b)}", path)
    if "lower" in b or "upper" in b:
        _known_keys(b, ("lower", "upper"), path)
        for key in ("lower", "upper"):
            if key not in b:
                raise CaseError("missing key (a box needs both lower and upper)", where(key))
        lower = _vector(b["lower"], where("lower"), dim, what)
        upper = _vector(b["upper"], where("upper"), len(lower), " (as many as lower)")
        for i, (lo, hi) in enumerate(zip(lower, upper)):
            if lo > hi:
                raise CaseError(f"lower[{i}] = {float(lo)!r} exceeds upper[{i}] = {float(hi)!r}", path)
        return Box(lower, upper)
    if "center" in b or "radius" in b:
        _known_keys(b, ("center", "radius"), path)
        for key in ("center", "radius"):
            if key not in b:
                raise CaseError("missing key (a box needs both center and radius)", where(key))
        center = _vector(b["center"], where("center"), dim, what)
        if isinstance(b["radius"], list):
            radii = _vector(b["radius"], where("radius"), len(center), " (one per entry of center)")
            for i, r in enumerate(radii):
                if r < 0:
                    raise CaseError(f"{float(r)!r} is negative", f"{where('radius')}[{i}]")
            return Box.around(center, radii)
        radius = _number(b["radius"], where("radius"))
        if radius < 0:
            raise CaseError(f"{float(radius)!r} is negative", where("radius"))
        return Box.around(center, radius)
    raise CaseError("expected keys lower and upper, or center and radius", path)


def _verify(v: Any, spec: AutoencoderSpec | LayeredSpec) -> VerifySettings:
    """The optional "verify" object (see `VerifySettings`)."""
    # imported here: verifae.verify reads case files itself (its CLI and checker)
    from .api import SEMANTICS
    from .verify.properties import PropertyError, parse_property

    if not isinstance(v, dict):
        raise CaseError(f"expected an object with properties (and optionally semantics, timeout, max_parts, eps, "
                        f"centers, clip), got {_kind(v)}", "verify")
    _known_keys(v, _VERIFY_KEYS, "verify")
    if "properties" not in v:
        raise CaseError("missing key (a list of properties such as \"error<=0.05\")", "verify.properties")
    texts = v["properties"]
    if not isinstance(texts, list) or not texts:
        raise CaseError(f"expected a non-empty list of properties such as \"error<=0.05\", got "
                        f"{'an empty list' if texts == [] else _kind(texts)}", "verify.properties")
    latent_dim = spec.latent_dim if isinstance(spec, LayeredSpec) else spec.hidden_dim
    properties = []
    for i, text in enumerate(texts):
        path = f"verify.properties[{i}]"
        if not isinstance(text, str):
            raise CaseError(f"expected a property string such as \"error<=0.05\", got {_kind(text)}", path)
        try:
            prop = parse_property(text)
            prop.check_dims(spec.input_dim, latent_dim)
        except PropertyError as exc:
            raise CaseError(str(exc), path) from None
        properties.append(prop)
    semantics: tuple[str, ...] = ("real",)
    if "semantics" in v:
        given = v["semantics"]
        if not isinstance(given, list) or not given:
            raise CaseError(f"expected a non-empty list of semantics ({', '.join(SEMANTICS)}), got "
                            f"{'an empty list' if given == [] else _kind(given)}", "verify.semantics")
        for i, S in enumerate(given):
            if not isinstance(S, str) or S not in SEMANTICS:
                shown = repr(S) if isinstance(S, str) else _kind(S)
                raise CaseError(f"unknown semantics {shown}; valid: {', '.join(SEMANTICS)}", f"verify.semantics[{i}]")
            if S in given[:i]:
                raise CaseError(f"{S!r} is listed twice", f"verify.semantics[{i}]")
        semantics = tuple(given)
    timeout = 2.0
    if "timeout" in v:
        t = _number(v["timeout"], "verify.timeout")
        if t <= 0:
            raise CaseError(f"{float(t)!r}: expected a positive number of seconds", "verify.timeout")
        timeout = float(t)
    max_parts = 20
    if "max_parts" in v:
        m = v["max_parts"]
        if isinstance(m, bool) or not isinstance(m, int) or m < 1:
            raise CaseError(f"expected an integer at least 1, got {_short(m) if isinstance(m, int) else _kind(m)}",
                            "verify.max_parts")
        max_parts = m
    given_sweep = [k for k in ("eps", "centers", "clip") if k in v]
    if given_sweep and not {"eps", "centers"} <= set(given_sweep):
        missing = "centers" if "eps" in given_sweep else "eps"
        raise CaseError("missing key (eps and centers go together: the boxes of radius eps around each center)",
                        f"verify.{missing}")
    if not given_sweep:
        return VerifySettings(tuple(properties), semantics, timeout, max_parts)
    if not isinstance(v["eps"], list) or not v["eps"]:
        raise CaseError(f"expected a non-empty list of radii, got "
                        f"{'an empty list' if v['eps'] == [] else _kind(v['eps'])}", "verify.eps")
    eps = _vector(v["eps"], "verify.eps")
    for i, r in enumerate(eps):
        if r < 0:
            raise CaseError(f"{float(r)!r} is negative", f"verify.eps[{i}]")
    eps_text = tuple(x if isinstance(x, str) else str(x) for x in v["eps"])
    if not isinstance(v["centers"], list) or not v["centers"]:
        raise CaseError(f"expected a non-empty list of centers (input_dim {spec.input_dim} numbers each), got "
                        f"{'an empty list' if v['centers'] == [] else _kind(v['centers'])}", "verify.centers")
    centers = _matrix(v["centers"], "verify.centers", None, spec.input_dim, f" (input_dim {spec.input_dim})")
    clip = None
    if "clip" in v:
        lo, hi = _vector(v["clip"], "verify.clip", 2, " (the lower and upper end)")
        if lo > hi:
            raise CaseError(f"the lower end {float(lo)!r} exceeds the upper end {float(hi)!r}", "verify.clip")
        clip = (lo, hi)
        for k, center in enumerate(centers):
            for i, c in enumerate(center):
                if not lo <= c <= hi:
                    raise CaseError(f"{float(c)!r} lies outside the clip range [{float(lo)!r}, {float(hi)!r}]",
                                    f"verify.centers[{k}][{i}]")
    return VerifySettings(tuple(properties), semantics, timeout, max_parts, tuple(eps), eps_text,
                          tuple(tuple(c) for c in centers), clip)
