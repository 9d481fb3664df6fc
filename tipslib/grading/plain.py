"""The only data that crosses from a sandboxed run back to the judge.

:func:`encode` runs in the sandbox and turns whatever a submission returned
into tagged JSON (arrays as float64 bytes in base64). :func:`decode` runs in
the judge and accepts nothing else: fixed tags, checked shapes and sizes, no
pickle, no object construction. :func:`compare` then says whether a decoded
value matches the reference and, if not, why, in words a student can use.
"""

from __future__ import annotations

import base64
import math

import numpy as np

__all__ = ["encode", "decode", "compare", "ProtocolError", "MAX_ELEMENTS"]

MAX_DEPTH = 16
MAX_ELEMENTS = 2_000_000   # float64 numbers in one recorded value
MAX_STR = 2_000
#: JSON separators (commas, colons, brackets outside strings) one encoded value may hold: a larger one is
#: recorded as "too large to record", so an honest value never reaches the judge's limit per result line
#: (``judge.MAX_VALUES``), past which a line counts as tampering.
MAX_SEPARATORS = 200_000


class ProtocolError(ValueError):
    """A message from the sandbox that does not follow the format."""


# ---------------------------------------------------------------- sandbox side
def _array(value):
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch tensor
        value = value.detach().cpu().numpy()
    arr = np.array(value, dtype=np.float64, copy=True)
    if arr.size > MAX_ELEMENTS:
        raise ValueError("too large to record")
    return {"t": "arr", "shape": list(arr.shape), "b64": base64.b64encode(np.ascontiguousarray(arr).astype("<f8").tobytes()).decode()}


class _TooLarge(Exception):
    pass


def encode(value, _depth=0, _budget=None):
    """Tagged JSON for ``value``; what cannot be turned into numbers is recorded by type name, and a
    value that would take more than :data:`MAX_SEPARATORS` JSON separators as "too large to record"."""
    if _budget is None:
        try:
            return encode(value, _depth, [MAX_SEPARATORS])
        except _TooLarge:
            return {"t": "bad", "type": "too large to record"}

    def spend(n):
        _budget[0] -= n
        if _budget[0] < 0:
            raise _TooLarge

    if _depth > MAX_DEPTH:
        spend(4)
        return {"t": "bad", "type": "nested too deeply"}
    tp = type(value)
    if value is None:
        spend(2)
        return {"t": "none"}
    if tp is bool or tp is np.bool_:
        spend(4)
        return {"t": "bool", "v": bool(value)}
    if tp is str:
        spend(4)
        return {"t": "str", "v": value[:MAX_STR]}
    if tp is dict:
        items = list(value.items())[:1000]
        spend(5 + 3 * len(items))
        return {"t": "dict", "v": [[str(k)[:200], encode(v, _depth + 1, _budget)] for k, v in items]}
    if tp in (list, tuple):
        items = list(value)[:10000]
        spend(5 + len(items))
        return {"t": "list", "v": [encode(v, _depth + 1, _budget) for v in items]}
    try:
        out = _array(value)
    except Exception:  # noqa: BLE001 - anything a submission returns must be recordable
        out = {"t": "bad", "type": tp.__name__[:100]}
    spend(8 + len(out.get("shape", ())))
    return out


# ------------------------------------------------------------------ judge side
def decode(obj, _depth=0):
    """Plain Python value (None/bool/str/dict/list/float64 ndarray) or :class:`ProtocolError`."""
    if _depth > MAX_DEPTH + 1 or not isinstance(obj, dict):
        raise ProtocolError("bad value")
    t = obj.get("t")
    if t == "none":
        return None
    if t == "bool" and isinstance(obj.get("v"), bool):
        return obj["v"]
    if t == "str" and isinstance(obj.get("v"), str):
        return obj["v"][:MAX_STR]
    if t == "bad" and isinstance(obj.get("type"), str):
        return Unrecordable(obj["type"][:100])
    if t == "list" and isinstance(obj.get("v"), list):
        return [decode(v, _depth + 1) for v in obj["v"]]
    if t == "dict" and isinstance(obj.get("v"), list):
        out = {}
        for item in obj["v"]:
            if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], str)):
                raise ProtocolError("bad dict item")
            out[item[0]] = decode(item[1], _depth + 1)
        return out
    if t == "arr":
        shape, b64 = obj.get("shape"), obj.get("b64")
        if not (isinstance(shape, list) and len(shape) <= 32 and isinstance(b64, str)
                and all(type(n) is int and 0 <= n <= MAX_ELEMENTS for n in shape)):
            raise ProtocolError("bad array header")
        n = math.prod(shape)
        if n > MAX_ELEMENTS or len(b64) != 4 * math.ceil(8 * n / 3):
            raise ProtocolError("array size does not match its shape")
        try:
            raw = base64.b64decode(b64, validate=True)
        except ValueError:
            raise ProtocolError("bad array data") from None
        if len(raw) != 8 * n:
            raise ProtocolError("array size does not match its shape")
        return np.frombuffer(raw, dtype="<f8").reshape(shape).astype(np.float64)
    raise ProtocolError("unknown value tag")


class Unrecordable:
    """Stands for a value the sandbox could not turn into numbers."""

    def __init__(self, type_name):
        self.type_name = type_name

    def __repr__(self):
        return f"<{self.type_name}>"


def _kind(v, shape=True):
    """What ``v`` is, in fixed words (``shape=False``: without the shape, which the student controls)."""
    if isinstance(v, np.ndarray):
        return "a number" if v.ndim == 0 else (f"an array of shape {v.shape}" if shape else "an array")
    if isinstance(v, Unrecordable):
        return "an object that is not a number or array"
    return {type(None): "None", bool: "a bool", str: "a string", dict: "a dict", list: "a list/tuple"}.get(type(v), "?")


def _as_array(v):
    """A decoded list of numbers as one array (a student may return a list where we return an array)."""
    if isinstance(v, list) and all(isinstance(x, (list, np.ndarray)) for x in v):
        try:
            parts = [_as_array(x) for x in v]
            if all(isinstance(p, np.ndarray) for p in parts):
                return np.array(parts, dtype=np.float64)
        except ValueError:
            return v
    return v


def compare(actual, expected, rtol=1e-7, atol=1e-9, *, reveal=True):
    """``(True, "")`` when ``actual`` matches ``expected`` within tolerance, else ``(False, why)``.

    ``why`` is built from fixed words and the *expected* side only (its shape, keys or
    length, and only with ``reveal``: never for a hidden check). Nothing of ``actual``
    beyond its kind is quoted: the student's process chose it, and could have encoded
    in it what it read of the hidden tests.
    """
    exp = (lambda text: text) if reveal else (lambda text: "")
    if isinstance(expected, np.ndarray):
        actual = _as_array(actual)
        if not isinstance(actual, np.ndarray):
            return False, f"expected {_kind(expected, reveal)}, got {_kind(actual, False)}"
        if actual.shape != expected.shape:
            return False, "wrong shape" + exp(f" (expected {expected.shape})")
        if np.isnan(actual).any() and not np.isnan(expected).any():
            return False, "the result contains NaN"
        if np.isinf(actual).any() and not np.isinf(expected).any():
            return False, "the result contains inf"
        if np.allclose(actual, expected, rtol=rtol, atol=atol, equal_nan=True):
            return True, ""
        return False, f"values differ (beyond rtol={rtol:g}, atol={atol:g})"
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return False, f"expected a dict, got {_kind(actual, False)}"
        if sorted(actual) != sorted(expected):
            return False, "wrong keys" + exp(f" (expected {sorted(expected)[:20]})")
        for k in expected:
            ok, why = compare(actual[k], expected[k], rtol, atol, reveal=reveal)
            if not ok:
                return False, (f"[{k!r}]: " if reveal else "") + why
        return True, ""
    if isinstance(expected, list):
        if not isinstance(actual, list):
            return False, f"expected a list/tuple{exp(f' of {len(expected)}')}, got {_kind(actual, False)}"
        if len(actual) != len(expected):
            return False, "wrong number of items" + exp(f" (expected {len(expected)})")
        for i, (a, e) in enumerate(zip(actual, expected)):
            ok, why = compare(a, e, rtol, atol, reveal=reveal)
            if not ok:
                return False, (f"item {i}: " if reveal else "") + why
        return True, ""
    if type(expected) is bool and isinstance(actual, np.ndarray) and actual.shape == () and actual in (0.0, 1.0):
        actual = bool(actual)  # a torch bool tensor (or a 0/1 number) arrives as a number; expect() locally accepts it
    if type(actual) is type(expected) and actual == expected and not isinstance(expected, Unrecordable):
        return True, ""
    if type(actual) is type(expected):
        return False, f"a different {_kind(expected)[2:] if _kind(expected).startswith('a ') else _kind(expected)} from the expected one"
    return False, f"expected {_kind(expected, reveal)}, got {_kind(actual, False)}"
