"""What runs inside the sandbox: execute cells in order, or scan a notebook, and report plain data.

A *run job* is a dict ``{"cells": [...], "forbidden": {fn: [target, ...]},
"record": bool, "reference": bool, "seed": int | None, "no_spawn": bool}``;
each cell is ``{"kind": "setup" | "answer" | "test", "grade_id": str | None,
"parts": [[part_name, source], ...]}``. A forbidden *target* is a module
(``"tipslib.optim"``: any code of it) or a callable (``"torch.nn.functional.batch_norm"``).
In a student's job the test sources carry no expected values (the judge
stripped them). Messages go out as JSON lines on a private pipe (never
stdout, which the submission owns):

- ``{"m": "rec", "cell": i, "part": p, "name": ..., "value": ..., "rtol": ..., "atol": ...}``
  for each ``expect`` call (``"hints"`` and ``"ok"`` -- does the instructor's
  solution meet the test's own expected value -- in the reference run);
- ``{"m": "end", "cell": i, "part": p, "error": None | {"type": ..., "msg": ...}}``
  after each part of each cell;
- ``{"m": "forbidden", "function": f, "module": m}`` when a graded function runs a
  forbidden target (its code, a copy of its code, or the built-in itself);
- ``{"m": "modules", "v": [...]}`` in the reference run only: the modules it imported,
  which the grader's sandboxes then import once, up front;
- ``{"m": "done"}`` at the very end.

With ``no_spawn`` the run can start no thread, process or program
(a seccomp filter: ``clone``, ``fork``, ``vfork``, ``execve`` fail with EPERM),
so forbidden code cannot run where the guard does not look.

A *scan job* ``{"kind": "scan", "nb": base64 bytes, "stem": str, "exercises":
{id: {"answers": [grade_id], "forbidden": {...}}}, "max_cell": int}`` reads one
submitted notebook here, in the sandbox, never in the grader: it answers one
``{"m": "scan", ...}`` message (see :func:`_scan`).

With ``record=False`` (``tipslib check``) ``expect`` keeps comparing locally.
"""

from __future__ import annotations

import ast
import base64
import builtins
import ctypes
import importlib
import importlib.util
import json
import os
import pkgutil
import struct
import sys

from . import testing
from .plain import encode

__all__ = ["run_job"]

MIN_COPY = 40  # bytes of bytecode: shorter library functions are too common to call a copy


class _Channel:
    def __init__(self, fd):
        self.fd, self.pid = fd, os.getpid()

    def send(self, obj):
        if os.getpid() != self.pid:  # a fork of the submission is not the run
            return
        data = (json.dumps(obj, separators=(",", ":")) + "\n").encode("utf-8", "backslashreplace")
        while data:
            n = os.write(self.fd, data)
            data = data[n:]


def _error(exc):
    try:
        msg = str(exc).strip().split("\n")[0] if not isinstance(exc, SyntaxError) else f"{exc.msg} (line {exc.lineno})"
    except BaseException:  # noqa: BLE001 - a submission's exception may fail to print
        msg = ""
    return {"type": str(type(exc).__name__)[:100], "msg": str(msg)[:300]}


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


# ------------------------------------------------------------- no new tasks
_SYSCALLS = {  # clone, fork, vfork, execve, execveat, clone3
    "x86_64": (0xC000003E, (56, 57, 58, 59, 322, 435)),
    "aarch64": (0xC00000B7, (220, 221, 281, 435)),
}


def _no_spawn():
    """Install a seccomp filter: no thread, process or program can start from here on.

    Returns True when the kernel took it. Without seccomp the Python entry points
    are refused instead (a submission can get round those with ctypes).
    """
    arch = os.uname().machine
    if arch in _SYSCALLS:
        audit, numbers = _SYSCALLS[arch]
        eperm, allow = 0x00050000 | 1, 0x7FFF0000
        prog = [(0x20, 0, 0, 4), (0x15, 1, 0, audit), (0x06, 0, 0, eperm), (0x20, 0, 0, 0)]
        if arch == "x86_64":
            prog.append((0x35, 0, 1, 0x40000000))  # the x32 ABI: refuse all of it
            prog.append((0x06, 0, 0, eperm))
        for nr in numbers:
            prog += [(0x15, 0, 1, nr), (0x06, 0, 0, eperm)]
        prog.append((0x06, 0, 0, allow))
        raw = b"".join(struct.pack("HBBI", *ins) for ins in prog)
        buf = ctypes.create_string_buffer(raw)

        class Prog(ctypes.Structure):
            _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

        fprog = Prog(len(prog), ctypes.addressof(buf))
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong]
        if libc.prctl(38, 1, None, 0, 0) == 0 and libc.prctl(22, 2, ctypes.byref(fprog), 0, 0) == 0:
            return True

    def refuse(*args, **kwargs):
        raise PermissionError("starting threads and processes is disabled while grading")

    import _thread
    import subprocess
    import threading

    for mod, names in ((os, ("fork", "forkpty", "system", "posix_spawn", "posix_spawnp", "execv", "execve", "execvp",
                             "execvpe", "execl", "execle", "execlp", "execlpe", "spawnv", "spawnve", "popen")),
                       (_thread, ("start_new_thread", "start_new")), (subprocess, ("Popen",))):
        for name in names:
            if hasattr(mod, name):
                setattr(mod, name, refuse)
    threading.Thread.start = refuse
    return False


# --------------------------------------------------------- forbidden targets
def _resolve(target):
    """``("module", [path prefixes], module)`` or ``("callable", obj)`` or ``None``."""
    try:
        spec = importlib.util.find_spec(target)
    except (ImportError, ValueError, AttributeError):
        spec = None
    if spec is not None:
        prefixes = []
        if spec.submodule_search_locations:
            prefixes += [os.path.join(p, "") for p in spec.submodule_search_locations]
        elif spec.origin:
            prefixes.append(spec.origin)
        try:
            module = importlib.import_module(target)
        except Exception:  # noqa: BLE001
            module = None
        return ("module", prefixes, module)
    parts = target.split(".")
    for i in range(len(parts) - 1, 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except Exception:  # noqa: BLE001
            continue
        try:
            for p in parts[i:]:
                obj = getattr(obj, p)
        except AttributeError:
            return None
        return ("callable", obj)
    return None


def _codes(obj, out, seen):
    """Every code object defined in a module, class or function (nested ones too)."""
    if id(obj) in seen:
        return
    seen.add(id(obj))
    code = getattr(obj, "__code__", None)
    if code is not None and hasattr(code, "co_code"):
        stack = [code]
        while stack:
            c = stack.pop()
            out.append(c)
            stack += [k for k in c.co_consts if hasattr(k, "co_code")]
        return
    if isinstance(obj, (staticmethod, classmethod, property)):
        for f in (getattr(obj, "__func__", None), getattr(obj, "fget", None)):
            if f is not None:
                _codes(f, out, seen)
        return
    if isinstance(obj, type):
        for v in list(vars(obj).values()):
            _codes(v, out, seen)


def _fingerprint(code):
    """Same for a function and an exec'd copy of its source; comprehensions and lambdas are
    too generic to call a copy (a list comprehension of sympy's matched one of tipslib's)."""
    if code.co_name.startswith("<") or len(code.co_code) < MIN_COPY:
        return None
    return (code.co_name, code.co_code, code.co_names, code.co_varnames,
            tuple(repr(k) for k in code.co_consts if not hasattr(k, "co_code")))


class _Targets:
    """What one graded function must not run: file prefixes, code objects, built-ins, code copies."""

    def __init__(self, targets):
        self.names, self.prefixes, self.codes, self.builtins, self.prints = {}, [], {}, {}, {}
        for t in targets:
            r = _resolve(t)
            if r is None:
                continue
            found = []
            if r[0] == "module":
                self.prefixes += [(p, t) for p in r[1]]
                if t.split(".")[0] == "tipslib" and r[2] is not None and hasattr(r[2], "__path__"):
                    for info in pkgutil.walk_packages(r[2].__path__, t + "."):  # small: all of it
                        try:
                            importlib.import_module(info.name)
                        except Exception:  # noqa: BLE001
                            pass
                # of a big package (torch.autograd), the modules loaded so far
                mods = [m for n, m in list(sys.modules.items()) if (n == t or n.startswith(t + ".")) and m is not None]
                seen = set()
                for m in mods:
                    for v in list(vars(m).values()):
                        if getattr(v, "__module__", None) == m.__name__:
                            _codes(v, found, seen)
                found = [c for c in found if c.co_filename.startswith(tuple(p for p, _ in self.prefixes))]
            elif getattr(r[1], "__code__", None) is not None or isinstance(r[1], type):
                _codes(r[1], found, set())
                home = getattr(sys.modules.get(getattr(r[1], "__module__", None)), "__file__", None)
                # a decorator's wrapper (torch.no_grad's) is not the target: its code lives elsewhere
                found = [c for c in found if c.co_filename == home]
                for c in found:
                    self.codes[c] = t
            else:
                self.builtins[id(r[1])] = (r[1], t)
            for c in found:
                fp = _fingerprint(c)
                if fp is not None:
                    self.prints.setdefault(fp, t)
        self.prefixes = tuple(self.prefixes)
        self.cache = {}

    def hit(self, event, frame, arg):
        """The forbidden target this profiler event runs, or None."""
        if event == "call":
            code = frame.f_code
            hit = self.cache.get(code, False)
            if hit is False:
                hit = self.codes.get(code)
                if hit is None:
                    hit = next((t for p, t in self.prefixes if code.co_filename.startswith(p)), None)
                if hit is None:
                    fp = _fingerprint(code)
                    hit = self.prints.get(fp) if fp is not None else None
                    hit = f"a copy of {hit}" if hit else None
                self.cache[code] = hit
            return hit
        if event == "c_call":
            b = self.builtins.get(id(arg))
            return b[1] if b is not None and b[0] is arg else None
        return None


def _guard(fn, fn_name, targets, channel, reported):
    """Wrap a graded function: any forbidden target run inside its call is reported."""

    def report(what):
        reported.add(fn_name)
        channel.send({"m": "forbidden", "function": fn_name, "module": what})

    def profiler(frame, event, arg):
        if fn_name in reported:
            return
        hit = targets.hit(event, frame, arg)
        if hit:
            report(hit)
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


def _guard_object(obj, fn_name, targets, channel, reported):
    """Guard a graded function, or each method a graded class defines itself."""
    if not isinstance(obj, type):
        return _guard(obj, fn_name, targets, channel, reported)
    for attr, value in list(vars(obj).items()):
        if isinstance(value, (staticmethod, classmethod)):
            setattr(obj, attr, type(value)(_guard(value.__func__, fn_name, targets, channel, reported)))
        elif callable(value) and not isinstance(value, type):
            setattr(obj, attr, _guard(value, fn_name, targets, channel, reported))
    return obj


def _watcher(forbidden, channel, reported):
    """A profiler for whole answer and test cells, outside the graded functions too.

    The graded functions' own guards do not see a call of the library's answer made
    elsewhere, e.g. by a patched ``expect`` that finds the test's inputs in its caller's
    frame. A forbidden target run anywhere in a student's cells counts against every
    graded function that must not use it.
    """
    owners = {}
    for fn, ts in forbidden.items():
        # the library's own answers only: test code may itself run torch built-ins (a Linear's
        # init, autograd on the student's output), which count only inside a graded function
        for t in ts:
            if t.split(".")[0] == "tipslib":
                owners.setdefault(t, []).append(fn)
    targets = _Targets(list(owners))

    def report(fns, what):
        for fn in fns:
            if fn not in reported:
                reported.add(fn)
                channel.send({"m": "forbidden", "function": fn, "module": what})

    def watcher(frame, event, arg):
        hit = targets.hit(event, frame, arg)
        if hit:
            report(owners.get(hit.removeprefix("a copy of "), ()), hit)
        elif event == "c_call" and arg is sys.setprofile and frame.f_code.co_filename != __file__:
            report(list(forbidden), "the profiler guard was removed")

    watcher.report_all = lambda what: report(list(forbidden), what)
    return watcher


def run_job(job, fd):
    """Execute the job in a fresh namespace and report over ``fd``."""
    channel = _Channel(fd)
    if job.get("kind") == "scan":
        channel.send(_scan(job))
        channel.send({"m": "done"})
        return
    already = set(sys.modules)
    current = [None, None]
    reference = bool(job.get("reference"))

    def recorder(name, actual, expected=None, *, rtol, atol, hints):
        msg = {"m": "rec", "cell": current[0], "part": current[1], "name": str(name)[:200],
               "value": encode(actual), "rtol": float(rtol), "atol": float(atol)}
        if reference:
            msg["hints"] = [[str(k)[:300], encode(v)] for k, v in dict(hints or {}).items()]
            try:
                msg["ok"] = bool(testing.matches(actual, expected, rtol, atol))
            except Exception:  # noqa: BLE001 - the test's expected value cannot be compared
                msg["ok"] = False
        channel.send(msg)

    forbidden = job.get("forbidden") or {}
    targets = {fn: _Targets(ts) for fn, ts in forbidden.items()}
    guarded_ids, reported = set(), set()
    testing._SEED = job.get("seed")
    if job.get("record", True):
        testing._RECORDER = recorder
        _block_network()
    if job.get("no_spawn"):
        _no_spawn()
    watcher = _watcher(forbidden, channel, reported) if forbidden and not reference else None
    ns = {"__name__": "__main__", "__builtins__": builtins, "display": lambda *a, **k: None}
    for i, cell in enumerate(job["cells"]):
        for part, source in cell["parts"]:
            current[0], current[1] = i, part
            error = None
            watch = False
            try:
                code = compile(source, f"<{cell['kind']} cell {cell.get('grade_id') or i}>", "exec")
                if watcher is not None and cell["kind"] != "setup":
                    sys.setprofile(watcher)
                    watch = True
                exec(code, ns)
            except BaseException as exc:  # noqa: BLE001 - a submission may raise anything, SystemExit included
                error = _error(exc)
            finally:
                if watch:
                    if sys.getprofile() is not watcher:
                        watcher.report_all("the profiler guard was removed")
                    sys.setprofile(None)
            channel.send({"m": "end", "cell": i, "part": part, "error": error})
            if cell["kind"] == "answer":
                for fn, tg in targets.items():
                    obj = ns.get(fn)
                    if callable(obj) and id(obj) not in guarded_ids:
                        ns[fn] = _guard_object(obj, fn, tg, channel, reported)
                        guarded_ids.add(id(ns[fn]))
            if error is not None:
                break  # like a notebook: the rest of this cell does not run
    if job.get("report_modules"):  # the reference run: what the sandboxes should import up front
        channel.send({"m": "modules", "v": sorted(set(sys.modules) - already)})
    channel.send({"m": "done"})


# -------------------------------------------------------------------- scan
def _source(cell):
    src = cell.get("source", "")
    if isinstance(src, list):
        src = "".join(s for s in src if isinstance(s, str))
    return src if isinstance(src, str) else ""


def _grade_id(cell):
    meta = cell.get("metadata")
    nbg = meta.get("nbgrader") if isinstance(meta, dict) else None
    gid = nbg.get("grade_id") if isinstance(nbg, dict) else None
    return gid if isinstance(gid, str) and gid and len(gid) <= 200 else None


def _dotted(node):
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return ".".join([node.id, *reversed(parts)])
    return None


def references(tree):
    """Dotted names an answer cell mentions (imports, attribute chains with import aliases
    resolved, strings) and the names it defines at the top."""
    aliases, refs = {}, set()
    defined = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                refs.add(a.name)
                aliases[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module:
            refs.add(node.module)
            for a in node.names:
                refs.add(f"{node.module}.{a.name}")
                aliases[a.asname or a.name] = f"{node.module}.{a.name}"
    for node in ast.walk(tree):
        if isinstance(node, (ast.Attribute, ast.Name)):
            d = _dotted(node)
            if d:
                refs.add(d)
                head, _, rest = d.partition(".")
                if head in aliases:
                    refs.add(aliases[head] + ("." + rest if rest else ""))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and len(node.value) < 200:
            refs.add(node.value.strip())
    return refs, defined


def static_forbidden(forbidden, trees):
    """``{function: target}`` for graded functions whose answer cell mentions a forbidden target."""
    found = {}
    for tree in trees:
        refs, defined = references(tree)
        for fn in [f for f in forbidden if f in defined] or list(forbidden):
            for t in forbidden[fn]:
                if any(r == t or r.startswith(t + ".") for r in refs):
                    found.setdefault(fn, t)
    return found


def _strip_magics(source):
    return "\n".join("# " + l if l.lstrip().startswith(("%", "!")) else l for l in source.split("\n"))


def _scan(job):
    """Read a submitted notebook: which exercise, its answer sources, syntax errors, forbidden uses."""
    out = {"m": "scan", "invalid": None, "exercise": None, "answers": {}, "notes": [], "syntax": {}, "flagged": {}}
    try:
        nb = json.loads(base64.b64decode(job["nb"]).decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        out["invalid"] = f"not a readable notebook ({type(exc).__name__})"
        return out
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        out["invalid"] = "no list of cells"
        return out
    cells = [c for c in nb["cells"] if isinstance(c, dict)]
    meta = nb.get("metadata")
    tl = meta.get("tipslib") if isinstance(meta, dict) else None
    named = tl.get("exercise") if isinstance(tl, dict) else None
    exercises = job["exercises"]
    if isinstance(named, str) and named:
        ex = named if named in exercises else None  # a notebook of another exercise is not an answer here
    elif job.get("stem") in exercises:
        ex = job["stem"]
    else:
        ids = {_grade_id(c) for c in cells}
        best = max(exercises, key=lambda e: len(ids & set(exercises[e]["answers"])), default=None)
        ex = best if best is not None and ids & set(exercises[best]["answers"]) else None
    out["exercise"] = ex
    if ex is None:
        return out
    spec, answers, seen = exercises[ex], {}, set()
    for cell in cells:
        gid = _grade_id(cell)
        if gid in spec["answers"] and cell.get("cell_type") == "code":
            if gid in seen:
                out["notes"].append(f"answer cell {gid!r} appears more than once; the last one was graded")
            seen.add(gid)
            answers[gid] = _strip_magics(_source(cell))
    trees = []
    for gid in spec["answers"]:
        if gid not in answers:
            out["notes"].append(f"answer cell {gid!r} is missing from the notebook")
            continue
        src = answers[gid]
        if len(src) > job.get("max_cell", 2**20):
            out["notes"].append(f"answer cell {gid!r} is larger than {job.get('max_cell', 2**20) >> 10} KB: "
                                "it was not graded")
            del answers[gid]
            continue
        try:
            trees.append(ast.parse(src))
        except SyntaxError as exc:
            out["syntax"][gid] = f"{str(exc.msg)[:200]} (line {exc.lineno})"
        except (ValueError, MemoryError, RecursionError):  # "-" * 10**5 + "1" is not a SyntaxError
            out["syntax"][gid] = "too deeply nested for Python to compile"
    out["answers"] = answers
    out["flagged"] = static_forbidden(spec["forbidden"], trees)
    return out


def main():  # pragma: no cover - exercised through tipslib check
    """``python -m tipslib.grading._runner FD``: job JSON on stdin, messages on FD."""
    fd = int(sys.argv[1])
    job = json.loads(sys.stdin.buffer.read())
    sys.stdin = open(os.devnull)
    run_job(job, fd)


if __name__ == "__main__":  # pragma: no cover
    main()
