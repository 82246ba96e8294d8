"""`verify`: verdicts of properties over every box of a case, their JSON, table and
certificate (design §8)."""

from __future__ import annotations

import decimal
import math
import multiprocessing
import os
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from ..api import SEMANTICS
from ..box import Box
from ..errors import UnsupportedError
from ..layered import LayeredSpec
from ..model import AutoencoderSpec
from ..workers import dask_client, terminate, worker_init
from .checker import CERTIFICATE_FORMAT, CertificateError, checker_model, leaf_bound
from .properties import Property, parse_property
from .runs import exact_strings, json_float
from .search import DEFAULT_MAX_PARTS, DEFAULT_TIMEOUT, STATUSES, Searcher, Verdict, verify_box
from .search import tightest as search_tightest
from .vnnlib import check_input_region

__all__ = ["VerifyResult", "verify", "default_jobs", "to_json", "render_verdicts", "certificate_json", "EXIT_PROVED",
           "EXIT_VIOLATED", "EXIT_UNKNOWN"]

EXIT_PROVED, EXIT_VIOLATED, EXIT_UNKNOWN = 0, 1, 4


@dataclass
class VerifyResult:
    """Verdicts per box, per property, per semantics: `boxes[b][p][S]`."""

    name: str
    spec: AutoencoderSpec | LayeredSpec
    box_list: tuple[Box, ...]
    properties: list[Property]
    semantics: tuple[str, ...]
    boxes: list[list[dict[str, Verdict]]]
    seconds: float
    certified: bool = False
    #: per box, per property, per semantics: `search.tightest` (when asked for)
    tightest: list[list[dict[str, dict[str, Any]]]] | None = None

    def counts(self) -> dict[str, int]:
        out = {s: 0 for s in STATUSES}
        for per_box in self.boxes:
            for verdicts in per_box:
                for v in verdicts.values():
                    out[v.status] += 1
        return out

    @property
    def exit_code(self) -> int:
        """0 all proved, 1 some violated, 4 some unknown (none violated)."""
        counts = self.counts()
        if counts["violated"]:
            return EXIT_VIOLATED
        if counts["unknown"]:
            return EXIT_UNKNOWN
        return EXIT_PROVED


def _as_properties(properties: Any) -> list[Property]:
    if isinstance(properties, (str, Property)):
        properties = [properties]
    out = [p if isinstance(p, Property) else parse_property(p) for p in properties]
    if not out:
        raise UnsupportedError("no property to verify (give at least one, e.g. 'error<=0.05')")
    return out


def verify(spec: AutoencoderSpec | LayeredSpec, boxes: Box | tuple[Box, ...] | list[Box], properties: Any, *,
           semantics: tuple[str, ...] | list[str] = SEMANTICS, timeout: float = DEFAULT_TIMEOUT,
           max_parts: int = DEFAULT_MAX_PARTS, method: str = "linear", seed: int = 0, certificate: bool = False,
           tightest: bool = False, name: str = "case", phase_split: bool = True, jobs: int = 1,
           scheduler: str | None = None, scheduler_timeout: float = 30.0) -> VerifyResult:
    """Prove or refute each property (`parse_property` text or `Property`) in each
    semantics over each box. `timeout` (seconds) and `max_parts` bound each verdict.
    With `certificate`, proofs in the real semantics are refined until the independent
    checker (`verifae.verify.checker`) confirms every leaf, so that `certificate_json`
    can write them (piecewise-linear models only; anything else is refused up front;
    the parts are then boxes only, no relu phase splits, which the checker does not
    know). With `tightest`, each property also gets, per box and semantics, the tightest
    threshold branch and bound proves within the same budgets (`search.tightest`): for
    a dataset of boxes, the certified error level per box. `phase_split=False` splits
    inputs only (see `verifae.verify.search`).

    Each (box, semantics) pair is one task with its own search (seeded with `seed`), so
    the verdicts do not depend on how tasks run: in this process (`jobs` 1), in `jobs`
    processes (spawned), or on the dask.distributed scheduler at `scheduler` (the extra
    `dask`; `EnvironmentFailure` when it cannot be reached within `scheduler_timeout`
    seconds)."""
    start = time.monotonic()
    props = _as_properties(properties)
    box_list = (boxes,) if isinstance(boxes, Box) else tuple(boxes)
    check_input_region(props, box_list)  # a VNN-LIB file's own input box must be the one verified
    semantics = tuple(dict.fromkeys(semantics))
    for S in semantics:
        if S not in SEMANTICS:
            raise UnsupportedError(f"unknown semantics {S!r}; valid: {', '.join(SEMANTICS)}")
    if timeout <= 0 or max_parts < 1:
        raise UnsupportedError("timeout must be positive and max_parts at least 1")
    if jobs < 1:
        raise UnsupportedError(f"jobs must be at least 1, got {jobs}")
    if certificate:
        if "real" not in semantics:
            raise UnsupportedError("certificates cover the real semantics only; add --semantics real")
        _certifier(spec, props)  # refuses what the checker cannot check, before any search
    searcher = Searcher(spec, method=method, seed=seed)
    for prop in props:  # a bad index is bad input, before any task starts
        prop.check_dims(searcher.runs.input_dim, searcher.runs.latent_dim)
    budget = {"timeout": timeout, "max_parts": max_parts, "method": method, "seed": seed,
              "phase_split": phase_split}
    tasks = [(b, S) for b in range(len(box_list)) for S in semantics]
    args = [(spec, box_list[b], props, S, budget, certificate, tightest) for b, S in tasks]
    if scheduler is not None:
        answers = _run_dask(scheduler, scheduler_timeout, args)
    else:
        answers = _run_local(args, jobs)
    results: list[list[dict[str, Verdict]]] = [[{} for _ in props] for _ in box_list]
    levels: list[list[dict[str, dict[str, Any]]]] | None = [[{} for _ in props] for _ in box_list] \
        if tightest else None
    for (b, S), (verdicts, found) in zip(tasks, answers):
        for p in range(len(props)):
            results[b][p][S] = verdicts[p]
            if levels is not None:
                levels[b][p][S] = found[p]
    return VerifyResult(name, spec, box_list, props, semantics, results, time.monotonic() - start,
                        certified=certificate, tightest=levels)


def _certifier(spec: AutoencoderSpec | LayeredSpec, props: list[Property]) -> Any:
    """certify(prop, part): whether the independent checker's bound of the value on the
    box `part` implies the property; UnsupportedError for what it cannot check."""
    layered = spec if isinstance(spec, LayeredSpec) else LayeredSpec.from_v1(spec)
    try:
        model = checker_model(layered)
    except CertificateError as exc:
        raise UnsupportedError(f"cannot write a certificate: {exc}") from None
    for p in props:
        if p.kind in ("input_grad_inf", "vnnlib"):
            raise UnsupportedError(f"cannot write a certificate for {p.text!r}: the checker bounds error, "
                                   "output and latent properties only")

    def certify(prop: Property, part: Box) -> bool:
        lo, hi = leaf_bound(model, prop, part.lower, part.upper)
        return hi <= prop.threshold if prop.sense == "<=" else lo >= prop.threshold

    return certify


def _task(spec: AutoencoderSpec | LayeredSpec, box: Box, props: list[Property], semantics: str,
          budget: dict[str, Any], certificate: bool, tightest: bool
          ) -> tuple[list[Verdict], list[dict[str, Any]] | None]:
    """One (box, semantics) task: the verdict of each property, and its tightest
    threshold when asked (a module-level function of picklable arguments, so that a
    spawned process or a Dask worker can run it)."""
    certify = _certifier(spec, props) if certificate else None
    verdicts = [v[semantics] for v in verify_box(spec, box, props, (semantics,), certify=certify, **budget)]
    found = None
    if tightest:
        searcher = Searcher(spec, method=budget["method"], seed=budget["seed"], phase_split=budget["phase_split"])
        found = [search_tightest(searcher, prop, box, semantics, timeout=budget["timeout"],
                                 max_parts=budget["max_parts"]) for prop in props]
    return verdicts, found


def _run_local(args: list[tuple], jobs: int) -> list[Any]:
    """`_task` on each argument tuple, in this process (jobs 1 or one task) or in `jobs`
    spawned processes, as `verifae.report` runs its cases (spawn, not fork: a forked
    child of a process with threads can deadlock; workers in their own process group,
    ended with the pool on an interrupt). The answers in the order of `args`."""
    if jobs <= 1 or len(args) <= 1:
        return [_task(*a) for a in args]

    pool = ProcessPoolExecutor(max_workers=min(jobs, len(args)), mp_context=multiprocessing.get_context("spawn"),
                               initializer=worker_init)
    answers: dict[int, Any] = {}
    try:
        queue = list(enumerate(args))
        running: dict[Future, int] = {}
        while queue or running:
            while queue and len(running) < jobs:
                i, a = queue.pop(0)
                running[pool.submit(_task, *a)] = i
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for f in finished:
                answers[running.pop(f)] = f.result()
    except BaseException:
        terminate(pool)
        raise
    pool.shutdown(wait=True)
    return [answers[i] for i in range(len(args))]


def _run_dask(address: str, timeout: float, args: list[tuple]) -> list[Any]:
    """`_task` on each argument tuple on the dask.distributed scheduler at `address`
    (`verifae.report`'s client: EnvironmentFailure when unreachable or not installed)."""

    client = dask_client(address, timeout)
    try:
        futures = [client.submit(_task, *a, pure=False) for a in args]
        try:
            return client.gather(futures)
        except BaseException:
            client.cancel(futures)
            raise
    finally:
        client.close()


def default_jobs() -> int:
    """The number of processes `verifae verify --jobs` uses by default: the cores."""
    return os.cpu_count() or 1


# ---------------------------------------------------------------- JSON and table


def _box_json(box: Box) -> dict[str, list[str]]:
    return {"lower": exact_strings(box.lower), "upper": exact_strings(box.upper)}


def _phases_json(phases: tuple[tuple[int, int, int], ...]) -> dict[str, Any]:
    """An open part's fixed relu phases ({} for a box alone): [layer, neuron, +1 (z >= 0) or −1 (z <= 0)]."""
    return {"phases": [list(p) for p in phases]} if phases else {}


def _float_only(verdicts: dict[str, Verdict], S: str) -> bool:
    """A violation in a float semantics at a point where the real value does not break
    the property (or where the real semantics is proved)."""
    v = verdicts[S]
    if S == "real" or v.status != "violated" or v.counterexample is None:
        return False
    real = verdicts.get("real")
    return (real is not None and real.status == "proved") or v.counterexample.get("real", {}).get("violated") is False


def _verdict_json(v: Verdict, prop: Property, float_only: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"status": v.status, "bound": [json_float(v.lower), json_float(v.upper)],
                           "threshold": str(prop.threshold), "parts": v.parts, "seconds": round(v.seconds, 4)}
    if v.counterexample is not None:
        cex = dict(v.counterexample)
        if isinstance(cex.get("value"), list):
            cex["value"] = [json_float(x) for x in cex["value"]]
        elif isinstance(cex.get("value"), float):
            cex["value"] = json_float(cex["value"])
        out["counterexample"] = cex
    if float_only:
        out["float_only"] = True
    if v.status == "unknown":
        out["open"] = {"count": len(v.open_parts),
                       "parts": [{**_box_json(leaf.box), **_phases_json(leaf.phases),
                                  "bound": [json_float(leaf.lower), json_float(leaf.upper)]}
                                 for leaf in v.open_parts[:20]]}
    if v.notes:
        out["notes"] = v.notes
    return out


def to_json(result: VerifyResult) -> dict[str, Any]:
    """The verdicts as JSON (design §8): per box, per property, {"verdicts": {S: ...}}."""
    spec = result.spec
    layered = spec if isinstance(spec, LayeredSpec) else LayeredSpec.from_v1(spec)
    boxes = []
    for b, per_box in enumerate(result.boxes):
        entries = []
        for prop, verdicts in zip(result.properties, per_box):
            entries.append({"property": prop.text,
                            "verdicts": {S: _verdict_json(v, prop, _float_only(verdicts, S))
                                         for S, v in verdicts.items()}})
        if result.tightest is not None:
            for entry, levels in zip(entries, result.tightest[b]):
                entry["tightest"] = {S: {"proved": json_float(t["proved"]), "seen": json_float(t["seen"]),
                                         "parts": t["parts"], "seconds": round(t["seconds"], 4)}
                                     for S, t in levels.items()}
        boxes.append({"box": b, "properties": entries})
    summary: dict[str, Any] = {**result.counts(), "seconds": round(result.seconds, 4)}
    per_property = []
    for p, prop in enumerate(result.properties):
        for S in result.semantics:
            counts = {s: 0 for s in STATUSES}
            for per_box in result.boxes:
                counts[per_box[p][S].status] += 1
            per_property.append({"property": prop.text, "semantics": S, **counts})
    summary["per_property"] = per_property
    return {"case": result.name, "input_dim": layered.input_dim, "latent_dim": layered.latent_dim,
            "semantics": list(result.semantics), "properties": [p.text for p in result.properties],
            "boxes": boxes, "summary": summary}


def _fmt(v: float, rounding: str | None = None) -> str:
    """v with 7 significant digits: rounded to nearest for values seen, or outward
    (rounding decimal.ROUND_FLOOR / ROUND_CEILING) for an end of an enclosure or a proved
    threshold, so that the printed number still holds."""
    if rounding is None or not math.isfinite(v):
        return f"{v:.7g}"
    return format(decimal.Context(prec=7, rounding=rounding).create_decimal(v), "g")


def _interval(lower: float, upper: float) -> str:
    return f"[{_fmt(lower, decimal.ROUND_FLOOR)}, {_fmt(upper, decimal.ROUND_CEILING)}]"


def render_verdicts(result: VerifyResult) -> str:
    """A table for a person: one row per box, property and semantics, then a summary."""
    lines = [f"case {result.name}: {len(result.boxes)} box(es), {len(result.properties)} propert"
             f"{'y' if len(result.properties) == 1 else 'ies'}, semantics {', '.join(result.semantics)}", ""]
    multi = len(result.boxes) > 1
    head = f"{'box':>4}  " if multi else ""
    lines.append(f"{head}{'property':<24} {'semantics':<9} {'verdict':<9} {'bound':<29} {'parts':>6} {'seconds':>8}")
    for b, per_box in enumerate(result.boxes):
        for prop, verdicts in zip(result.properties, per_box):
            for S, v in verdicts.items():
                bound = _interval(v.lower, v.upper)
                row = f"{b:>4}  " if multi else ""
                lines.append(f"{row}{prop.text:<24} {S:<9} {v.status:<9} {bound:<29} {v.parts:>6} {v.seconds:>8.2f}")
                cex = v.counterexample
                if cex is not None:
                    if S == "real":
                        lines.append(f"      counterexample: real value in {_interval(*cex['value'])} "
                                     f"({cex['confirmed_by']})")
                    else:
                        runs = ", ".join(f"{k} {_fmt(r['value'])}" if "value" in r else f"{k} failed"
                                         for k, r in cex["runs"].items())
                        lines.append(f"      counterexample: {S} runs give {runs}; real value in "
                                     f"{_interval(*cex['real']['value'])}")
                    if _float_only(verdicts, S):
                        lines.append(f"      note: this point breaks the property in {S} but not in real numbers")
                if v.status == "unknown":
                    lines.append(f"      open: {len(v.open_parts)} part(s) of the box still undecided "
                                 "(budget spent; --timeout / --max-parts buy more)")
    if result.tightest is not None:
        lines += ["", "tightest thresholds proved (the extreme lies between the float64 runs seen and the bound):"]
        for b, per_levels in enumerate(result.tightest):
            for prop, levels in zip(result.properties, per_levels):
                for S, t in levels.items():
                    name = prop.text.split("<=")[0].split(">=")[0]
                    row = f"{b:>4}  " if multi else ""
                    outward = decimal.ROUND_CEILING if prop.sense == "<=" else decimal.ROUND_FLOOR
                    lines.append(f"{row}{name}{prop.sense}{_fmt(t['proved'], outward)} proved in {S} "
                                 f"(runs reach {_fmt(t['seen'])}; {t['parts']} parts, {t['seconds']:.2f} s)")
    counts = result.counts()
    lines += ["", f"summary: {sum(counts.values())} verdict(s): {counts['proved']} proved, "
                  f"{counts['violated']} violated, {counts['unknown']} unknown ({result.seconds:.2f} s)"]
    if multi:
        for p, prop in enumerate(result.properties):
            for S in result.semantics:
                c = {s: sum(per_box[p][S].status == s for per_box in result.boxes) for s in STATUSES}
                lines.append(f"  {prop.text} ({S}): {c['proved']} proved, {c['violated']} violated, "
                             f"{c['unknown']} unknown of {len(result.boxes)} boxes")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- certificates


def _model_json(spec: AutoencoderSpec | LayeredSpec) -> dict[str, Any]:
    layered = spec if isinstance(spec, LayeredSpec) else LayeredSpec.from_v1(spec)

    def layer(item: Any) -> dict[str, Any]:
        return {"name": item.name, "weight": [exact_strings(row) for row in item.weight],
                "bias": exact_strings(item.bias), "activation": None if item.activation is None
                else item.activation.config()}

    return {"encoder": [layer(x) for x in layered.encoder], "decoder": [layer(x) for x in layered.decoder]}


def _exact_or_none(v: float) -> str | None:
    """A bound's exact value as a string; None (JSON null) for an unbounded end."""
    return str(Fraction(v)) if math.isfinite(v) else None


def certificate_json(result: VerifyResult) -> dict[str, Any]:
    """The proof object of every property proved in the real semantics: the model (exact
    strings), and per proof the box, the property and the leaves of branch and bound
    with the bound claimed on each (exact strings of the float64 endpoints)."""
    if not result.certified:
        raise UnsupportedError("this result was computed without certificate=True")
    proofs = []
    for box, per_box in zip(result.box_list, result.boxes):
        for prop, verdicts in zip(result.properties, per_box):
            v = verdicts.get("real")
            if v is None or v.status != "proved":
                continue
            # a certified search splits inputs only (`verify`): the checker tiles boxes
            assert not any(leaf.phases for leaf in v.leaves), "a certificate leaf with relu phases"
            proofs.append({"box": _box_json(box), "property": prop.text, "semantics": "real",
                           "leaves": [{**_box_json(leaf.box),
                                       "bound": [_exact_or_none(leaf.lower), _exact_or_none(leaf.upper)]}
                                      for leaf in v.leaves]})
    return {"format": CERTIFICATE_FORMAT, "case": result.name, "model": _model_json(result.spec), "proofs": proofs}
