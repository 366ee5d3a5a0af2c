"""Which server process this is, and whether another one is still alive, so that a restarted server settles
the calls a crashed one left ``running`` without touching those of a live server sharing the database.

A process is named by host, boot, pid and the pid's start time: a pid alone is reused, and after a reboot
every process of the previous boot is gone. Without ``/proc`` (not Linux) only the pid is checked.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ProcessIdentity:
    host: str
    boot: str
    pid: int
    started: str  # the pid's start time, in clock ticks since boot ('' where unknown)

    @property
    def token(self) -> str:
        return f"{self.boot}:{self.pid}:{self.started}"

    @classmethod
    def current(cls) -> ProcessIdentity:
        pid = os.getpid()
        return cls(socket.gethostname(), _boot_id(), pid, _start_time(pid))

    @classmethod
    def parse(cls, host: str, token: str) -> ProcessIdentity | None:
        boot, _, rest = token.partition(":")
        pid_text, _, started = rest.partition(":")
        return cls(host, boot, int(pid_text), started) if pid_text.isdigit() else None

    def is_alive(self) -> bool | None:
        """True or False for a process of this host; None for another host's (it cannot be told from here)."""
        if self.host != socket.gethostname():
            return None
        if self.boot != _boot_id():
            return False
        if self.started:
            return _start_time(self.pid) == self.started
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _start_time(pid: int) -> str:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    # The command name (field 2) is in parentheses and may hold spaces; the start time is field 22.
    fields = stat[stat.rindex(")") + 2 :].split()
    return fields[19] if len(fields) > 19 else ""
