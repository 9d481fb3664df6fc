"""What runs inside the sandbox: execute cells in order and report plain data.

A *job* is a dict ``{"cells": [...], "forbidden": {fn: [module, ...]},
"record": bool, "record_hints": bool}``; each cell is ``{"kind": "setup" |
"answer" | "test", "grade_id": str | None, "parts": [[part_name, source], ...]}``.
Messages go out as JSON lines on a private pipe (never stdout, which the
submission owns):

- ``{"m": "rec", "cell": i, "part": p, "name": ..., "value": ..., "rtol": ..., "atol": ...}``
  for each ``expect`` call (``"hints"`` too in the reference run);
- ``{"m": "end", "cell": i, "part": p, "error": None | {"type": ..., "msg": ...}}``
  after each part of each cell;
- ``{"m": "forbidden", "function": f, "module": m}`` when a graded function runs code of a
  module it must implement itself;
- ``{"m": "modules", "v": [...]}`` in the reference run only: the modules it imported,
  which the grader's sandboxes then import once, up front;
- ``{"m": "done"}`` at the very end.

With ``record=False`` (``tipslib check``) ``expect`` keeps comparing locally.
"""

from __future__ import annotations

import builtins
import importlib.util
import json
import os
import sys

from . import testing
from .plain import encode

__all__ = ["run_job"]


class _Channel:
    def __init__(self, fd):
        self.fd, self.pid = fd, os.getpid()

    def send(self, obj):
        if os.getpid() != self.pid:  # a fork of the submission is not the run
            return
        data = (json.dumps(obj, separators=(",", ":")) + "\n").encode()
        while data:
            n = os.write(self.fd, data)
            data = data[n:]


def _error(exc):
    msg = str(exc).strip().split("\n")[0] if not isinstance(exc, SyntaxError) else f"{exc.msg} (line {exc.lineno})"
    return {"type": type(exc).__name__[:100], "msg": msg[:300]}


def _block_network():
    """No sockets from submission code (a second wall; the sandbox also unshares the network)."""
    import socket

    def refuse(*args, **kwargs):
        raise PermissionError("the network is disabled while grading")

    class NoSocket(socket.socket):
        def __init__(self, *args, **kwargs):
            refuse()

    socket.socket = NoSocket
    for name in ("create_connection", "create_server", "socketpair", "fromfd", "getaddrinfo"):
        setattr(socket, name, refuse)
    sys.modules["_socket"].socket = NoSocket


def _module_paths(modules):
    """File-path prefixes of the forbidden modules (a package means its whole folder)."""
    prefixes = []
    for name in modules:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            spec = None
        if spec is None:
            continue
        if spec.submodule_search_locations:
            prefixes += [os.path.join(p, "") for p in spec.submodule_search_locations]
        elif spec.origin:
            prefixes.append(spec.origin)
    return tuple(prefixes)


def _guard(fn, fn_name, prefixes, modules, channel, reported):
    """Wrap a graded function: any frame of a forbidden module inside its call is reported."""

    def report(what):
        reported.add(fn_name)
        channel.send({"m": "forbidden", "function": fn_name, "module": what})

    def profiler(frame, event, arg):
        if fn_name in reported:
            return
        if event == "call" and frame.f_code.co_filename.startswith(prefixes):
            report(", ".join(modules))
        # switching the guard off and back on around a call would hide it from the check in
        # `guarded` below; the guard of a nested graded function (same code) is not that
        elif event == "c_call" and arg is sys.setprofile and frame.f_code is not guarded.__code__:
            report("the profiler guard was removed")

    def guarded(*args, **kwargs):
        previous = sys.getprofile()
        sys.setprofile(profiler)
        try:
            return fn(*args, **kwargs)
        finally:
            if sys.getprofile() is not profiler and fn_name not in reported:
                report("the profiler guard was removed")
            sys.setprofile(previous)

    guarded.__wrapped__ = fn
    guarded.__name__ = getattr(fn, "__name__", fn_name)
    return guarded


def _guard_object(obj, fn_name, prefixes, modules, channel, reported):
    """Guard a graded function, or each method a graded class defines itself."""
    if not isinstance(obj, type):
        return _guard(obj, fn_name, prefixes, modules, channel, reported)
    for attr, value in list(vars(obj).items()):
        if isinstance(value, (staticmethod, classmethod)):
            setattr(obj, attr, type(value)(_guard(value.__func__, fn_name, prefixes, modules, channel, reported)))
        elif callable(value) and not isinstance(value, type):
            setattr(obj, attr, _guard(value, fn_name, prefixes, modules, channel, reported))
    return obj


def run_job(job, fd):
    """Execute the job's cells in a fresh namespace and report over ``fd``."""
    channel = _Channel(fd)
    already = set(sys.modules)
    current = [None, None]
    record_hints = bool(job.get("record_hints"))

    def recorder(name, actual, *, rtol, atol, hints):
        msg = {"m": "rec", "cell": current[0], "part": current[1], "name": str(name)[:200],
               "value": encode(actual), "rtol": float(rtol), "atol": float(atol)}
        if record_hints and hints:
            msg["hints"] = [[str(k)[:300], encode(v)] for k, v in dict(hints).items()]
        channel.send(msg)

    forbidden = job.get("forbidden") or {}
    prefixes = {fn: _module_paths(mods) for fn, mods in forbidden.items()}
    guarded_ids, reported = set(), set()
    if job.get("record", True):
        testing._RECORDER = recorder
        _block_network()
    ns = {"__name__": "__main__", "__builtins__": builtins, "display": lambda *a, **k: None}
    for i, cell in enumerate(job["cells"]):
        for part, source in cell["parts"]:
            current[0], current[1] = i, part
            error = None
            try:
                exec(compile(source, f"<{cell['kind']} cell {cell.get('grade_id') or i}>", "exec"), ns)
            except BaseException as exc:  # noqa: BLE001 - a submission may raise anything, SystemExit included
                error = _error(exc)
            channel.send({"m": "end", "cell": i, "part": part, "error": error})
            if cell["kind"] == "answer":
                for fn, pre in prefixes.items():
                    obj = ns.get(fn)
                    if pre and callable(obj) and id(obj) not in guarded_ids:
                        ns[fn] = _guard_object(obj, fn, pre, forbidden[fn], channel, reported)
                        guarded_ids.add(id(ns[fn]))
            if error is not None:
                break  # like a notebook: the rest of this cell does not run
    if job.get("report_modules"):  # the reference run: what the sandboxes should import up front
        channel.send({"m": "modules", "v": sorted(set(sys.modules) - already)})
    channel.send({"m": "done"})


def main():  # pragma: no cover - exercised through tipslib check
    """``python -m tipslib.grading._runner FD``: job JSON on stdin, messages on FD."""
    fd = int(sys.argv[1])
    job = json.loads(sys.stdin.buffer.read())
    sys.stdin = open(os.devnull)
    run_job(job, fd)


if __name__ == "__main__":  # pragma: no cover
    main()
