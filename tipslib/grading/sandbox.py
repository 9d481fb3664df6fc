"""Process isolation for student code: a fork server ("zygote") per grading slot.

The judge starts one zygote per ``--jobs`` slot (a fresh Python running
:func:`serve`). It imports the heavy libraries the exercise uses once, then,
for each submission, forks a child that

- starts a new session (its own process group), closes every inherited file
  descriptor except a private result pipe (fd 3), and sends stdin/stdout/stderr
  to ``/dev/null`` -- so printing fake results goes nowhere;
- runs in a fresh empty temporary folder, with a minimal environment;
- gets ``RLIMIT_AS`` (the preloaded libraries plus ``--memory`` MB),
  ``RLIMIT_CPU``, ``RLIMIT_NPROC``, ``RLIMIT_FSIZE``, ``RLIMIT_NOFILE`` and no
  core files;
- when the grader runs as root: lives in a network namespace with no
  interfaces (``unshare(CLONE_NEWNET)``, done once by the zygote) and drops to
  an unprivileged uid/gid of its own, without supplementary groups, so
  instructor files with mode 0600/0700 are unreadable. Each slot gets its own
  uid (no passwd entry needed), so process-count limits and the final
  "kill everything this uid owns" clean-up never touch another sandbox;
- when the grader runs as root: a private mount namespace (made once by the
  zygote) with fresh root-owned tmpfs over /tmp, /var/tmp and /dev/shm (no
  scratch space shared between runs) and an empty tmpfs over the instructor
  sources, the submissions and the output folders; if Python lives under a
  folder others cannot enter (a pyenv in /root), only Python is bound back,
  and if it lives under /tmp (a venv in a checkout there) it is bound back
  into the fresh tmpfs;
- always: ``socket`` is replaced by a stub that raises (see ``_runner``).

Not protected: student code shares its process with the test cells that test
it, so it can see their code (hidden part included) in memory. It can only
send back plain values, which the judge compares in its own process, and the
feedback never shows the text of an error raised in a hidden part, nor an
error message elsewhere that quotes a line of the tests.

Each job crosses from the judge to the child *after* the fork, through a
buffer the zygote zeroes afterwards, so no child ever has another run's cells
(the instructor's solution, another student's answers) in its memory; the
reference runs get a zygote of their own anyway. A zygote pre-imports the
modules the reference run imported, so a submission does not pay for them.

The zygote enforces the wall-clock timeout: it kills the child's process
group and then every process of the slot's uid (forks that escaped the group
with ``setsid``), and reaps orphans as a child subreaper. It relays the
child's result lines to the judge prefixed ``C``, and ends each run with one
``Z`` line of its own (exit status, signal, timeout, peak memory).
Without root the same runs happen without the network namespace and the uid
switch; :func:`features` says which protections are in effect.
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time

__all__ = ["Sandbox", "features", "serve", "SandboxError"]

CLONE_NEWNET = 0x40000000
PR_SET_CHILD_SUBREAPER = 36
MAX_OUTPUT = 64 * 2**20      # bytes of result lines one run may send
NPROC = 16                   # processes/threads per sandbox uid
FSIZE = 16 * 2**20
CHILD_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "MPLBACKEND": "Agg",
             "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


class SandboxError(RuntimeError):
    """The zygote itself failed (not the submission)."""


def features() -> dict:
    """Which protections this machine gives (root: uid switch and network namespace)."""
    root = os.geteuid() == 0
    return {"rlimits": True, "process_group_kill": True, "socket_stub": True,
            "uid_switch": root, "network_namespace": root and _can_unshare_net()}


def _can_unshare_net():
    return subprocess.call(["unshare", "-n", "true"], stderr=subprocess.DEVNULL) == 0 if shutil.which("unshare") else False


# --------------------------------------------------------------- zygote side
def _libc():
    return ctypes.CDLL(None, use_errno=True)


MS_BIND, MS_REC, MS_PRIVATE = 4096, 16384, 1 << 18
CLONE_NEWNS = 0x00020000


def _mount(src, target, fstype, flags, data=None):
    enc = (lambda x: x.encode() if x else None)
    if _libc().mount(enc(src), enc(target), enc(fstype), flags, enc(data)) != 0:
        raise OSError(ctypes.get_errno(), f"mount {target}: {os.strerror(ctypes.get_errno())}")


def _blocked_ancestor(path):
    """The highest folder above ``path`` that other users cannot enter (None if all can)."""
    parts = os.path.abspath(path).split(os.sep)[1:]
    for i in range(1, len(parts)):
        d = os.sep + os.path.join(*parts[:i])
        try:
            if not os.stat(d).st_mode & 0o001:
                return d
        except OSError:
            return None
    return None


def _private_filesystem(hide):
    """In the zygote (root): a mount namespace the sandboxes inherit.

    - fresh root-owned tmpfs over /tmp, /var/tmp and /dev/shm (no shared
      scratch space between submissions; each run gets its own folder);
    - an empty tmpfs over each folder in ``hide`` (instructor sources, the
      submissions, the output folder), unless Python needs something inside;
    - if Python itself lives under a folder others cannot enter (e.g. a pyenv
      in /root), that folder is replaced by a tmpfs holding only Python, so the
      unprivileged uid can import while the rest stays out of reach.
    """
    _libc()
    if _libc().unshare(CLONE_NEWNS) != 0:
        return False
    _mount("none", "/", None, MS_REC | MS_PRIVATE)
    import tipslib

    python_dirs = [sys.base_prefix, sys.prefix, *sys.path, os.path.dirname(tipslib.__file__)]
    needed = sorted({os.path.realpath(p) for p in python_dirs if p and os.path.isdir(p)})
    blocked = {}
    for p in needed:
        a = _blocked_ancestor(p)
        if a is not None:
            blocked.setdefault(a, []).append(p)
    for top, inside in blocked.items():
        staging = tempfile.mkdtemp()
        _mount(top, staging, None, MS_BIND | MS_REC)
        _mount("tmpfs", top, "tmpfs", 0, "mode=755,size=1m")
        for p in inside:
            os.makedirs(p, mode=0o755, exist_ok=True)
            _mount(os.path.join(staging, os.path.relpath(p, top)), p, None, MS_BIND | MS_REC)
    for d in ("/tmp", "/var/tmp", "/dev/shm"):
        if os.path.isdir(d):
            # Python itself may live under a scratch folder (a venv in a checkout
            # under /tmp, as in CI): keep a handle on the old folder and bind
            # those paths back into the fresh tmpfs.
            inside = [p for p in needed if p.startswith(d.rstrip("/") + os.sep)]
            old = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
            try:
                _mount("tmpfs", d, "tmpfs", 0, "mode=755")
                for p in inside:
                    os.makedirs(p, mode=0o755, exist_ok=True)
                    _mount(f"/proc/self/fd/{old}/{os.path.relpath(p, d)}", p, None, MS_BIND | MS_REC)
            finally:
                os.close(old)
    for d in hide:
        d = os.path.realpath(d)
        if os.path.isdir(d) and not any(p == d or p.startswith(d + os.sep) for p in needed):
            _mount("tmpfs", d, "tmpfs", 0, "mode=755,size=1m")
    return True


def _address_space():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[0]) * resource.getpagesize()


def _child(job_fd, tmp, write_fd, uid, memory_mb, cpu_s):
    """In the forked child: read its job, isolate, limit, drop privileges, run. Never returns."""
    code = 0
    try:
        os.setsid()
        chunks = []
        while True:
            data = os.read(job_fd, 1 << 20)
            if not data:
                break
            chunks.append(data)
        os.close(job_fd)
        job = json.loads(b"".join(chunks))
        del chunks
        os.dup2(write_fd, 3)
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        os.closerange(4, resource.getrlimit(resource.RLIMIT_NOFILE)[0])
        os.chdir(tmp)
        os.environ.clear()
        os.environ.update(CHILD_ENV, HOME=tmp, TMPDIR=tmp, MPLCONFIGDIR=tmp)
        sys.argv = [""]
        tempfile.tempdir = tmp
        limit = _address_space() + memory_mb * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 1))
        resource.setrlimit(resource.RLIMIT_FSIZE, (FSIZE, FSIZE))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))
        if uid is not None:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
        # per uid: with the slot's own uid this is the sandbox's budget; without root it
        # counts all of your processes, so the submission can then start none at all
        resource.setrlimit(resource.RLIMIT_NPROC, (NPROC, NPROC))
        from ._runner import run_job
        run_job(job, 3)
    except BaseException:  # noqa: BLE001 - the run's end is reported by the zygote
        code = 70
    finally:
        os._exit(code)


def _kill_uid(uid):
    """Kill every process owned by ``uid`` (run as that uid: kill(-1) reaches exactly those)."""
    pid = os.fork()
    if pid == 0:
        try:
            os.setgid(uid)
            os.setuid(uid)
            os.kill(-1, signal.SIGKILL)
        except BaseException:  # noqa: BLE001
            pass
        os._exit(0)
    os.waitpid(pid, 0)


def _reap(patience=0.0):
    """Collect dead orphans (the zygote is their subreaper); wait up to ``patience`` s for
    the ones just sent SIGKILL, so no zombie outlives its run."""
    deadline = time.monotonic() + patience
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            if time.monotonic() >= deadline:
                return
            time.sleep(0.002)


class _Relay:
    """Pass the child's result lines on, prefixed ``C``, up to :data:`MAX_OUTPUT` bytes."""

    def __init__(self, out):
        self.out, self.pending, self.total, self.too_much = out, b"", 0, False

    def feed(self, data):
        self.total += len(data)
        if self.total > MAX_OUTPUT:
            self.too_much = True
            return
        *lines, self.pending = (self.pending + data).split(b"\n")
        for line in lines:
            self.out.write(b"C " + line + b"\n")


HEADER = 64          # bytes: "timeout memory_mb payload_size", space padded, newline


def _read_exactly(fd, view):
    got = 0
    while got < len(view):
        n = os.readv(fd, [view[got:]])
        if n == 0:
            raise EOFError
        got += n


def _run_one(header, out, uid, buf):
    """One run. The job itself is copied from stdin to the child through ``buf``
    *after* the fork and ``buf`` is zeroed afterwards, so no child ever has
    another run's cells (the instructor's solution, another student's answers)
    in its memory."""
    timeout, memory_mb, size = header.split()
    timeout, memory_mb, size = float(timeout), int(memory_mb), int(size)
    tmp = tempfile.mkdtemp(prefix="tipslib-sandbox-")
    if uid is not None:
        os.chown(tmp, uid, uid)
    os.chmod(tmp, 0o700)
    r, w = os.pipe()
    jr, jw = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        os.close(jw)
        _child(jr, tmp, w, uid, memory_mb, max(1, int(timeout) + 1))
    os.close(w)
    os.close(jr)
    view, left, child_reads = memoryview(buf), size, True
    while left:
        n = min(left, len(buf))
        _read_exactly(0, view[:n])
        left -= n
        sent = 0
        while child_reads and sent < n:
            try:
                sent += os.write(jw, view[sent:n])
            except BrokenPipeError:  # the child died early; keep reading stdin in step
                child_reads = False
    view[:] = bytes(len(buf))
    os.close(jw)
    t0 = time.monotonic()
    os.set_blocking(r, False)
    pidfd = os.pidfd_open(pid)
    deadline = t0 + timeout
    relay = _Relay(out)
    timed_out = exited = False
    while not relay.too_much:
        left = deadline - time.monotonic()
        ready = select.select([r, pidfd], [], [], left)[0] if left > 0 else []
        if not ready:
            timed_out = True
            break
        try:
            data = os.read(r, 1 << 20)
        except BlockingIOError:  # only the exit is ready
            data = None
        if data:
            relay.feed(data)
            continue
        # the child exited, or closed its pipe (then wait for the exit itself)
        exited = bool(select.select([pidfd], [], [], max(0.0, deadline - time.monotonic()))[0])
        timed_out = not exited
        break
    if not exited or relay.too_much:
        for kill in (os.killpg, os.kill):  # the group may not exist yet if the child just started
            try:
                kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
    _, status, usage = os.wait4(pid, 0)
    wall = time.monotonic() - t0
    try:  # what the child wrote just before exiting
        while not (timed_out or relay.too_much):
            data = os.read(r, 1 << 20)
            if not data:
                break
            relay.feed(data)
    except BlockingIOError:  # a leftover fork still holds the pipe open
        pass
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    if uid is not None:
        _kill_uid(uid)
    _reap(patience=2.0 if uid is not None else 0.0)
    os.close(r)
    os.close(pidfd)
    shutil.rmtree(tmp, ignore_errors=True)
    end = {"exit": os.waitstatus_to_exitcode(status), "timed_out": timed_out, "too_much_output": relay.too_much,
           "wall_s": round(wall, 4), "maxrss_kb": usage.ru_maxrss, "cpu_s": round(usage.ru_utime + usage.ru_stime, 4)}
    out.write(b"Z " + json.dumps(end).encode() + b"\n")
    out.flush()


def serve(uid=None, preload=(), hide=()):
    """The zygote's main loop: jobs on stdin (a fixed-size header, then the JSON), results on stdout."""
    import importlib

    out = sys.stdout.buffer
    for name in preload:
        try:
            importlib.import_module(name)
        except (Exception, SystemExit):  # noqa: BLE001 - a module may be missing; the run will say so
            pass
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)
    import tipslib.grading._runner  # noqa: F401 - preload what every child needs
    import tipslib.grading.plain  # noqa: F401
    netns = private_fs = False
    if uid is not None:
        netns = _libc().unshare(CLONE_NEWNET) == 0
        try:
            private_fs = _private_filesystem(hide)
        except OSError as exc:
            private_fs = str(exc)
        _libc().prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    out.write(b"Z " + json.dumps({"ready": True, "network_namespace": netns, "private_filesystem": private_fs}).encode() + b"\n")
    out.flush()
    buf, head = bytearray(1 << 20), bytearray(HEADER)
    while True:
        try:
            _read_exactly(0, memoryview(head))
        except EOFError:
            return
        _run_one(head.decode(), out, uid, buf)


# ---------------------------------------------------------------- judge side
class Sandbox:
    """One grading slot: a zygote process and the runs it makes.

    ``uid``: the unprivileged uid its children switch to (root only; ``None``
    otherwise). ``preload``: modules to import once in the zygote.
    """

    def __init__(self, uid=None, preload=(), hide=()):
        if uid is not None and os.geteuid() != 0:
            uid = None
        self.uid, self.preload, self.hide = uid, tuple(preload), [os.path.realpath(h) for h in hide]
        self.proc = None
        self.info = {}
        self._buf = b""

    def start(self):
        self.spawn()
        return self.wait_ready()

    def spawn(self):
        """Start the zygote without waiting for it (several can import their libraries at once)."""
        env = dict(os.environ, **{k: v for k, v in CHILD_ENV.items() if k != "PATH"})
        code = "import sys, json; from tipslib.grading.sandbox import serve; serve(*map(json.loads, sys.argv[1:4]))"
        args = [json.dumps(self.uid), json.dumps(list(self.preload)), json.dumps(self.hide)]
        self.proc = subprocess.Popen([sys.executable, "-c", code, *args],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, cwd=tempfile.gettempdir(),
                                     start_new_session=True)
        return self

    def wait_ready(self):
        kind, payload = self._read_line(300)
        if kind != "Z":
            raise SandboxError("the sandbox did not start")
        self.info = json.loads(payload)
        return self

    def close(self):
        if self.proc is not None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    def _read_line(self, timeout):
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise SandboxError("the sandbox stopped answering")
            data = os.read(fd, 1 << 20)
            if not data:
                raise SandboxError("the sandbox exited")
            self._buf += data
        line, self._buf = self._buf.split(b"\n", 1)
        return line[:1].decode(errors="replace"), line[2:]

    def run(self, job, *, timeout=30.0, memory_mb=1024):
        """Run one job; returns ``(child_lines, end)``: the raw result lines and the zygote's end record."""
        if self.proc is None or self.proc.poll() is not None:
            self.start()
        payload = json.dumps(job).encode()
        header = f"{float(timeout):.3f} {int(memory_mb)} {len(payload)}".ljust(HEADER - 1).encode() + b"\n"
        lines = []
        try:
            self.proc.stdin.write(header + payload)
            self.proc.stdin.flush()
            while True:
                kind, payload = self._read_line(timeout + 60)
                if kind == "C":
                    lines.append(payload)
                elif kind == "Z":
                    return lines, json.loads(payload)
        except (SandboxError, OSError, ValueError) as exc:
            self._kill()
            raise SandboxError(f"the sandbox failed: {exc}") from None

    def _kill(self):
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            self.proc.wait()
            self.proc = None
            self._buf = b""
