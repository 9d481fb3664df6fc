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
  which the grader's sandboxes then import once, up front (never tipslib's topic
  packages: :func:`topic_package`);
- ``{"m": "done"}`` at the very end.

With ``no_spawn`` the run can start no thread, process or program
(a seccomp filter: ``clone``, ``fork``, ``vfork``, ``execve`` fail with EPERM),
so forbidden code cannot run where the guard does not look.

Two lines of defence against a graded function that runs what it should implement:

- the tipslib packages a forbidden list names are not in the run at all (in any copy of
  tipslib the sandbox shows: a second install in site-packages too) where the
  sandbox can mount (:func:`mask_forbidden`, called by the sandbox's child before the
  job starts; it sets ``job["masked"]``): the zygote never imported them, and their
  folders are covered by a stand-in whose import raises, so neither ``import`` nor
  ``open()`` reaches their code, and nothing in the run can switch that off;
- for the rest (torch built-ins, which the run needs, and tipslib where nothing can be
  mounted: without the sandbox and without root) a profiler around each graded call and
  around whole cells. It lives in the submission's own interpreter, so it is hardened, not
  tamper-proof: what it uses is taken before any submitted code runs (so patching
  ``sys.setprofile``, ``os.write``, ``json`` or this module's classes changes nothing it
  holds), it runs no method of an object the submission made (a ``__repr__`` or
  ``__hash__`` in a code object's constants), it notices being replaced, a call it saw
  begin that never ended (switched off behind its back), and ``sys.setprofile`` called
  by the submission (putting it back). A submission that edits the guards' closures
  through the garbage collector, or reinstalls a profiler through ``ctypes`` with a
  C callback of its own, is not caught.

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
import functools
import importlib
import importlib.util
import json
import os
import pkgutil
import struct
import sys
import types

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


def _error(exc, whole=False):
    """An exception as ``{"type", "msg"}``: the message's first line for a gradebook, or ``whole``
    (``tipslib check`` on a student's own notebook: an expected and a received array span lines)."""
    try:
        msg = str(exc).strip() if not isinstance(exc, SyntaxError) else f"{exc.msg} (line {exc.lineno})"
    except BaseException:  # noqa: BLE001 - a submission's exception may fail to print
        msg = ""
    msg = str(msg)[:4000] if whole else str(msg).split("\n")[0][:300]
    return {"type": str(type(exc).__name__)[:100], "msg": msg}


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

    Returns True when the kernel took it. The Python entry points are refused as well:
    without seccomp they are the only wall (a submission can get round them with ctypes);
    with it, they make a thread started the usual way fail with a PermissionError that says
    why, where the kernel's refusal reads "can't start new thread", a RuntimeError that
    feedback does not name (:data:`tipslib.grading.judge.SHOWN_ERRORS`).
    """
    kernel = False
    arch = os.uname().machine
    if sys.platform == "linux" and arch in _SYSCALLS:  # seccomp and prctl are Linux's
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
        kernel = libc.prctl(38, 1, None, 0, 0) == 0 and libc.prctl(22, 2, ctypes.byref(fprog), 0, 0) == 0

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
    return kernel


# ------------------------------------------------ forbidden library code, out of reach
_MS_RDONLY, _MS_NOSUID, _MS_NODEV, _MS_REMOUNT, _MS_REC, _MS_PRIVATE = 1, 2, 4, 32, 16384, 1 << 18
_CLONE_NEWNS = 0x00020000
STAND_IN = ("raise ImportError({name!r} ' is not available while grading: the exercise asks you to write '\n"
            "                  'this yourself')\n")


def _tipslib_root():
    import tipslib

    return os.path.dirname(os.path.realpath(tipslib.__file__))


def topic_package(module):
    """Whether ``module`` is (in) one of tipslib's topic packages (``tipslib.optim``, ...): the code
    the exercises ask students to write. A grading sandbox never imports one up front, so a
    run that must not use it does not hold it in memory."""
    parts = module.split(".")
    return (len(parts) > 1 and parts[0] == "tipslib" and parts[1] != "grading" and parts[1].isidentifier()
            and os.path.isdir(os.path.join(_tipslib_root(), parts[1])))


#: The folders the sandbox binds (set by the zygote, :func:`tipslib.grading.sandbox.serve`).
SHOWN = ()


@functools.lru_cache(maxsize=None)
def _tipslib_roots():
    """Every copy of the tipslib package this process can see: the one it imported first, then any
    other in a ``sys.path`` folder or in the site-packages of the Python installation (the sandbox
    shows all of it: a second install, by pip beside the checkout the grader runs, is readable too,
    and its code, loaded under another name, is nothing the guards know)."""
    import glob
    import sys

    roots, seen = [_tipslib_root()], set()
    folders = [p for p in sys.path if p]
    for p in SHOWN:  # what the sandbox binds: a package folder, a site folder, a Python installation
        if os.path.basename(p) == "tipslib":
            folders.append(os.path.dirname(p))
        else:
            folders.append(p)
            folders += sorted(glob.glob(os.path.join(p, "lib*/python*/*-packages")))
    for prefix in {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix, "/usr", "/usr/local"}:
        for pattern in ("lib*/python*/*-packages", "local/lib*/python*/*-packages"):
            folders += sorted(glob.glob(os.path.join(prefix, pattern)))
    seen.add(os.path.realpath(roots[0]))
    for folder in folders:
        candidate = os.path.join(folder, "tipslib")
        try:
            real = os.path.realpath(candidate)
            if real not in seen and os.path.isfile(os.path.join(real, "__init__.py")):
                seen.add(real)
                roots.append(real)
        except (OSError, ValueError):
            continue
    return roots


def _forbidden_folders(forbidden):
    """``[(target, folder, covered by an earlier one)]`` for the tipslib packages the lists name, in
    every copy of tipslib in view (:func:`_tipslib_roots`)."""
    out = []
    targets = sorted({t for ts in forbidden.values() for t in ts if isinstance(t, str)})
    for root in _tipslib_roots() if targets else ():
        for t in targets:
            parts = t.split(".")
            if parts[0] != "tipslib" or len(parts) < 2 or parts[1] == "grading" or not all(p.isidentifier() for p in parts):
                continue
            path = os.path.join(root, *parts[1:])
            if os.path.isdir(path) and not os.path.islink(path):
                out.append((t, path, any(path.startswith(p + os.sep) for _, p, _ in out)))
    return out


def mask_forbidden(job):
    """Put the tipslib packages a run must not use out of its reach, before it starts.

    Called in the sandbox's child while it may still mount (before it drops its privileges).
    It first makes a mount namespace of its own, private all the way down, and mounts nothing
    unless both worked: a mount must never reach the grader's (the host's) view of the files.
    There each package folder a forbidden list names (``tipslib.optim``) is covered by an empty
    read-only tmpfs holding only an ``__init__.py`` that raises ImportError. The zygote never
    imported these packages (:func:`topic_package`), so the run has no copy of their code in
    memory, and neither ``import`` nor ``open()`` reaches their files: the check no longer
    rests on a profiler the submission could switch off. Returns the targets covered; ``[]``
    where this process cannot mount (grading without the sandbox and without root), where the
    profiler guards are all there is.
    """
    todo = _forbidden_folders(job.get("forbidden") or {})
    if not todo or sys.platform != "linux":  # mount namespaces are Linux's
        return []
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]

    def mount(src, target, fstype, flags, data=None):
        if libc.mount(src, os.fsencode(target), fstype, flags, data) != 0:
            raise OSError(ctypes.get_errno(), f"cannot mount over {target}")

    done = []
    try:
        if libc.unshare(_CLONE_NEWNS) != 0:
            return []  # no namespace of our own (without root or the sandbox): mount nothing
        mount(b"none", "/", None, _MS_REC | _MS_PRIVATE)
    except OSError:
        return []
    try:
        for target, path, covered in todo:
            if not covered:
                mount(b"tmpfs", path, b"tmpfs", _MS_NOSUID | _MS_NODEV, b"size=16k,nr_inodes=8,mode=755")
                with open(os.path.join(path, "__init__.py"), "w") as f:
                    f.write(STAND_IN.format(name=target))
                try:
                    mount(None, path, None, _MS_REMOUNT | _MS_RDONLY | _MS_NOSUID | _MS_NODEV)
                except OSError:
                    pass  # writable, but empty of the library all the same
            if target not in done:
                done.append(target)
    except OSError:
        pass
    return done


# --------------------------------------------------------- forbidden targets
def _resolve(target, load=True):
    """``("module", [path prefixes], module)`` or ``("callable", obj)`` or ``None``; with ``load``
    false a module target is not imported (it is out of reach: :func:`mask_forbidden`)."""
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
            module = importlib.import_module(target) if load else None
        except Exception:  # noqa: BLE001
            module = None
        return ("module", prefixes, module)
    mod = sys.modules.get(target)
    if isinstance(mod, types.ModuleType) and getattr(mod, "__spec__", None) is None:
        # a namespace a library registers without a spec (torch.ops): the file of its class is its code
        home = getattr(sys.modules.get(type(mod).__module__), "__file__", None)
        if home:
            return ("module", [home], mod)
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


_PLAIN = (int, float, complex, str, bytes, bool, type(None), type(Ellipsis))


def _const(k):
    """A constant of a code object as plain data, without running any of its code: a submission
    can put any object into a code object's constants, with a ``__repr__`` or ``__hash__`` that
    would run inside the profiler, where nothing watches it."""
    t = type(k)
    if t in _PLAIN:
        return (t.__name__, t.__repr__(k))
    if t is tuple or t is frozenset:
        return (t.__name__, tuple(_const(x) for x in tuple.__iter__(k) if not isinstance(x, types.CodeType))
                if t is tuple else len(k))
    return ("?",)


def _text(s):
    return str.__str__(s)  # an exact str, whatever str subclass a submission put there


def _fingerprint(code):
    """Same for a function and an exec'd copy of its source; comprehensions and lambdas are
    too generic to call a copy (a list comprehension of sympy's matched one of tipslib's).
    Built from plain data only: no method of anything a submission made runs here."""
    co_code = bytes.__getitem__(code.co_code, slice(None))
    name = _text(code.co_name)
    if str.startswith(name, "<") or len(co_code) < MIN_COPY:
        return None
    return (name, co_code, tuple(_text(n) for n in code.co_names), tuple(_text(n) for n in code.co_varnames),
            tuple(_const(k) for k in tuple.__iter__(code.co_consts) if type(k) is not types.CodeType))


class _Targets:
    """What one graded function must not run: file prefixes, code objects, built-ins, code copies.

    Code objects are looked up by identity (a code object's hash is that of its constants,
    which a submission can make run its own code).
    """

    def __init__(self, targets, masked=()):
        self.names, self.prefixes, self.codes, self.builtins, self.prints = {}, [], {}, {}, {}
        self.methods = {}  # (class, name) -> target: a built-in method is a new bound object at each call
        for t in targets:
            # a masked package is out of the run's reach: only its stand-in, which raises on import,
            # can run (and tells that the submission tried)
            r = _resolve(t, load=t not in masked)
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
                    self.codes[id(c)] = (c, t)
            else:
                self.builtins[id(r[1])] = (r[1], t)
                owner, name = getattr(r[1], "__objclass__", None), getattr(r[1], "__name__", None)
                if isinstance(owner, type) and isinstance(name, str):  # torch.Tensor.log_softmax
                    self.methods[(owner, name)] = t
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
            entry = self.cache.get(id(code))
            if entry is not None and entry[0] is code:
                return entry[1]
            hit = self.codes.get(id(code))
            hit = hit[1] if hit is not None and hit[0] is code else None
            if hit is None:
                filename = _text(code.co_filename)
                hit = next((t for p, t in self.prefixes if str.startswith(filename, p)), None)
            if hit is None and self.prints:
                try:
                    fp = _fingerprint(code)
                except Exception:  # noqa: BLE001 - an int too long to print: not one of the library's
                    fp = None
                hit = self.prints.get(fp) if fp is not None else None
                hit = f"a copy of {hit}" if hit else None
            self.cache[id(code)] = (code, hit)  # the code stays alive with its entry: its id is not reused
            return hit
        if event == "c_call":
            b = self.builtins.get(id(arg))
            if b is not None and b[0] is arg:
                return b[1]
            if self.methods:
                # logits.log_softmax(1): matched by the class of its object and its name, not by identity
                owner = getattr(arg, "__objclass__", None)
                if owner is None:
                    owner = getattr(arg, "__self__", None)
                    # type(), never isinstance(): that could ask the object (its __class__), i.e. run its code here
                    owner = None if owner is None or issubclass(type(owner), (type, types.ModuleType)) else type(owner)
                if type(owner) is type or issubclass(type(owner), type):
                    name = getattr(arg, "__name__", None)
                    if type(name) is str:
                        for cls in type.__getattribute__(owner, "__mro__"):
                            hit = self.methods.get((cls, name))
                            if hit is not None:
                                return hit
        return None


class _Tools:
    """What the guards use, taken before any submitted code runs: a submission that patches
    ``sys.setprofile``, ``os.write``, ``json`` or this module's classes afterwards changes
    nothing the guards already hold."""

    def __init__(self, fd):
        self.setprofile, self.getprofile = sys.setprofile, sys.getprofile
        self.active = []  # the report functions of the graded calls under way, innermost last
        write, getpid, pid, quote = os.write, os.getpid, os.getpid(), json.encoder.encode_basestring_ascii

        def report(function, what):
            if getpid() != pid:  # a fork of the submission is not the run
                return
            data = str.encode('{"m":"forbidden","function":%s,"module":%s}\n' % (quote(function), quote(what)))
            while data:
                data = data[write(fd, data):]

        self.report = report


REMOVED = "the profiler guard was removed"


def _call_stack(on_break):
    """A profiler's own record of the calls it saw begin: each end must match the last open
    call. A profiler switched off behind its back (``ctypes.pythonapi.PyEval_SetProfile``)
    misses the end of the call that switched it off, so the next end it sees does not match."""
    stack = []
    push, pop = stack.append, stack.pop

    def step(frame, event, arg):
        if event == "call":
            push(frame)
        elif event == "c_call":
            push(arg)
        elif stack and stack[-1] is (frame if event == "return" else arg):
            pop()
        else:
            on_break()

    return stack, step


def _guard(fn, fn_name, hit, tools, reported):
    """Wrap a graded function: any forbidden target run inside its call is reported.

    ``hit`` is its targets' bound ``hit``, taken before any submitted code ran."""
    report_line, active = tools.report, tools.active
    setprofile, getprofile = tools.setprofile, tools.getprofile
    started = [False]

    def report(what):
        if fn_name not in reported:
            reported.add(fn_name)
            report_line(fn_name, what)

    stack, step = _call_stack(lambda: report(REMOVED))

    def profiler(frame, event, arg):
        if fn_name in reported or not started[0]:
            return
        step(frame, event, arg)
        found = hit(event, frame, arg)
        if found:
            report(found)
        # switching the guard off and back on around a call would hide it from the check in
        # `guarded` below; the guard of a nested graded function (same code) is not that
        elif event == "c_call" and arg is setprofile and frame.f_code is not guarded.__code__:
            report(REMOVED)

    def guarded(*args, **kwargs):
        previous = getprofile()
        setprofile(profiler)
        was, started[0] = started[0], True
        depth = len(stack)
        active.append(report)
        try:
            return fn(*args, **kwargs)
        finally:
            active.pop()
            if getprofile() is not profiler or len(stack) != depth:
                report(REMOVED)
            started[0] = was
            setprofile(previous)

    guarded.__wrapped__ = fn
    guarded.__name__ = getattr(fn, "__name__", fn_name)
    return guarded


def _guard_object(obj, fn_name, hit, tools, reported):
    """Guard a graded function, or each method a graded class defines itself."""
    if not isinstance(obj, type):
        return _guard(obj, fn_name, hit, tools, reported)
    for attr, value in list(vars(obj).items()):
        if isinstance(value, (staticmethod, classmethod)):
            setattr(obj, attr, type(value)(_guard(value.__func__, fn_name, hit, tools, reported)))
        elif callable(value) and not isinstance(value, type):
            setattr(obj, attr, _guard(value, fn_name, hit, tools, reported))
    return obj


def _watcher(forbidden, tools, reported, masked=(), instructor=None):
    """A profiler for whole answer and test cells, outside the graded functions too.

    The graded functions' own guards do not see a call of the library's answer made
    elsewhere, e.g. by a patched ``expect`` that finds the test's inputs in its caller's
    frame. A forbidden target run anywhere in a student's cells counts against every
    graded function that must not use it.

    The other targets (torch built-ins) count outside a graded call too, in a test cell, when
    the code that runs them is the student's: a patched recorder (or ``Tensor.backward``)
    recomputed the test's answer with ``F.cross_entropy`` from inputs the graded function
    kept. Test code itself runs such built-ins (autograd on the student's output): a call
    counts only when the first frame above it that is not library code (a file on disk) is
    not the instructor's (``instructor``: the code objects of the setup and test cells, by
    identity). Code a submission compiles under the file name of a library file is not told
    from the library.
    """
    owners, others = {}, {}
    for fn, ts in forbidden.items():
        for t in ts:
            (owners if t.split(".")[0] == "tipslib" else others).setdefault(t, []).append(fn)
    targets = _Targets(list(owners), masked)
    hit, report_line, setprofile = targets.hit, tools.report, tools.setprofile
    other_hit = _Targets(list(others), masked).hit if others and instructor is not None else None
    isfile, library = os.path.isfile, {}
    everyone = list(forbidden)

    def report(fns, what):
        for fn in fns:
            if fn not in reported:
                reported.add(fn)
                report_line(fn, what)

    def kind(code):
        """0: the instructor's (setup and test cells), 1: library code (a file on disk), 2: the student's."""
        mine = instructor.get(id(code))
        if mine is not None and mine is code:
            return 0
        known = library.get(id(code))
        if known is None or known[0] is not code:
            name = _text(code.co_filename)
            known = library[id(code)] = (code, 1 if str.startswith(name, "/") and isfile(name) else 2)
        return known[1]

    def students(f):
        """Whether the first frame from ``f`` up that is not library code is not the instructor's."""
        while f is not None:
            k = kind(f.f_code)
            if k != 1:
                return k == 2
            f = f.f_back
        return False

    marks = []  # frames of the student's code under way in a test cell (outside graded calls)

    stack, step = _call_stack(lambda: report(everyone, REMOVED))
    where = [None]  # the graded function whose answer cell is running, if any
    testing = [False]  # a test cell is running

    def watcher(frame, event, arg):
        step(frame, event, arg)
        found = hit(event, frame, arg)
        if found:
            fns = owners.get(found.removeprefix("a copy of "), ())
            # in an answer cell, the function of that cell (as the scan of its source would say)
            report([where[0]] if where[0] in fns else fns, found)
        elif event == "c_call" and arg is setprofile and frame.f_code.co_filename != __file__:
            report(everyone, REMOVED)
        elif testing[0] and other_hit is not None:
            # only while code of the student's runs (a test cell's own code runs such built-ins all the time)
            if event == "call" and kind(frame.f_code) == 2:
                marks.append(frame)
            elif event == "return" and marks and marks[-1] is frame:
                marks.pop()
            if marks and event in ("call", "c_call"):
                found = other_hit(event, frame, arg)
                if found and students(frame if event == "c_call" else frame.f_back):
                    report(others.get(found.removeprefix("a copy of "), ()), found)

    def check(still_there):
        """After a cell, once the watcher is off: it was still in place, and every call it saw
        begin ended (but the one that switched it off)."""
        if not still_there or len(stack) != 1 or stack[0] is not setprofile:
            report(everyone, REMOVED)
        stack.clear()
        marks.clear()

    watcher.check, watcher.where, watcher.testing = check, where, testing
    watcher.report_all = lambda: report(everyone, REMOVED)
    return watcher


def _tripwire(tools, watcher):
    """``sys.setprofile`` as the submission sees it: the guards hold the real one; a call of this
    one -- putting a profiler back after switching it off behind the guards' back
    (``ctypes.pythonapi.PyEval_SetProfile(None, None)``), which no profiler event shows -- counts
    as removing the guard of the graded call under way (or of all, outside one)."""
    real, active = tools.setprofile, tools.active

    def setprofile(function):
        if active:
            active[-1](REMOVED)
        elif watcher is not None:
            watcher.report_all()
        return real(function)

    setprofile.__doc__, setprofile.__name__, setprofile.__qualname__ = real.__doc__, "setprofile", "setprofile"
    return setprofile


def run_job(job, fd):
    """Execute the job in a fresh namespace and report over ``fd``."""
    tools = _Tools(fd)
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
    masked = set(job.get("masked") or ())
    hits = {fn: _Targets(ts, masked).hit for fn, ts in forbidden.items()}  # bound now, before any submitted code
    guarded_ids, reported = set(), set()
    testing._SEED = job.get("seed")
    if job.get("record", True):
        testing._RECORDER = recorder
        _block_network()
    if job.get("no_spawn"):
        _no_spawn()
    instructor = {}  # the code objects of the setup and test cells, by id (see _watcher)
    watcher = _watcher(forbidden, tools, reported, masked, instructor) if forbidden and not reference else None
    if forbidden:
        sys.setprofile = _tripwire(tools, watcher)
    setprofile, getprofile, run, compile_ = tools.setprofile, tools.getprofile, builtins.exec, builtins.compile
    ns = {"__name__": "__main__", "__builtins__": builtins, "display": lambda *a, **k: None}
    for i, cell in enumerate(job["cells"]):
        for part, source in cell["parts"]:
            current[0], current[1] = i, part
            error = None
            watch = False
            try:
                code = compile_(source, f"<{cell['kind']} cell {cell.get('grade_id') or i}>", "exec")
                if watcher is not None and cell["kind"] != "answer":
                    todo = [code]
                    while todo:  # the cell's code and every function, class, comprehension in it
                        c = todo.pop()
                        instructor[id(c)] = c
                        todo += [k for k in c.co_consts if type(k) is types.CodeType]
                if watcher is not None and cell["kind"] != "setup":
                    watcher.where[0] = cell.get("grade_id") if cell["kind"] == "answer" else None
                    watcher.testing[0] = cell["kind"] == "test"
                    setprofile(watcher)
                    watch = True
                run(code, ns)
            except BaseException as exc:  # noqa: BLE001 - a submission may raise anything, SystemExit included
                error = _error(exc, whole=bool(job.get("whole_messages")))
            finally:
                if watch:
                    still_there = getprofile() is watcher
                    setprofile(None)
                    watcher.check(still_there)
            channel.send({"m": "end", "cell": i, "part": part, "error": error})
            if cell["kind"] == "answer":
                for fn, hit in hits.items():
                    obj = ns.get(fn)
                    if callable(obj) and id(obj) not in guarded_ids:
                        ns[fn] = _guard_object(obj, fn, hit, tools, reported)
                        guarded_ids.add(id(ns[fn]))
            if error is not None:
                break  # like a notebook: the rest of this cell does not run
    if job.get("report_modules"):  # the reference run: what the sandboxes should import up front
        channel.send({"m": "modules", "v": sorted(m for m in set(sys.modules) - already if not topic_package(m))})
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
    # a chain ``a.b.c`` is read once, from its outermost node (one walk of the tree in all): reading it
    # again from each inner ``Attribute`` -- each a prefix of the whole, which the targets match by
    # prefix anyway -- was quadratic, 20 s for a 1 MB cell of long chains
    chains, inner = [], set()
    for node in ast.walk(tree):
        kind = type(node)
        if kind is ast.Attribute:
            inner.add(id(node.value))
            chains.append(node)
        elif kind is ast.Name:
            chains.append(node)
        elif kind is ast.Constant:
            if isinstance(node.value, str) and len(node.value) < 200:
                refs.add(node.value.strip())
        elif kind is ast.Import:
            for a in node.names:
                refs.add(a.name)
                aliases[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
        elif kind is ast.ImportFrom and node.module:
            refs.add(node.module)
            for a in node.names:
                refs.add(f"{node.module}.{a.name}")
                aliases[a.asname or a.name] = f"{node.module}.{a.name}"
    for node in chains:
        if id(node) in inner:
            continue
        d = _dotted(node)
        if d:
            refs.add(d)
            head, _, rest = d.partition(".")
            if head in aliases:
                refs.add(aliases[head] + ("." + rest if rest else ""))
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
