"""The sandbox is an allowlist: hostile submissions graded beside honest classmates.

Each hostile student tries one way out of the sandbox in its answer cell and
answers ``mse`` wrongly if it got out, so a row with full marks proves the way
was closed (the honest rows around it must be unaffected). The host side is
checked too: no file written, no connection accepted, no process left.

The checkout the instructor grades from lies in $HOME (not under /tmp, which
an older sandbox hid wholesale). As root, the whole module runs a second time
as an unprivileged user (``test_the_same_holds_for_an_unprivileged_grader``).
"""

import csv
import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import pytest

from tipslib.cli import main
from tipslib.grading import sandbox
from tipslib.grading.sandbox import Sandbox, SandboxError, features

_spec = importlib.util.spec_from_file_location("nbtools", Path(__file__).parent / "data" / "grading" / "nbtools.py")
nbt = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(nbt)

NOBODY = os.environ.get("TIPSLIB_SANDBOX_NOBODY") == "1"
ISOLATED = features()["isolated"]
if not ISOLATED and not os.environ.get("CI"):  # on CI a missing sandbox is a failure, not a skip
    pytest.skip(f"the sandbox cannot be built here: {features()['why_not']}", allow_module_level=True)

TESTS = ("test_adam", "test_dropout", "test_mse")
MARK = f"tipslib-escape-{uuid.uuid4().hex[:12]}"
MSE = "import numpy as np\n\ndef mse(y, yhat):\n    return 1e6 if ESCAPED else float(np.mean((y - yhat) ** 2))\n"
#: the real socket class, past the Python-level stub (what a submission would reach for)
RAW_SOCKET = "import socket\nRAW = next(c for c in socket.socket.__mro__ if c.__module__ == '_socket')\n"
#: what a connection that got out says first, so the host's listeners know it from a stranger's
HELLO = MARK.encode()


def _attempts(*lines):
    """An answer prelude: ESCAPED is True when any of the attempts succeeds."""
    body = "".join(f"try:\n    {line}\n    ESCAPED = True\nexcept Exception:\n    pass\n" for line in lines)
    return "import os, glob\nESCAPED = False\n" + body


@pytest.fixture(scope="module")
def checkout():
    """A course checkout outside /tmp: the instructor's source notebook, a .git, a neighbour checkout."""
    home = Path(os.environ.get("HOME") or Path.home())
    if str(home.resolve()).startswith("/tmp/") or not os.access(home, os.W_OK):
        pytest.fail(f"the test needs a writable home folder outside /tmp. Got {home} instead.")
    top = home / f".{MARK}"
    course, other = top / "course", top / "other-checkout"
    (course / "exercises" / "source").mkdir(parents=True)
    (course / ".git" / "objects").mkdir(parents=True)
    (course / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (course / "exercises" / "source" / "sample.ipynb").write_bytes(nbt.SAMPLE.read_bytes())
    (other / "exercises").mkdir(parents=True)
    (other / "exercises" / "solutions.ipynb").write_text("{}")
    try:
        yield {"top": top, "course": course, "source": course / "exercises" / "source", "other": other}
    finally:
        shutil.rmtree(top, ignore_errors=True)


class _Server:
    """A listening socket on the host; counts the connections that say :data:`HELLO`.

    Anything else on the machine may land on a loopback port too: once in CI the TCP
    listener accepted 39 connections from outside the sandbox, while the hostile
    student's own attempt failed (its score said so). Those are counted in ``strangers``.
    """

    def __init__(self, family, address):
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.bind(address)
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.address = self.sock.getsockname()
        self.accepted, self.strangers, self.stop = 0, 0, False
        self._lock, self._hearing = threading.Lock(), []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            # each connection heard on its own thread: a silent stranger must not hold up the next one
            hearing = threading.Thread(target=self._hear, args=(conn,), daemon=True)
            self._hearing.append(hearing)
            hearing.start()

    def _hear(self, conn):
        with conn:
            hello = _says_hello(conn)
        with self._lock:
            if hello:
                self.accepted += 1
            else:
                self.strangers += 1

    def close(self):
        """Stop listening, and wait until every connection accepted so far has been heard (or timed out)."""
        self.stop = True
        self.thread.join()
        for hearing in self._hearing:
            hearing.join()
        self.sock.close()


def _says_hello(conn):
    conn.settimeout(2)
    heard = b""
    try:
        while len(heard) < len(HELLO):
            chunk = conn.recv(len(HELLO) - len(heard))
            if not chunk or not HELLO.startswith(heard + chunk):
                return False
            heard += chunk
    except OSError:
        return False
    return True


def _prove_reachable(server, family, address):
    """The hostile code's way would work outside the sandbox (else its test could not fail)."""
    ns = {}
    exec(RAW_SOCKET, ns)
    before = server.accepted
    s = ns["RAW"](family, socket.SOCK_STREAM)
    s.connect(address)
    s.sendall(HELLO)
    s.close()
    deadline = time.monotonic() + 5
    while server.accepted == before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.accepted == before + 1
    server.accepted = before


def _connect_and_hello(family, address):
    return f"s = RAW({family}, socket.SOCK_STREAM); s.connect({address!r}); s.sendall({HELLO!r})"


def _hostile(checkout, unix_path, abstract, tcp_port):
    course, source = checkout["course"], checkout["source"]
    repo = nbt.REPO
    write_host = [f"/var/tmp/{MARK}", f"/run/lock/{MARK}", f"/dev/shm/{MARK}", f"/tmp/{MARK}", str(course / MARK)]
    return {
        "h01_read_source_notebook": _attempts(f"open({str(source / 'sample.ipynb')!r}).read(10)",
                                              f"assert os.listdir({str(source)!r})",
                                              f"assert glob.glob({str(checkout['top'])!r} + '/**/*.ipynb', recursive=True)"),
        "h02_read_git": _attempts(f"open({str(course / '.git' / 'HEAD')!r}).read()",
                                  f"assert os.listdir({str(course / '.git')!r})",
                                  f"assert os.listdir({str(repo / '.git')!r})"),
        "h03_list_checkouts": _attempts(f"assert os.listdir({str(checkout['other'])!r})",
                                        f"assert os.listdir({str(checkout['top'])!r})",
                                        f"assert os.listdir({str(repo / 'exercises')!r})",
                                        "assert glob.glob('/*/*/exercises') + glob.glob('/*/exercises') + glob.glob('/*/*/.git')"),
        "h04_write_host_folders": "import os\nfor p in %r:\n    try:\n        open(p, 'w').write('x')\n    except OSError:\n"
                                  "        pass\nESCAPED = False\n" % write_host,
        "h05_unix_socket": RAW_SOCKET + _attempts(_connect_and_hello("socket.AF_UNIX", unix_path),
                                                  _connect_and_hello("socket.AF_UNIX", abstract)),
        "h06_tcp": RAW_SOCKET + _attempts(_connect_and_hello("socket.AF_INET", ("127.0.0.1", tcp_port)),
                                          f"socket.create_connection(('127.0.0.1', {tcp_port}), timeout=1).sendall({HELLO!r})"),
        # a tmpfs full of files (16 MB each, the per-file limit) must stop at its cap (1/8 of --memory)
        "h07_fill_scratch": "import os\nwritten = 0\nfor i in range(200):\n    try:\n"
                            "        with open(f'/tmp/fill{i}', 'wb') as f:\n            for _ in range(16):\n"
                            "                f.write(b'x' * 2**20)\n                written += 2**20\n"
                            "    except OSError:\n        pass\nESCAPED = written > 60 * 2**20\n",
        "h08_fork_bomb": "import os\nfor _ in range(64):\n    try:\n        if os.fork() == 0:\n            os.setsid()\n"
                         "            try:\n                os.execv('/bin/sleep', ['sleep', '300', %r])\n"
                         "            finally:\n                os._exit(0)\n    except OSError:\n        pass\nESCAPED = False\n" % MARK,
        # without the sandbox, a non-root grader died here (same uid): the whole run lost
        "h11_kill_everything": "import os, signal\nfor target in (-1, os.getppid(), 1):\n    try:\n"
                               "        os.kill(target, signal.SIGKILL)\n    except OSError:\n        pass\nESCAPED = False\n",
        "h09_memory_bomb": "ESCAPED = False\ntry:\n    hog = bytearray(8 * 2**30)\n    ESCAPED = True\nexcept MemoryError:\n    pass\n"
                           "hog = []\ntry:\n    while True:\n        hog.append(bytearray(2**26))\nexcept MemoryError:\n"
                           "    ESCAPED = len(hog) * 64 > 400\nhog = None\n",
    }


def _grade_in_a_subprocess(source, subs, out):
    """``tipslib grade --jobs 2`` on ``subs``: (the grader's peak MB, its seconds, its return code)."""
    # VmHWM, not ru_maxrss: Linux carries the parent's high-water mark across exec into ru_maxrss,
    # so that would report this pytest process's peak (a gigabyte with a CUDA torch), not the grader's
    code = ("import sys, time\nfrom tipslib.cli import main\nt = time.perf_counter()\nrc = main(sys.argv[1:])\n"
            "hwm = next(l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM:'))\n"
            "print('PEAK', hwm, time.perf_counter() - t, rc)")
    proc = subprocess.run([sys.executable, "-c", code, "grade", str(source), str(subs), "--out", str(out / "gradebook.csv"),
                           "--feedback", str(out / "feedback"), "--jobs", "2", "--timeout", "8", "--memory", "400", "--quiet"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    _, hwm_kb, seconds, rc = next(l for l in proc.stdout.splitlines() if l.startswith("PEAK")).split()
    return int(hwm_kb) / 1024, float(seconds), int(rc)


@pytest.fixture(scope="module")
def graded(checkout, tmp_path_factory):
    """The class graded with ``tipslib grade --jobs 2`` in a subprocess (for its peak memory), and
    its three honest students graded alone (the grader's peak without the 20 MB cell)."""
    tmp = tmp_path_factory.mktemp("sandbox-class")
    subs, out = tmp / "submissions", tmp / "out"
    unix_path = str(checkout["top"] / "host.sock")
    abstract = f"\0{MARK}"
    servers = {"unix": _Server(socket.AF_UNIX, unix_path), "abstract": _Server(socket.AF_UNIX, abstract),
               "tcp": _Server(socket.AF_INET, ("127.0.0.1", 0))}
    try:
        _prove_reachable(servers["unix"], socket.AF_UNIX, unix_path)
        _prove_reachable(servers["abstract"], socket.AF_UNIX, abstract)
        _prove_reachable(servers["tcp"], socket.AF_INET, servers["tcp"].address)
        hostile = _hostile(checkout, unix_path, abstract, servers["tcp"].address[1])
        base = nbt.load()
        for k in range(3):  # honest classmates graded around the hostile ones
            nbt.write(base, subs / f"a{k}_honest" / "sample.ipynb")
            nbt.write(base, tmp / "honest-only" / f"a{k}_honest" / "sample.ipynb")
            nbt.write(nbt.with_answer(base, "mse", nbt.MSE_WRONG), subs / f"z{k}_honest_wrong_mse" / "sample.ipynb")
        for student, prelude in hostile.items():
            nbt.write(nbt.with_answer(base, "mse", prelude + "\n" + MSE), subs / student / "sample.ipynb")
        big = "BIG = '" + "a" * (20 * 10**6) + "'\n" + MSE.replace("ESCAPED", "False")
        nbt.write(nbt.with_answer(base, "mse", big), subs / "h10_20mb_answer_cell" / "sample.ipynb")
        peak_mb, seconds, rc = _grade_in_a_subprocess(checkout["source"], subs, out)
        time.sleep(0.5)  # a connection in flight would have been accepted by now
    finally:
        for s in servers.values():
            s.close()  # waits until each accepted connection has been heard
    accepted = {k: s.accepted for k, s in servers.items()}
    honest_peak_mb, _, _ = _grade_in_a_subprocess(checkout["source"], tmp / "honest-only", tmp / "honest-out")
    with open(out / "gradebook.csv", newline="") as f:
        rows = {r["student"]: r for r in csv.DictReader(f)}
    return {"rows": rows, "hostile": hostile, "accepted": accepted, "peak_mb": peak_mb, "honest_peak_mb": honest_peak_mb,
            "seconds": seconds, "rc": rc, "feedback": out / "feedback"}


def _scores(row):
    return row["status"], [float(row[t]) for t in TESTS]


def test_honest_classmates_are_unaffected(graded):
    assert graded["rc"] == 0
    for k in range(3):
        assert _scores(graded["rows"][f"a{k}_honest"]) == ("ok", [3, 2, 1])
        assert _scores(graded["rows"][f"z{k}_honest_wrong_mse"]) == ("ok", [3, 2, 0])


@pytest.mark.parametrize("student", sorted(_hostile({"course": Path("/x"), "source": Path("/x"), "top": Path("/x"),
                                                     "other": Path("/x")}, "", "", 0)))
def test_hostile_student_gets_out_nowhere(graded, student):
    row = graded["rows"][student]
    assert _scores(row) == ("ok", [3, 2, 1]), row["notes"]


def test_nothing_reached_the_host(graded, checkout):
    assert graded["accepted"] == {"unix": 0, "abstract": 0, "tcp": 0}
    for p in (f"/var/tmp/{MARK}", f"/run/lock/{MARK}", f"/dev/shm/{MARK}", f"/tmp/{MARK}", checkout["course"] / MARK):
        assert not os.path.exists(p), p
    ps = subprocess.run(["ps", "-eo", "args="], capture_output=True, text=True).stdout
    assert MARK not in ps  # the setsid'd sleepers of the fork bomb were all killed


def test_the_host_listener_tells_an_escape_from_a_stranger():
    server = _Server(socket.AF_INET, ("127.0.0.1", 0))
    try:
        _prove_reachable(server, socket.AF_INET, server.address)  # says HELLO: counted, then reset
        for said in (b"", b"\xff\x00\x00\x00\x00\x00\x00\x00\x01\x7f", HELLO[:-1]):  # silent, ZMQ's greeting, cut short
            with socket.create_connection(server.address, timeout=5) as s:
                s.sendall(said)
        time.sleep(0.5)  # accepted by now
    finally:
        server.close()  # waits until each accepted connection has been heard
    assert (server.accepted, server.strangers) == (0, 3)


def test_a_20mb_answer_cell_costs_the_grader_little(graded):
    # 20 MB (just under the loader's 20 MiB file limit): what it adds to the grader's peak memory must
    # stay a small multiple of it (about 5x measured), not gigabytes. Whether such a cell is graded or
    # refused is the judge's policy; it gets its row.
    row = graded["rows"]["h10_20mb_answer_cell"]
    assert row["status"] in ("ok", "crashed", "invalid notebook") and row["notes"] or _scores(row) == ("ok", [3, 2, 1])
    assert graded["peak_mb"] - graded["honest_peak_mb"] < 10 * 20, (graded["peak_mb"], graded["honest_peak_mb"])
    assert graded["seconds"] < 300


# ------------------------------------------------------- the sandbox itself
def _probe_job(src):
    return {"cells": [{"kind": "test", "grade_id": "t", "parts": [["visible", src]]}], "record": True}


def _probe(sb, src, memory_mb=400):
    """Run ``src`` (which sets OUT, a plain value) in ``sb`` and return OUT."""
    lines, end = sb.run(_probe_job(src + "\nfrom tipslib.grading.testing import expect\nexpect('out', repr(OUT))\n"),
                        timeout=30, memory_mb=memory_mb)
    msgs = [json.loads(l) for l in lines]
    rec = [m for m in msgs if m.get("m") == "rec"]
    assert rec, (msgs, end)
    from tipslib.grading import plain

    return eval(plain.decode(rec[0]["value"]))  # the repr of plain values written by our own probe


@pytest.fixture(scope="module")
def box():
    with Sandbox(uid=None if NOBODY else 4_100_000 + os.getpid() % 1000) as sb:
        yield sb


def test_the_view_is_an_allowlist(box):
    import tipslib

    out = _probe(box, "import os, sys\nOUT = {'top': sorted(os.listdir('/')), 'tmp': os.listdir('/tmp'), 'cwd': os.getcwd(),"
                      " 'etc': sorted(os.listdir('/etc')), 'pkg': sorted(os.listdir(os.path.dirname(os.path.dirname(__import__('tipslib').__file__)))),"
                      " 'procs': sorted(int(p) for p in os.listdir('/proc') if p.isdigit()), 'uid': os.getuid(),"
                      " 'caps': [l.split()[1] for l in open('/proc/self/status') if l.startswith('Cap')],"
                      " 'userns': __import__('ctypes').CDLL(None).unshare(0x10000000)}")
    allowed_tops = {"bin", "dev", "etc", "lib", "lib32", "lib64", "libx32", "proc", "sbin", "tmp", "usr"}
    python_tops = {p.split("/")[1] for p in (sys.prefix, sys.base_prefix, tipslib.__file__)}
    assert set(out["top"]) <= allowed_tops | python_tops, out["top"]
    assert not {"var", "run", "home", "srv", "opt", "mnt", "media", "sys"} & (set(out["top"]) - python_tops)
    assert out["cwd"].startswith("/tmp/tipslib-sandbox-") and len([t for t in out["tmp"] if t.startswith("tipslib-")]) == 1
    assert set(out["etc"]) <= {"ld.so.cache", "ld.so.conf", "ld.so.conf.d", "alternatives", "localtime"}
    # The package folder, not its checkout; a venv made inside the checkout (as CI makes .ci-venv) is
    # Python itself and is bound too, read-only.
    checkout = os.path.dirname(os.path.dirname(tipslib.__file__))
    pythons = {os.path.relpath(p, checkout).split(os.sep)[0] for p in (sys.prefix, sys.base_prefix)
               if p.startswith(checkout + os.sep)}
    assert set(out["pkg"]) <= {"tipslib"} | pythons or "site-packages" in tipslib.__file__, out["pkg"]
    assert out["procs"][0] == 1 and len(out["procs"]) <= 3  # its own PID namespace: the zygote and this run
    assert out["caps"] == ["0000000000000000"] * 5
    assert out["uid"] != 0
    if NOBODY and sandbox._has_disable_userns(sandbox._bwrap()):
        assert out["userns"] == -1  # no nested user namespace (and so no mounts of its own)


def test_python_is_read_only_and_scratch_is_private_and_capped(box):
    import tipslib

    targets = [os.path.join(sys.prefix, "x"), os.path.join(os.path.dirname(tipslib.__file__), "x"), "/usr/x"]
    out = _probe(box, f"import os\nOUT = {{}}\nfor p in {targets!r}:\n    try:\n        open(p, 'w')\n        OUT[p] = 'written'\n"
                      "    except OSError as e:\n        OUT[p] = e.errno\n"
                      f"open('/tmp/{MARK}', 'w').write('left behind')\nopen('/dev/shm/{MARK}', 'w').write('left behind')\n"
                      "n = 0\ntry:\n    for i in range(100):\n        with open(f'f{i}', 'wb') as f:\n"
                      "            for _ in range(8):\n                f.write(b'x' * 2**20)\n                n += 1\n"
                      "except OSError as e:\n    OUT['full'] = (n, e.errno)\n", memory_mb=400)
    import errno

    assert all(out[p] == errno.EROFS for p in targets), out
    assert out["full"][1] == errno.ENOSPC and 40 <= out["full"][0] <= sandbox.scratch_mb(400), out["full"]
    again = _probe(box, f"import os\nOUT = [os.path.exists('/tmp/{MARK}'), os.path.exists('/dev/shm/{MARK}'), len(os.listdir('.'))]")
    assert again == [False, False, 1]  # only its own /dev/shm folder


def test_scratch_counts_against_the_memory_budget(box):
    # with --memory 400 the address space gets 400 MB less the scratch cap
    out = _probe(box, "hog = []\ntry:\n    while True:\n        hog.append(bytearray(2**24))\nexcept MemoryError:\n"
                      "    OUT = len(hog) * 16\nhog = None", memory_mb=400)
    assert 400 - sandbox.scratch_mb(400) - 120 <= out <= 400 - sandbox.scratch_mb(400), out


def test_leftover_processes_of_a_run_are_killed(box):
    src = ("import os\nfor _ in range(3):\n    if os.fork() == 0:\n        os.setsid()\n        if os.fork() == 0:\n"
           "            os.execv('/bin/sleep', ['sleep', '300'])\n        os._exit(0)\nimport time\ntime.sleep(0.2)\n"
           "OUT = len([p for p in os.listdir('/proc') if p.isdigit()])")
    assert _probe(box, src) >= 5
    # the next run sees only the zygote and itself, and cannot signal the zygote
    out = _probe(box, "import os, signal\nOUT = [sorted(int(p) for p in os.listdir('/proc') if p.isdigit())]\n"
                      "try:\n    os.kill(1, signal.SIGKILL)\nexcept OSError as e:\n    OUT.append(e.errno)\nelse:\n    OUT.append(0)")
    assert len(out[0]) == 2 and out[0][0] == 1
    assert _probe(box, "OUT = 'the zygote survived'") == "the zygote survived"


def test_a_flood_of_result_lines_costs_seconds_not_minutes(box):
    # one 60 MB line then 200 000 short ones, within the 64 MB a run may send: the zygote's relay
    # and the grader's reader are linear (they were quadratic: the run hit its 30 s limit)
    src = ("import os\nos.write(3, b'{\"m\":\"x\",\"pad\":\"' + b'a' * (60 * 2**20) + b'\"}\\n')\n"
           "os.write(3, b'\\n'.join([b'{}'] * 200000) + b'\\n')")
    t0 = time.monotonic()
    lines, end = box.run(_probe_job(src), timeout=30, memory_mb=1024)
    assert not end["timed_out"] and not end["too_much_output"] and end["exit"] == 0
    assert len(lines) == 200_000 + 3 and len(lines[0]) > 60 * 2**20
    assert time.monotonic() - t0 < 20
    lines, end = box.run(_probe_job("import os\nfor i in range(10):\n    os.write(3, b'a' * (8 * 2**20))"),
                         timeout=30, memory_mb=1024)
    assert end["too_much_output"] and not lines


def test_python_installation_under_tmp_is_bound_back():
    # a venv in a checkout under /tmp (as in CI): each run's fresh /tmp must show it again, read-only
    paths, _ = sandbox._python_mounts(())
    under_tmp = [p for p in paths if p.startswith("/tmp/")]
    with Sandbox() as sb:
        out = _probe(sb, f"import os\nOUT = [os.path.isdir(p) for p in {under_tmp!r}]")
    assert out == [True] * len(under_tmp)


def test_a_one_file_module_under_tmp_is_bound_back(monkeypatch):
    # torch.distributed.nn writes a module to a temporary folder and imports it (torch 2.6, after a
    # torch.compile): once a reference run lists it, every later run preloads it. A file, not a folder.
    folder = Path(tempfile.mkdtemp(dir="/tmp"))  # /tmp itself: pytest's tmp_path may lie elsewhere
    try:
        name = f"tipslib_one_file_{os.getpid()}"
        (folder / f"{name}.py").write_text("ANSWER = 42\n")
        monkeypatch.syspath_prepend(str(folder))
        monkeypatch.setitem(sys.modules, name, importlib.import_module(name))
        paths, _ = sandbox._python_mounts([name])
        assert str(folder / f"{name}.py") in paths
        with Sandbox(preload=[name]) as sb:
            out = _probe(sb, f"import {name}, os\nOUT = [{name}.ANSWER, os.path.isfile({name}.__file__)]")
    finally:
        shutil.rmtree(folder)
    assert out == [42, True]


def test_a_submission_cannot_pass_itself_off_as_a_failure_of_the_sandbox():
    # the setup pipe is closed before submitted code runs: writing to its number reaches nothing of
    # the zygote's, and an exit code of its own is only a crash of the submission
    src = ("import os\ntry:\n    os.write(4, b'OSError: forged by the submission')\nexcept OSError:\n    pass\n"
           f"os._exit({sandbox.EXIT_ERROR})")
    with Sandbox() as sb:
        lines, end = sb.run(_probe_job(src), timeout=30, memory_mb=400)
        assert end["exit"] == sandbox.EXIT_ERROR and "setup_error" not in end, end
        fds = _probe(sb, "import os\nOUT = {}\nfor f in os.listdir('/proc/self/fd'):\n    try:\n"
                         "        OUT[f] = os.readlink(f'/proc/self/fd/{f}')\n    except OSError:\n"
                         "        pass  # the listing's own descriptor, closed by now\n")
    assert [f for f, to in fds.items() if to.startswith("pipe:")] == ["3"], fds  # the results, nothing else


# ------------------------------------------------------- refusal and --unsafe
def test_no_sandbox_means_a_refusal_unless_unsafe(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(sandbox, "_probe", lambda: (False, "simulated: user namespaces are disabled"))
    assert not features()["isolated"] and sandbox.unprotected()
    with pytest.raises(SandboxError, match="--unsafe"):
        Sandbox().start()
    src, subs = tmp_path / "src", tmp_path / "subs"
    src.mkdir()
    (src / "sample.ipynb").write_bytes(nbt.SAMPLE.read_bytes())
    nbt.write(nbt.load(), subs / "alice" / "sample.ipynb")
    args = ["grade", str(src), str(subs), "--out", str(tmp_path / "g.csv"), "--quiet", "--timeout", "20", "--memory", "500"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "refusing to grade" in err and "simulated: user namespaces are disabled" in err and "--unsafe" in err
    # as root the bare zygote still switches uid and unshares the network; without root nothing of that
    assert "files:" in err and "scratch:" in err and ("network:" in err) == (os.geteuid() != 0)
    assert not (tmp_path / "g.csv").exists()
    assert main(args + ["--unsafe"]) == 0
    assert "WARNING" in capsys.readouterr().err
    with open(tmp_path / "g.csv", newline="") as f:
        assert [(r["student"], r["status"], r["total"]) for r in csv.DictReader(f)] == [("alice", "ok", "6")]
    assert Sandbox.allow_unsafe is False


def test_probe_finds_the_sandbox_here():
    if NOBODY:
        assert os.geteuid() != 0 and features()["user_namespace"] and not features()["uid_switch"]
    assert ISOLATED, features()["why_not"]


# ------------------------------------------------------- as an unprivileged user
def _blocked_ancestors(path):
    """Folders above ``path`` that another user cannot enter (e.g. /root for a pyenv)."""
    parts = Path(path).resolve().parts
    out = []
    for i in range(2, len(parts)):
        d = Path(*parts[:i])
        if not d.stat().st_mode & stat.S_IXOTH:
            out.append(d)
    return out


@pytest.mark.skipif(os.geteuid() != 0 or NOBODY, reason="switching to an unprivileged user needs root")
def test_the_same_holds_for_an_unprivileged_grader(tmp_path):
    """This whole module again, as uid 65534 (nobody), with a home outside /tmp."""
    import tipslib

    needed = {Path(sys.prefix), Path(sys.base_prefix), Path(tipslib.__file__).parents[1], Path(__file__).parents[1]}
    cmd = ["bwrap", "--dev-bind", "/", "/"]
    masked = set()
    for p in sorted(needed):
        for d in _blocked_ancestors(p):
            if d not in masked:  # the folder others cannot enter becomes one that holds only what is needed
                masked.add(d)
                cmd += ["--perms", "0755", "--tmpfs", str(d)]
    for p in sorted(needed):
        p = p.resolve()
        top = next((m for m in masked if m in p.parents), None)
        if top is not None:
            for d in reversed(p.parents):  # traversable stubs between the masked folder and the bound path
                if top in d.parents:
                    cmd += ["--perms", "0755", "--dir", str(d)]
            cmd += ["--ro-bind", str(p), str(p)]
    home = Path("/home") / f"tipslib-sandbox-test-{os.getpid()}"
    home.mkdir(mode=0o700, parents=True)
    os.chown(home, 65534, 65534)
    try:
        cmd += ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                "env", f"HOME={home}", "TIPSLIB_SANDBOX_NOBODY=1", "CI=1", f"PATH={os.environ.get('PATH', '/usr/bin:/bin')}",
                sys.executable, "-m", "pytest", __file__, "-q", "-p", "no:cacheprovider", "-rs",
                "--basetemp", str(home / "pytest")]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, cwd=str(Path(__file__).parents[1]))
    finally:
        shutil.rmtree(home, ignore_errors=True)
    tail = (proc.stdout + proc.stderr)[-4000:]
    assert proc.returncode == 0, tail
    assert re.search(r"\d+ passed", tail) and ("skipped" not in tail or "1 skipped" in tail), tail  # only this test


# ------------------------------------------------------- SysV IPC and signals
#: What a run tries with SysV IPC: every call refused; and what it sees of its IPC namespace
IPC_PROBE = ("import ctypes, os\nL = ctypes.CDLL(None, use_errno=True)\nL.shmat.restype = ctypes.c_long\n"
             "calls = {'shmget': lambda: L.shmget(0x7151, 1 << 20, 0o1666), 'semget': lambda: L.semget(0x7152, 1, 0o1666),"
             " 'msgget': lambda: L.msgget(0x7153, 0o1666), 'shmat': lambda: L.shmat(0, None, 0),"
             " 'mq_open': lambda: L.mq_open(b'/tipslib', os.O_CREAT | os.O_RDWR, 0o600, None)}\n"
             "OUT = {}\nfor name, call in calls.items():\n    ctypes.set_errno(0)\n    OUT[name] = (call(), ctypes.get_errno())\n"
             "try:\n    open('/proc/sys/kernel/shmmax', 'w').write('99999999999')\n    OUT['raise'] = 'raised'\n"
             "except OSError as e:\n    OUT['raise'] = e.errno\n"
             "OUT['ns'] = os.readlink('/proc/self/ns/ipc')\nOUT['shmmax'] = int(open('/proc/sys/kernel/shmmax').read())\n")


def _zygote_ipc(pid):
    """The IPC namespace of the zygote: the child of bubblewrap (process ``pid``)."""
    for child in os.listdir("/proc"):
        try:
            with open(f"/proc/{child}/stat") as f:
                if child.isdigit() and int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                    return os.readlink(f"/proc/{child}/ns/ipc")
        except (OSError, ValueError):
            continue
    return None


def _ipc_checks(first, second, zygote_ns, root):
    import errno

    for run in (first, second):
        # SysV IPC and POSIX queues are refused: their memory would lie outside the run's limit (6 x 300 MB
        # of segments outlived their run, 1.5 GB after grading ended, and the next student read them)
        assert {k: list(run[k]) for k in ("shmget", "semget", "msgget", "shmat", "mq_open")} == \
            dict.fromkeys(("shmget", "semget", "msgget", "shmat", "mq_open"), [-1, errno.ENOSYS]), run
        assert run["raise"] in (errno.EROFS, errno.EACCES, errno.EPERM), run  # no run may raise the limits
    # underneath, each run has an IPC namespace of its own, not the sandbox's (shared by the slot's runs)
    assert zygote_ns and first["ns"] != zygote_ns and second["ns"] != zygote_ns, (first["ns"], second["ns"], zygote_ns)
    if root:  # the limits of a run's namespace (without root they cannot be set)
        assert first["shmmax"] == second["shmmax"] == sandbox.IPC_SHM_MB << 20


def test_sysv_ipc_is_refused_and_each_run_has_a_namespace_of_its_own(box):
    _ipc_checks(_probe(box, IPC_PROBE), _probe(box, IPC_PROBE), _zygote_ipc(box.proc.pid), os.geteuid() == 0)


_UNPRIVILEGED = """
import json, os, sys
from tipslib.grading.sandbox import Sandbox, features

if not features()["isolated"]:
    print("SKIP " + features()["why_not"])
    sys.exit(0)

"""  # + this module's own probe helpers, in _unprivileged_script()

_UNPRIVILEGED_RUN = """
out = {"uid": os.geteuid()}
with Sandbox() as sb:
    zygote = sb.proc.pid
    out["signals"] = _probe(sb, "import os, signal, time\\nOUT = []\\n"
                               "for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, "
                               "signal.SIGUSR2, signal.SIGALRM):\\n    try:\\n        os.kill(1, s)\\n        OUT.append('sent')\\n"
                               "    except OSError as e:\\n        OUT.append(e.errno)\\ntime.sleep(0.5)\\n")
    out["after"] = _probe(sb, "import signal\\nOUT = str(signal.getsignal(signal.SIGINT))")
    out["same_zygote"] = sb.proc is not None and sb.proc.pid == zygote and sb.proc.poll() is None
    out["first"] = _probe(sb, sys.argv[1])
    out["second"] = _probe(sb, sys.argv[1])
    out["zygote_ns"] = _zygote_ipc(sb.proc.pid)
print("RESULT " + json.dumps(out))
"""


def _unprivileged_script(run=_UNPRIVILEGED_RUN):
    """The script run without root: the probe helpers above, written once, then what it does."""
    import inspect

    return _UNPRIVILEGED + "".join(inspect.getsource(f) + "\n" for f in (_probe_job, _probe, _zygote_ipc)) + run


def _run_unprivileged(run, *args):
    """``run`` (a script body that prints ``RESULT <json>``) without root: its ``out``, or a skip."""
    cmd = [sys.executable, "-c", _unprivileged_script(run), *args]
    if os.geteuid() == 0:
        if not shutil.which("unshare"):
            pytest.skip("unshare (util-linux) is not installed")
        cmd = ["unshare", "--user", "--map-user=1000", "--map-group=1000", *cmd]
    import tipslib

    env = {**os.environ, "PYTHONPATH": str(Path(tipslib.__file__).parents[1])}  # the tipslib under test
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd="/", env=env)
    if os.geteuid() == 0 and proc.returncode != 0 and "unshare failed" in proc.stderr:
        pytest.skip(f"no unprivileged user namespace here: {proc.stderr.strip()[-300:]}")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    line = next(l for l in proc.stdout.splitlines() if l.startswith(("RESULT", "SKIP")))
    if line.startswith("SKIP"):
        pytest.skip(line)
    return json.loads(line[len("RESULT "):])


def test_without_root_a_run_can_neither_stop_the_zygote_nor_use_sysv_ipc():
    # Without root a child has the zygote's uid: it could signal PID 1 of the sandbox, and Python's
    # SIGINT handler there turned that into a KeyboardInterrupt of the zygote (the row of the student
    # "crashed", a grader problem, and `tipslib grade` exited 3). As root, under a user namespace
    # where this process is uid 1000 (the path an instructor without root takes).
    out = _run_unprivileged(_UNPRIVILEGED_RUN, IPC_PROBE)
    assert out["uid"] != 0
    assert out["signals"] is not None and len(out["signals"]) == 7, out  # delivered or refused: the run went on
    assert out["after"] == str(signal.default_int_handler) and out["same_zygote"], out
    _ipc_checks(out["first"], out["second"], out["zygote_ns"], root=False)


# ------------------------------------------------------- nothing left behind outside scratch
#: What a run tries to leave for the next one outside its scratch folder: files in the sandbox's own root
#: (a tmpfs without a size limit, which lives as long as the grading run), in /etc, in /dev, and in the
#: folder above the tipslib package (a stub the sandbox makes; it is also on the runs' sys.path, ahead of
#: site-packages). Without root a run had the uid that owns them all: 16 MB files there, as many as it
#: liked, were memory outside every limit of the run, and the next student's run could read them (or
#: import them). ``OUT[folder] = [found a file a previous run left, what writing one did]``. A checkout under
#: /tmp is the exception: there the folder above the package is made inside the run's own /tmp (its
#: scratch, capped and gone with the run), so a write may succeed, but the next run must not find it.
LEAVE_PROBE = ("import os, tipslib\nOUT = {}\n"
               "for d in ('/', '/etc', '/dev', '/proc', os.path.dirname(os.path.dirname(tipslib.__file__))):\n"
               "    p = os.path.join(d, 'tipslib_left_behind.py')\n    OUT[d] = [os.path.exists(p)]\n"
               "    try:\n        with open(p, 'ab') as f:\n            f.write(b'#' * 2**24)\n        OUT[d].append('written')\n"
               "    except OSError as e:\n        OUT[d].append(e.errno)\n")


def _leave_checks(first, second):
    import errno

    refused = (errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOENT)
    for run in (first, second):
        assert all(found is False and (what in refused or (what == "written" and folder.startswith("/tmp/")))
                   for folder, (found, what) in run.items()), repr(run)


def test_a_run_leaves_nothing_outside_its_scratch(box):
    _leave_checks(_probe(box, LEAVE_PROBE), _probe(box, LEAVE_PROBE))


_UNPRIVILEGED_LEAVE = """
with Sandbox() as sb:
    out = {"first": _probe(sb, sys.argv[1]), "second": _probe(sb, sys.argv[1])}
print("RESULT " + json.dumps(out))
"""


def test_without_root_a_run_leaves_nothing_outside_its_scratch():
    # As root the sandbox's root, /etc and /dev belong to root and a run has a uid of its own; without
    # root they belonged to the uid the run has
    out = _run_unprivileged(_UNPRIVILEGED_LEAVE, LEAVE_PROBE)
    _leave_checks(out["first"], out["second"])


# ------------------------------------------------------- memory outside the address space
#: A run that keeps what it writes in memfd files: their pages are not in its address space, so RLIMIT_AS
#: never saw them (256 descriptors x 16 MB, the per-file limit: 4 GB per run and slot, held to the timeout)
MEMFD_PROBE = ("import os\nfds, held = [], 0\ntry:\n    for i in range(40):\n        fd = os.memfd_create(f'm{i}')\n"
               "        fds.append(fd)\n        for _ in range(16):\n            os.write(fd, b'x' * 2**20)\n"
               "            held += 1\n    OUT = [held, 0]\nexcept OSError as e:\n    OUT = [held, e.errno]\n")


def test_memory_held_in_memfd_files_stays_within_the_budget(box):
    held, err = _probe(box, MEMFD_PROBE, memory_mb=400)
    assert held <= 400 - sandbox.scratch_mb(400), (held, err)  # 640 MB held before, with --memory 400
