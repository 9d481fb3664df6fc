"""Process isolation for student code: a fork server ("zygote") per grading slot.

The judge starts one zygote per ``--jobs`` slot. The zygote lives inside a
bubblewrap (``bwrap``) sandbox of its own: new user (without root), PID,
network, IPC, UTS and cgroup namespaces, and a filesystem built from an
allowlist. It imports the heavy libraries the exercise uses once, then, for
each submission, forks a child. What a graded child can reach:

- **Files**: the Python installation read-only (the interpreter, its standard
  library, its site-packages, wherever they live: a pyenv under /root, a venv
  in a checkout under /tmp or /work, /usr), the folders of the packages the
  exercise imports from outside it (``tipslib`` of an editable install: that
  one folder, not the checkout around it), the system's ``/usr`` read-only
  (shared libraries), a minimal ``/dev`` and ``/etc`` (the loader cache), its
  own ``/proc``. Everything else does not exist in its view: the course
  repository and its ``.git``, other checkouts, home folders, the submissions,
  the gradebook, the host's /var/tmp, /run (run-lock folder), /dev/shm and
  every host Unix socket.
  Nothing outside a run's scratch is writable: the sandbox's own root (``/etc``
  and the folders above the bound paths) and ``/dev`` are remounted read-only
  (without root a run has the uid that owns them).
- **Scratch**: a fresh tmpfs over ``/tmp`` per run, holding only its job folder
  (cwd, ``HOME``, ``TMPDIR``; ``/dev/shm`` points into it), capped at
  :func:`scratch_mb` of the ``--memory`` budget; the address-space limit is
  lowered by the same amount, so scratch plus memory stays within ``--memory``.
  The tmpfs vanishes with the run.
- **Network**: none. The network namespace has no interface but a down
  loopback, so TCP, UDP and abstract Unix sockets fail, and no host Unix
  socket is in the filesystem view (``_socket`` used directly fails the same
  way); ``socket`` is also replaced by a stub that raises (see ``_runner``).
- **Processes**: only those of its own run. The zygote is PID 1 of the
  sandbox's PID namespace, and ignores every signal a child could send it
  (the kernel drops those PID 1 has no handler for; Python's own SIGINT handler
  was a way in without root, where a child has the zygote's uid); after each
  run it kills every other process in the namespace (forks that escaped the
  process group with ``setsid`` included) and reaps them.
- **SysV IPC**: shared memory, semaphores and message queues (and POSIX
  message queues) are not available: their system calls fail with ENOSYS (a
  seccomp filter, in every mode: their memory lies outside ``RLIMIT_AS``).
  Underneath, each run
  has an IPC namespace of its own, whose contents die with its last process,
  limited as root to :data:`IPC_SHM_MB` MB of shared memory and a few small
  queues (without root the limits cannot be set: the root of the sandbox's
  user namespace owns them, and it is not mapped). (The sandbox's own IPC
  namespace was shared by every run of a slot: a segment outlived its run,
  outside the memory limit, and the next student could read it.)
- **Privileges**: none. As root the child switches to an unprivileged uid/gid
  of the slot's own, without supplementary groups; without root it keeps your
  uid inside a user namespace, drops every capability and (bubblewrap 0.8 or
  later) cannot create further user namespaces. ``no_new_privs`` is set
  either way.
- **Limits**: ``RLIMIT_AS`` (the preloaded libraries plus ``--memory`` MB less
  the scratch cap and the IPC limit), ``RLIMIT_CPU``, ``RLIMIT_NPROC`` (counted per slot: per
  uid as root, per user namespace without), ``RLIMIT_FSIZE``,
  ``RLIMIT_NOFILE`` and no core files; stdin/stdout/stderr go to
  ``/dev/null``, results to a private pipe (fd 3); a minimal environment.

Where bubblewrap or the namespaces it needs are missing (no ``bwrap``, user
namespaces disabled by the kernel or by AppArmor), :func:`features` says so
and :class:`Sandbox` refuses to start unless the caller allowed unsafe
grading (``tipslib grade --unsafe``). It then runs the same zygote without
the sandbox, and :func:`unprotected` lists what that leaves open: as root the
children still switch to the slot's uid, lose the network (a network
namespace) and get fresh /tmp, /var/tmp and /dev/shm with the graded folders
covered, by hand-made mounts (a denylist: other world-readable files stay
readable), and an IPC namespace per run; without root only the limits and the
socket stub remain.

Not protected, even in the sandbox: memory a child holds outside its address
space (pipe buffers; ``memfd`` files are refused like SysV IPC: no memory cgroup is used), CPU time
beyond ``RLIMIT_CPU`` per process times its process limit until the wall-clock
timeout, and the test code sent into the child with the job, hidden parts
included (the judge strips expected values from it and compares in its own
process; see ``judge``).

Each job crosses from the judge to the child *after* the fork, through a
buffer the zygote zeroes afterwards, so no child ever has another run's cells
(the instructor's solution, another student's answers) in its memory; the
reference runs get a zygote of their own anyway. A zygote pre-imports the
modules the reference run imported, so a submission does not pay for them.

The zygote enforces the wall-clock timeout, relays the child's result lines
to the judge prefixed ``C``, and ends each run with one ``Z`` line of its own
(exit status, signal, timeout, peak memory). A run that fails *before* the
submission's code starts (mounting its scratch folder, dropping privileges) is
the grader's failure, not the student's: the child writes why to a pipe it
closes before the job starts, so no submission can claim one, and
:meth:`Sandbox.run` raises :class:`SandboxError` with that reason.
"""

from __future__ import annotations

import ctypes
import fcntl
import functools
import importlib.util
import itertools
import json
import os
import resource
import select
import shutil
import signal
import stat
import struct
import subprocess
import sys
import tempfile
import time

__all__ = ["Sandbox", "features", "serve", "SandboxError", "unprotected", "scratch_mb"]

CLONE_NEWNET = 0x40000000
CLONE_NEWNS = 0x00020000
CLONE_NEWIPC = 0x08000000
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38
PR_CAPBSET_DROP = 24
PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 47, 4
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 1, 2, 4, 32, 4096, 16384, 1 << 18
MAX_OUTPUT = 64 * 2**20      # bytes of result lines one run may send
NPROC = 16                   # processes/threads per sandbox
FSIZE = 16 * 2**20
SCRATCH_INODES = 4096
#: SysV IPC of a run: its own IPC namespace (gone with the run), with these limits in it. The shared
#: memory it allows (IPC_MB in all, with the message queues) is taken from the ``--memory`` budget.
IPC_SHM_MB = 8
IPC_MB = IPC_SHM_MB + 1
IPC_LIMITS = {"kernel/shmmax": str(IPC_SHM_MB << 20), "kernel/shmall": str((IPC_SHM_MB << 20) // os.sysconf("SC_PAGE_SIZE")),
              "kernel/shmmni": "32", "kernel/shm_rmid_forced": "1", "kernel/msgmni": "16", "kernel/msgmnb": "16384",
              "kernel/msgmax": "8192", "kernel/sem": "32 256 32 16", "fs/mqueue/queues_max": "4",
              "fs/mqueue/msg_max": "10", "fs/mqueue/msgsize_max": "8192"}
#: Signals the zygote ignores (PID 1 of the sandbox: a handler there is a way for a run to reach it,
#: e.g. Python's own SIGINT handler); each run gets the dispositions back before its job starts.
ZYGOTE_IGNORES = tuple(getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGQUIT", "SIGHUP", "SIGUSR1", "SIGUSR2",
                                                    "SIGALRM", "SIGVTALRM", "SIGPROF", "SIGTSTP", "SIGTTIN", "SIGTTOU",
                                                    "SIGPOLL", "SIGPWR")
                       if hasattr(signal, n))
EXIT_ERROR = 70              # an exception escaped the job (EX_SOFTWARE)
EXIT_MEMORY = 71             # ... and it was a MemoryError: the run reached its memory limit
CHILD_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "MPLBACKEND": "Agg",
             "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
#: What /etc holds in the sandbox (the dynamic loader's cache and config, Debian's library alternatives).
ETC = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/alternatives", "/etc/localtime")

UNPROTECTED_WITHOUT_SANDBOX = [
    "files: a submission can read every file your user can read (the instructor's source notebooks and "
    "solutions, the course repository and its .git, other checkouts, your home folder)",
    "scratch: /tmp, /var/tmp, /run/lock and /dev/shm are the host's, shared with other submissions and programs",
    "network: only a Python-level socket stub, which ctypes or the _socket module bypass (TCP, host Unix sockets)",
    "processes: a submission runs as your user and can signal or trace the grader and other submissions "
    "(and so stop the whole run), and the process limit counts all of your processes",
]
UNPROTECTED_WITHOUT_SANDBOX_ROOT = [
    "files: world-readable files outside the graded folders stay readable (the course repository and its .git "
    "when not private, other checkouts); files private to root are not",
    "scratch: /run/lock and other world-writable folders than /tmp, /var/tmp and /dev/shm are the host's",
]


class SandboxError(RuntimeError):
    """The zygote itself failed (not the submission), or isolation is not available."""


def scratch_mb(memory_mb):
    """MB of the ``--memory`` budget given to a run's scratch tmpfs (the rest is its address space)."""
    return max(1, min(256, int(memory_mb) // 8))


# ----------------------------------------------------------------- features
def _bwrap():
    return shutil.which("bwrap")


@functools.lru_cache(maxsize=None)
def _probe():
    """``(True, "")`` when this machine can start the sandbox, else ``(False, why)``."""
    bwrap = _bwrap()
    if bwrap is None:
        return False, "bubblewrap (bwrap) is not installed (Debian/Ubuntu package 'bubblewrap')"
    cmd = [*_bwrap_command(bwrap, _python_mounts(()), os.geteuid() == 0), sys.executable, "-S", "-c", ""]
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=60, env=_zygote_env(()))
    except (OSError, subprocess.SubprocessError) as exc:
        return False, f"bubblewrap could not start ({exc})"
    if proc.returncode != 0:
        err = proc.stderr.decode(errors="replace").strip().splitlines()
        return False, ("bubblewrap could not create the namespaces it needs: " + (err[-1] if err else f"exit {proc.returncode}")
                       + (" (unprivileged user namespaces are disabled: sysctl kernel.unprivileged_userns_clone=1, "
                          "or kernel.apparmor_restrict_unprivileged_userns=0 on Ubuntu)" if os.geteuid() != 0 else ""))
    return True, ""


def features() -> dict:
    """Which protections this machine gives.

    ``isolated``: the bubblewrap sandbox works here (filesystem allowlist, network, PID and, without
    root, user namespaces); ``why_not``: the reason when it does not; ``uid_switch``: children run
    under a uid of their own (root only).
    """
    ok, why = _probe()
    root = os.geteuid() == 0
    return {"rlimits": True, "process_group_kill": True, "socket_stub": True, "uid_switch": root,
            "isolated": ok, "why_not": why, "filesystem_allowlist": ok, "network_namespace": ok or (root and _can_unshare_net()),
            "pid_namespace": ok, "user_namespace": ok and not root}


def unprotected() -> list:
    """What stays open when grading without the sandbox (``--unsafe``) on this machine; [] when isolated."""
    if features()["isolated"]:
        return []
    return list(UNPROTECTED_WITHOUT_SANDBOX_ROOT if os.geteuid() == 0 else UNPROTECTED_WITHOUT_SANDBOX)


def _can_unshare_net():
    return subprocess.call(["unshare", "-n", "true"], stderr=subprocess.DEVNULL) == 0 if shutil.which("unshare") else False


# --------------------------------------------------------- the sandbox view
def _under(path, folders):
    return any(path == f or path.startswith(f.rstrip("/") + "/") for f in folders)


def _python_mounts(preload):
    """``(paths to bind read-only, PYTHONPATH entries)``: the Python installation, and the folder of each
    package the sandbox imports from outside it (``tipslib`` of an editable install: only that folder)."""
    install = set()
    for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix):
        install |= {os.path.abspath(p), os.path.realpath(p)}
    # site folders outside the prefixes (a user site): installed packages, not a checkout
    for entry in sys.path:
        if entry and os.path.basename(entry.rstrip("/")) in ("site-packages", "dist-packages") and os.path.isdir(entry):
            install |= {os.path.abspath(entry), os.path.realpath(entry)}
    exe = os.path.realpath(sys.executable)
    if not _under(exe, install):
        install.add(os.path.dirname(exe))
    extra, pythonpath = set(), []
    for name in sorted({"tipslib", *(m.split(".")[0] for m in preload)}):
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            continue
        if spec is None or not spec.origin or spec.origin in ("built-in", "frozen"):
            continue
        where = list(spec.submodule_search_locations or []) or [spec.origin]
        for w in where:
            for p in {os.path.abspath(w), os.path.realpath(w)}:
                if not _under(p, install) and os.path.exists(p):
                    extra.add(p)
                    parent = os.path.dirname(p)
                    if parent not in pythonpath:
                        pythonpath.append(parent)
    paths = sorted(install | extra)
    # a folder inside another one that is bound already comes with it
    paths = [p for p in paths if os.path.exists(p) and not _under(p, [q for q in paths if q != p])]
    return paths, pythonpath


def _bwrap_command(bwrap, mounts, root):
    paths, _ = mounts
    cmd = [bwrap, "--die-with-parent", "--new-session", "--as-pid-1",
           "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]
    if root:
        # real root: no user namespace, so each child can switch to a uid of its own
        for cap in ("CAP_SYS_ADMIN", "CAP_SETUID", "CAP_SETGID", "CAP_SETPCAP", "CAP_KILL", "CAP_CHOWN", "CAP_FOWNER"):
            cmd += ["--cap-add", cap]
    else:
        cmd += ["--unshare-user", "--cap-add", "ALL"]
        if _has_disable_userns(bwrap):  # bubblewrap >= 0.8: no nested user namespace for the children
            cmd.append("--disable-userns")
    cmd += ["--ro-bind", "/usr", "/usr"]
    for top in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        host = "/" + top
        if os.path.islink(host):
            cmd += ["--symlink", os.readlink(host), host]
        elif os.path.isdir(host):
            cmd += ["--ro-bind", host, host]
    cmd += ["--perms", "0755", "--dir", "/etc"]
    for p in ETC:
        cmd += ["--ro-bind-try", p, p]
    cmd += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
    made = {"/", "/tmp", "/usr", "/etc", "/proc", "/dev"}
    for p in paths:
        if _under(p, ["/usr"]):
            continue
        # the folders above a bound path exist only as traversable stubs (/root is 0700 on the host)
        parts = p.strip("/").split("/")
        for i in range(1, len(parts)):
            d = "/" + "/".join(parts[:i])
            if d not in made:
                made.add(d)
                cmd += ["--perms", "0755", "--dir", d]
        cmd += ["--ro-bind", p, p]
    # the sandbox's root (a tmpfs with no size limit, holding /etc and the stub folders above the bound
    # paths) and its /dev, read-only once built: without root a run has the uid that owns them, and a
    # file it left there was memory outside its limits that the next run could read (each run mounts
    # its own /tmp and /dev/shm on top)
    return cmd + ["--remount-ro", "/dev", "--remount-ro", "/", "--chdir", "/"]


@functools.lru_cache(maxsize=None)
def _has_disable_userns(bwrap):
    try:
        return "--disable-userns" in subprocess.run([bwrap, "--help"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return False


def _zygote_env(pythonpath):
    env = dict(CHILD_ENV, HOME="/tmp")
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(pythonpath)
    return env


# --------------------------------------------------------------- zygote side
def _libc():
    return ctypes.CDLL(None, use_errno=True)


def _check(ret, what):
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(src, target, fstype, flags, data=None):
    enc = (lambda x: x.encode() if x else None)
    _check(_libc().mount(enc(src), enc(target), enc(fstype), flags, enc(data)), f"mount {target}")


def _scratch(name, uid, size_mb, rebind):
    """In the child (still privileged in the sandbox): a private mount namespace with a fresh tmpfs of
    ``size_mb`` over /tmp, the Python folders (and one-file modules) that live under /tmp bound back
    read-only, the job folder ``/tmp/name`` and ``/dev/shm`` inside it. Returns the job folder."""
    libc = _libc()
    _check(libc.unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    keep = [(os.open(p, os.O_PATH), p) for p in rebind]
    _mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, f"size={size_mb}m,nr_inodes={SCRATCH_INODES},mode=1777")
    for fd, p in keep:
        # a bind mount needs a target of its own kind: a folder for a folder, a file for a
        # file (a module torch writes under /tmp and imports, say)
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            os.makedirs(p, mode=0o755, exist_ok=True)
        else:
            os.makedirs(os.path.dirname(p), mode=0o755, exist_ok=True)
            os.close(os.open(p, os.O_WRONLY | os.O_CREAT, 0o644))
        # the source is a read-only bind of the sandbox, so the new bind is read-only too
        _mount(f"/proc/self/fd/{fd}", p, None, MS_BIND | MS_REC)
        os.close(fd)
    job = os.path.join("/tmp", name)
    shm = os.path.join(job, ".shm")
    os.mkdir(job, 0o700)
    os.mkdir(shm, 0o700)
    if uid is not None:
        os.chown(job, uid, uid)
        os.chown(shm, uid, uid)
    if os.path.isdir("/dev/shm"):
        _mount(shm, "/dev/shm", None, MS_BIND)
    return job


def _mount_flags(path):
    """The flags a bind remount of ``path`` must keep (in a user namespace the kernel refuses to drop them)."""
    f = os.statvfs(path).f_flag
    # nosuid, nodev, noexec, noatime, nodiratime are the same bits as MS_*; ST_RELATIME is not MS_RELATIME
    return (f & (2 | 4 | 8 | 1024 | 2048)) | ((1 << 21) if f & 4096 else 0)


def _private_ipc(required):
    """In the child, still privileged: a SysV IPC (and POSIX message queue) namespace of its own, with
    small limits (:data:`IPC_LIMITS`). Shared memory, semaphores and queues a run leaves behind die
    with it, and no run sees another's. Returns whether the limits hold (then :data:`IPC_MB` of the
    memory budget is theirs). ``required``: a failure to unshare is an error (the sandbox); else
    (the bare zygote without root, which cannot) the run shares the grader's IPC namespace."""
    if _libc().unshare(CLONE_NEWIPC) != 0:
        if required:
            _check(-1, "unshare(CLONE_NEWIPC)")
        return False
    limited = True
    for name, value in IPC_LIMITS.items():
        try:
            with open(f"/proc/sys/{name}", "w") as f:
                f.write(value)
        except OSError:
            limited = limited and not name.startswith("kernel/shm")
    if required:  # in the run's own mount namespace: the limits cannot be raised again from inside
        _mount("/proc/sys", "/proc/sys", None, MS_BIND | MS_REC)
        _mount(None, "/proc/sys", None, MS_REMOUNT | MS_BIND | MS_RDONLY | _mount_flags("/proc/sys"))
    return limited


#: The system calls of SysV IPC (shm*, sem*, msg*) and POSIX message queues (mq_*): ``(audit arch, numbers)``.
#: Also memfd_create and memfd_secret: what a run writes to a memfd file is memory outside its address
#: space as well (256 descriptors x the 16 MB file limit: 4 GB per run, with any --memory).
_IPC_SYSCALLS = {"x86_64": (0xC000003E, (29, 30, 31, 64, 65, 66, 67, 68, 69, 70, 71, 220, *range(240, 246), 319, 447)),
                 "aarch64": (0xC00000B7, (*range(180, 198), 279, 447))}


def _refuse_ipc():
    """A seccomp filter: every system call of SysV IPC (shared memory, semaphores, message queues)
    and of POSIX message queues fails with ENOSYS (so do system calls of another ABI, x32 or 32-bit).

    Their memory lies outside ``RLIMIT_AS``; the run's IPC namespace (:func:`_private_ipc`) bounds it
    only where its limits can be set, which takes root: the owner of an IPC namespace's limits is
    the root of its user namespace, which a grader without root does not map. No honest run needs
    them (it starts no thread or process). Returns whether the kernel took the filter."""
    arch = os.uname().machine
    if sys.platform != "linux" or arch not in _IPC_SYSCALLS:  # seccomp and prctl are Linux's
        return False
    audit, numbers = _IPC_SYSCALLS[arch]
    enosys, allow = 0x00050000 | 38, 0x7FFF0000
    prog = [(0x20, 0, 0, 4), (0x15, 1, 0, audit), (0x06, 0, 0, enosys), (0x20, 0, 0, 0)]
    if arch == "x86_64":
        prog += [(0x35, 0, 1, 0x40000000), (0x06, 0, 0, enosys)]  # the x32 ABI
    for nr in numbers:
        prog += [(0x15, 0, 1, nr), (0x06, 0, 0, enosys)]
    prog.append((0x06, 0, 0, allow))
    buf = ctypes.create_string_buffer(b"".join(struct.pack("HBBI", *ins) for ins in prog))

    class Prog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    fprog = Prog(len(prog), ctypes.addressof(buf))
    libc = _libc()
    libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong]
    return libc.prctl(PR_SET_NO_NEW_PRIVS, 1, None, 0, 0) == 0 and libc.prctl(22, 2, ctypes.byref(fprog), 0, 0) == 0


def _drop_privileges(uid):
    """No capabilities, no way to gain any (``no_new_privs``); as root, the slot's own uid/gid."""
    libc = _libc()
    _check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            last = int(f.read())
    except (OSError, ValueError):
        last = 63
    for cap in range(last + 1):
        libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)
    if uid is not None:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
    libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this thread
    _check(libc.capset(header, (ctypes.c_uint32 * 6)()), "capset")


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
    """Without bubblewrap (``--unsafe``), in the zygote (root): a mount namespace the children inherit.

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


def _child(job_fd, tmp, write_fd, setup_fd, uid, memory_mb, cpu_s, sandboxed=False, rebind=()):
    """In the forked child: read its job, isolate, limit, drop privileges, run. Never returns.

    Until the job starts, a failure is written to ``setup_fd`` (the grader's fault); the job runs
    with ``setup_fd`` closed."""
    code = 0
    try:
        for sig, handler in _CHILD_SIGNALS.items():  # what the zygote ignores, back as it was
            signal.signal(sig, handler)
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
        scratch = ipc = 0
        if sandboxed:
            scratch = scratch_mb(memory_mb)
            tmp = _scratch(tmp, uid, scratch, rebind)
        limited = False
        if sandboxed or uid is not None:  # (without root and bubblewrap the child cannot unshare)
            limited = _private_ipc(required=sandboxed)
        # SysV IPC and POSIX message queues refused, in every mode: without root their limits cannot be set
        refused = _refuse_ipc()
        ipc = IPC_MB if limited and not refused else 0
        # -- the tipslib packages this job forbids: covered in this run's mounts (see _runner.mask_forbidden)
        from ._runner import mask_forbidden
        job["masked"] = mask_forbidden(job)
        # results on fd 3, setup failures on fd 4: first lift both above 4, so neither dup2 clobbers the other
        write_fd, setup_fd = (fcntl.fcntl(fd, fcntl.F_DUPFD, 5) for fd in (write_fd, setup_fd))
        os.dup2(write_fd, 3)
        os.dup2(setup_fd, 4)
        setup_fd = 4
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        os.closerange(5, resource.getrlimit(resource.RLIMIT_NOFILE)[0])
        os.chdir(tmp)
        os.environ.clear()
        os.environ.update(CHILD_ENV, HOME=tmp, TMPDIR=tmp, MPLCONFIGDIR=tmp)
        sys.argv = [""]
        tempfile.tempdir = tmp
        limit = _address_space() + max(16, memory_mb - scratch - ipc) * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 1))
        resource.setrlimit(resource.RLIMIT_FSIZE, (FSIZE, FSIZE))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))
        if sandboxed:
            _drop_privileges(uid)
        elif uid is not None:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
        # per slot: its own uid (root) or its own user namespace; unsandboxed without root it
        # counts all of your processes, so the submission can then start none at all
        resource.setrlimit(resource.RLIMIT_NPROC, (NPROC, NPROC))
        from ._runner import run_job
        os.close(setup_fd)
        setup_fd = None
        run_job(job, 3)
    except BaseException as exc:  # noqa: BLE001 - the run's end is reported by the zygote
        code = EXIT_MEMORY if isinstance(exc, MemoryError) else EXIT_ERROR
        if setup_fd is not None:
            try:
                os.write(setup_fd, f"{type(exc).__name__}: {exc}"[:500].encode(errors="replace"))
            except OSError:
                pass
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
    """Collect dead orphans (the zygote is their reaper); wait up to ``patience`` s for
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
        self.out, self.pending, self.total, self.too_much = out, bytearray(), 0, False

    def feed(self, data):
        self.total += len(data)
        if self.total > MAX_OUTPUT:
            self.too_much = True
            return
        # pipe reads come 64 KB at a time: only the new data is searched, so a long line costs
        # linear time (joining the pending part to each read was quadratic: minutes for 60 MB)
        start = len(self.pending)
        self.pending += data
        while (end := self.pending.find(b"\n", start)) >= 0:
            self.out.write(b"C ")
            self.out.write(memoryview(self.pending)[:end])
            self.out.write(b"\n")
            del self.pending[:end + 1]
            start = 0


HEADER = 64          # bytes: "timeout memory_mb payload_size", space padded, newline


def _read_exactly(fd, view):
    got = 0
    while got < len(view):
        n = os.readv(fd, [view[got:]])
        if n == 0:
            raise EOFError
        got += n


_RUNS = itertools.count()
_CHILD_SIGNALS = {}  # signal -> the disposition a run gets back (the zygote ignores it)


def _run_one(header, out, uid, buf, sandboxed=False, rebind=()):
    """One run. The job itself is copied from stdin to the child through ``buf``
    *after* the fork and ``buf`` is zeroed afterwards, so no child ever has
    another run's cells (the instructor's solution, another student's answers)
    in its memory."""
    timeout, memory_mb, size = header.split()
    timeout, memory_mb, size = float(timeout), int(memory_mb), int(size)
    if sandboxed:  # the child makes it inside its own fresh tmpfs
        tmp = f"tipslib-sandbox-{os.getpid()}-{next(_RUNS)}"
    else:
        tmp = tempfile.mkdtemp(prefix="tipslib-sandbox-")
        if uid is not None:
            os.chown(tmp, uid, uid)
        os.chmod(tmp, 0o700)
    r, w = os.pipe()
    jr, jw = os.pipe()
    sr, sw = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        os.close(jw)
        os.close(sr)
        _child(jr, tmp, w, sw, uid, memory_mb, max(1, int(timeout) + 1), sandboxed, rebind)
    os.close(w)
    os.close(jr)
    os.close(sw)
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
    if sandboxed:
        # the zygote is PID 1 of the sandbox's PID namespace: kill(-1) reaches every other
        # process in it, i.e. whatever this run left behind, and nothing outside
        try:
            os.kill(-1, signal.SIGKILL)
        except ProcessLookupError:
            pass
        _reap(patience=2.0)
    else:
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        if uid is not None:
            _kill_uid(uid)
        _reap(patience=2.0 if uid is not None else 0.0)
        shutil.rmtree(tmp, ignore_errors=True)
    os.close(r)
    os.close(pidfd)
    os.set_blocking(sr, False)  # the child is gone: its end is closed, unless it was killed mid-write
    try:
        setup_error = os.read(sr, 1000).decode(errors="replace")
    except BlockingIOError:
        setup_error = ""
    os.close(sr)
    end = {"exit": os.waitstatus_to_exitcode(status), "timed_out": timed_out, "too_much_output": relay.too_much,
           "wall_s": round(wall, 4), "maxrss_kb": usage.ru_maxrss, "cpu_s": round(usage.ru_utime + usage.ru_stime, 4)}
    if setup_error:
        end["setup_error"] = setup_error
    out.write(b"Z " + json.dumps(end).encode() + b"\n")
    out.flush()


def _no_interfaces():
    import socket

    try:
        return all(name == "lo" for _, name in socket.if_nameindex())
    except OSError:
        return False


def serve(uid=None, preload=(), hide=(), sandboxed=False, rebind=(), shown=()):
    """The zygote's main loop: jobs on stdin (a fixed-size header, then the JSON), results on stdout.

    ``sandboxed``: it runs inside the bubblewrap sandbox (PID 1 of its PID namespace); ``rebind``: the
    Python folders under /tmp that each run's fresh /tmp must show again; ``shown``: every folder the sandbox
    binds (a run's forbidden packages are covered in each copy of tipslib there). ``hide``: folders the
    unsandboxed root zygote covers with an empty tmpfs (the sandbox shows nothing outside its allowlist).
    """
    import importlib

    out = sys.stdout.buffer
    for sig in ZYGOTE_IGNORES:  # no run can stop the zygote by a signal (it is PID 1 of the sandbox)
        _CHILD_SIGNALS[sig] = signal.signal(sig, signal.SIG_IGN)
    for name in preload:
        try:
            importlib.import_module(name)
        except (Exception, SystemExit):  # noqa: BLE001 - a module may be missing; the run will say so
            pass
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)
    import tipslib.grading._runner  # noqa: F401 - preload what every child needs
    tipslib.grading._runner.SHOWN = tuple(shown)  # where a run may find other copies of tipslib (mask_forbidden)
    tipslib.grading._runner._tipslib_roots()  # found once, here: every run inherits the answer
    import tipslib.grading.plain  # noqa: F401
    private_fs = sandboxed
    if sandboxed:
        netns = _no_interfaces()
    else:
        netns = uid is not None and _libc().unshare(CLONE_NEWNET) == 0
        if uid is not None:
            try:  # fresh /tmp, /var/tmp, /dev/shm and the graded folders hidden, by hand
                private_fs = _private_filesystem(hide)
            except OSError as exc:
                private_fs = str(exc)
            _libc().prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    out.write(b"Z " + json.dumps({"ready": True, "isolation": "bwrap" if sandboxed else "none", "network_namespace": netns,
                                  "private_filesystem": private_fs, "pid": os.getpid()}).encode() + b"\n")
    out.flush()
    buf, head = bytearray(1 << 20), bytearray(HEADER)
    while True:
        try:
            _read_exactly(0, memoryview(head))
        except EOFError:
            return
        _run_one(head.decode(), out, uid, buf, sandboxed, rebind)


# ---------------------------------------------------------------- judge side
_AUTO_UIDS = itertools.count()


class Sandbox:
    """One grading slot: a zygote process and the runs it makes.

    ``uid``: the unprivileged uid its children switch to (root only: ignored without root; one is
    picked when ``None`` and the sandbox isolates). ``preload``: modules to import once in the zygote. ``hide``: kept for
    compatibility (the sandbox shows nothing outside its allowlist). ``unsafe``: run without the
    bubblewrap sandbox where this machine cannot give it (default :attr:`allow_unsafe`, which
    ``tipslib grade --unsafe`` sets); when it is false there, :meth:`start` raises
    :class:`SandboxError` saying why. ``unsafe=True`` on a machine that can isolate still isolates,
    unless ``isolate=False`` asks for the bare zygote explicitly (tests of the fallback).
    """

    allow_unsafe = False

    def __init__(self, uid=None, preload=(), hide=(), unsafe=None, isolate=None):
        if os.geteuid() != 0:
            uid = None
        self.uid, self.preload, self.hide = uid, tuple(preload), [os.path.realpath(h) for h in hide]
        self.unsafe, self.isolate = unsafe, isolate
        self.proc = None
        self.info = {}
        self._buf = bytearray()

    def start(self):
        self.spawn()
        return self.wait_ready()

    def _command(self):
        """The zygote's command line and environment (sandboxed unless refused or allowed not to be)."""
        code = "import sys, json; from tipslib.grading.sandbox import serve; serve(*map(json.loads, sys.argv[1:7]))"
        isolate = self.isolate
        if isolate is None:
            ok, why = _probe()
            if not ok and not (self.allow_unsafe if self.unsafe is None else self.unsafe):
                raise SandboxError(f"cannot isolate submissions on this machine: {why}. Without isolation "
                                   + "; ".join(unprotected()) + ". Pass --unsafe (Sandbox(unsafe=True)) to grade anyway.")
            isolate = ok
        if not isolate:
            env = dict(os.environ, **{k: v for k, v in CHILD_ENV.items() if k != "PATH"})
            args = [json.dumps(self.uid), json.dumps(list(self.preload)), json.dumps(self.hide), "false", "[]", "[]"]
            return [sys.executable, "-c", code, *args], env, tempfile.gettempdir()
        if self.uid is None and os.geteuid() == 0:  # a sandboxed child never runs as root
            self.uid = 7_000_000 + (os.getpid() % 100_000) * 16 + next(_AUTO_UIDS) % 16
        mounts = _python_mounts(self.preload)
        rebind = [p for p in mounts[0] if _under(p, ["/tmp"])]
        for h in self.hide:  # what the grader hides must not lie inside an allowlisted folder
            if _under(h, [*mounts[0], "/usr"]):
                raise SandboxError(f"the sandbox would show {h} (it lies inside the Python installation or a "
                                   "package folder the sandbox shows); move it elsewhere")
        args = [json.dumps(self.uid), json.dumps(list(self.preload)), "[]", "true", json.dumps(rebind), json.dumps(mounts[0])]
        cmd = [*_bwrap_command(_bwrap(), mounts, os.geteuid() == 0), sys.executable, "-c", code, *args]
        return cmd, _zygote_env(mounts[1]), "/"

    def spawn(self):
        """Start the zygote without waiting for it (several can import their libraries at once)."""
        cmd, env, cwd = self._command()
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, cwd=cwd,
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
        # a bytearray, searched only where new data came in: a 64 MB line (MAX_OUTPUT) costs
        # linear time, not a copy of the buffer per read
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        start = 0
        while (end := self._buf.find(b"\n", start)) < 0:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise SandboxError("the sandbox stopped answering")
            data = os.read(fd, 1 << 20)
            if not data:
                raise SandboxError("the sandbox exited")
            start = len(self._buf)
            self._buf += data
        line = bytes(self._buf[:end])
        del self._buf[:end + 1]  # O(1): CPython moves the start of a bytearray
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
                    end = json.loads(payload)
                    break
        except (SandboxError, OSError, ValueError) as exc:
            self._kill()
            raise SandboxError(f"the sandbox failed: {exc}") from None
        if end.get("setup_error"):  # before any submitted code ran: the grader's failure
            raise SandboxError(f"the sandbox could not prepare a run: {end['setup_error']}")
        return lines, end

    def _kill(self):
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            self.proc.wait()
            self.proc = None
            self._buf = bytearray()
