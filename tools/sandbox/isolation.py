"""How one call's interpreter is started: the launcher that sets its limits, and the isolation around it.

Two kinds, chosen once per server by running a real probe (``detect``):

- ``bubblewrap``: ``bwrap`` puts the interpreter in new user, PID, network, IPC, UTS and cgroup namespaces
  with a root of its own: ``/usr`` (and the interpreter's prefix) read-only, a fresh ``/proc`` and ``/dev``,
  and size-limited tmpfs for the working directory and ``/tmp``. No ``/etc``, no ``/home``, no ``/root``, no
  server files; the network namespace has only a loopback with nothing listening. When the PID namespace's
  init ends, the kernel kills everything left in it.
- ``rlimits``: where ``bwrap`` is missing or cannot make namespaces, a plain child process in an empty
  temporary directory. The limits hold; the network and every file its user may read stay reachable.

Either way the interpreter runs ``-I -S`` (isolated mode, no site-packages) with an empty environment, under
the rlimits of ``SandboxLimits`` set by a short launcher just before the code starts. A server running as root
runs each call as a uid of its own (RLIMIT_NPROC does not bind root), which also keeps the code away from
root's files and processes in the ``rlimits`` kind.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tools.sandbox.models import SandboxLimits, SandboxSettings

log = logging.getLogger("afbench.sandbox")

SANDBOX_DIR = "/sandbox"  # the working directory inside bubblewrap
SYSTEM_PYTHON = "/usr/bin/python3"
# argv: cpu_s, memory, processes (0: not set), file size, open files, then the code. Sets the limits, then
# becomes the interpreter that runs the code: the code's process is the one the limits bind.
LAUNCHER = (
    "import os, resource as r, sys\n"
    "cpu, mem, nproc, fsize, nofile = map(int, sys.argv[1:6])\n"
    "r.setrlimit(r.RLIMIT_CPU, (cpu, cpu + 1))\n"
    "r.setrlimit(r.RLIMIT_AS, (mem, mem))\n"
    "r.setrlimit(r.RLIMIT_FSIZE, (fsize, fsize))\n"
    "r.setrlimit(r.RLIMIT_NOFILE, (nofile, nofile))\n"
    "r.setrlimit(r.RLIMIT_CORE, (0, 0))\n"
    "nproc and r.setrlimit(r.RLIMIT_NPROC, (nproc, nproc))\n"
    "os.execv(sys.executable, [sys.executable, '-I', '-S', '-X', 'utf8', '-c', sys.argv[6]])\n"
)


class SandboxUnavailable(Exception):
    """No interpreter could be started under the requested isolation; the message says why."""


@dataclass(frozen=True)
class Isolation:
    kind: str  # "bubblewrap" or "rlimits"
    python: str
    bwrap: str | None
    as_root: bool  # the server is root: each call gets a uid of its own

    def describe(self) -> str:
        if self.kind == "bubblewrap":
            return (
                "bubblewrap namespaces (user, PID, network, mount): no network, no host files but /usr read-only, "
                "an empty tmpfs working directory"
            )
        who = "a uid of its own" if self.as_root else "the server's own user (it can signal the server)"
        return (
            f"rlimits only, as {who}: the network and every file that user can read are reachable "
            "(install bubblewrap for namespaces)"
        )

    def command(self, code: str, limits: SandboxLimits, workdir: Path) -> list[str]:
        """The argv of one call; ``workdir`` is the empty host directory (rlimits) or unused (bubblewrap)."""
        # Not as root, RLIMIT_NPROC without a user namespace would count every process of the server's user.
        nproc = limits.processes if self.kind == "bubblewrap" or self.as_root else 0
        numbers = (limits.cpu_s, limits.memory_bytes, nproc, limits.file_bytes, limits.open_files)
        launch = [self.python, "-I", "-S", "-c", LAUNCHER, *map(str, numbers), code]
        if self.kind == "rlimits":
            return launch
        assert self.bwrap is not None
        size = str(limits.tmpfs_bytes)
        argv = [self.bwrap, "--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent"]
        argv += ["--new-session", "--clearenv", "--hostname", "sandbox", "--ro-bind", "/usr", "/usr"]
        for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
            if os.path.islink(top):
                argv += ["--symlink", os.readlink(top), top]
            elif os.path.isdir(top):
                argv += ["--ro-bind", top, top]
        prefix = str(Path(self.python).parent.parent)
        if not prefix.startswith("/usr/") and prefix != "/usr":
            argv += ["--ro-bind", prefix, prefix]
        argv += ["--proc", "/proc", "--dev", "/dev", "--size", size, "--tmpfs", "/tmp"]
        argv += ["--size", size, "--tmpfs", SANDBOX_DIR, "--chdir", SANDBOX_DIR, "--", *launch]
        return argv


def _candidates(settings: SandboxSettings) -> list[str]:
    if settings.python:
        return [settings.python]
    own = os.path.realpath(getattr(sys, "_base_executable", sys.executable))
    return list(dict.fromkeys([own, os.path.realpath(SYSTEM_PYTHON)]))


def probe_uid(settings: SandboxSettings) -> int | None:
    """The uid the probe runs as (the first of the range), or None when the server is not root."""
    return settings.uid_base if os.geteuid() == 0 else None


def _works(isolation: Isolation, settings: SandboxSettings) -> str | None:
    """None when ``isolation`` runs a program here, else why not (one line)."""
    uid = probe_uid(settings)
    with tempfile.TemporaryDirectory(prefix="afbench-probe-") as workdir:
        if uid is not None:
            os.chown(workdir, uid, uid)
        try:
            done = subprocess.run(
                isolation.command("print(6 * 7)", settings.limits, Path(workdir)),
                capture_output=True,
                text=True,
                timeout=30,
                env={},
                cwd=workdir,
                user=uid,
                group=uid,
                extra_groups=[] if uid is not None else None,
                start_new_session=True,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            return str(exc)
    if done.returncode == 0 and done.stdout.strip() == "42":
        return None
    return (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]


def detect(settings: SandboxSettings) -> Isolation:
    """The strongest isolation that really runs a program here, with the first interpreter that works."""
    as_root = os.geteuid() == 0
    bwrap = shutil.which("bwrap")
    problems: list[str] = []
    kinds = {"auto": ("bubblewrap", "rlimits"), "bubblewrap": ("bubblewrap",), "rlimits": ("rlimits",)}
    for kind in kinds[settings.isolation]:
        if kind == "bubblewrap" and bwrap is None:
            problems.append("bubblewrap: bwrap is not installed (Debian/Ubuntu: apt-get install bubblewrap)")
            continue
        for python in _candidates(settings):
            isolation = Isolation(kind, python, bwrap, as_root)
            problem = _works(isolation, settings)
            if problem is None:
                if problems:
                    log.info("run_python sandbox: %s", "; ".join(problems))
                return isolation
            problems.append(f"{kind} with {python}: {problem}")
    raise SandboxUnavailable("; ".join(problems))
