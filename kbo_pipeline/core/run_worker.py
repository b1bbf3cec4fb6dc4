"""Who runs a run: the process's identity (host, boot, pid, start time), recorded when a run starts,
and whether that process still lives. Plain functions, no Dagster.

A pid alone is not an identity: after a crash the same pid may belong to another process, and after a
reboot every pid is new. The start time of the process (clock ticks since boot, from /proc) and the
kernel's boot id tell the recorded process apart from any later one.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


def _boot_id() -> str | None:
    try:
        return BOOT_ID.read_text().strip()
    except OSError:
        return None


def proc_stat(stat: Path) -> list[str] | None:
    """The fields of a /proc/<pid>/stat file after the command name, from the state on (state, ppid,
    pgrp, ...; the start time at index 19); None when the process is gone."""
    try:
        text = stat.read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: count fields after its closing one.
    return text.rsplit(")", 1)[1].split()


def processes() -> Iterator[list[str]]:
    """proc_stat of every process there is."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        fields = proc_stat(stat)
        if fields is not None:
            yield fields


def _start_ticks(pid: int) -> int | None:
    """When the process started, in clock ticks since boot; None if there is no such process (or no /proc)."""
    fields = proc_stat(Path(f"/proc/{pid}/stat"))
    return int(fields[19]) if fields is not None else None


def _pid_namespace() -> str | None:
    """Which pid namespace this process sees (a container has its own): pids compare only within one."""
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return None


def this_process() -> dict:
    pid = os.getpid()
    return {
        "host": socket.gethostname(),
        "boot_id": _boot_id(),
        "pid_namespace": _pid_namespace(),
        "pid": pid,
        "start_ticks": _start_ticks(pid),
    }


def is_alive(worker: dict) -> bool | None:
    """True or False for a process this one can judge; None when it cannot (another machine, or another
    container's pids). The kernel's boot id and the pid namespace come first, the host name last: a
    container recreated under another host name, on the same boot and pid namespace, still judges
    the process it recorded."""
    same_kernel = bool(worker.get("boot_id")) and worker["boot_id"] == _boot_id()
    same_pids = same_kernel and worker.get("pid_namespace", _pid_namespace()) == _pid_namespace()
    if not same_pids:
        if worker.get("host") == socket.gethostname() and worker.get("boot_id") and not same_kernel:
            return False  # this host has rebooted since
        return None
    pid = int(worker["pid"])
    if worker.get("start_ticks") is not None and Path("/proc").is_dir():
        return _start_ticks(pid) == worker["start_ticks"]  # a reused pid started later
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive, but maybe not ours; never declare a live run dead
    return True


def describe(worker: dict) -> str:
    return f"pid {worker.get('pid')} on host {worker.get('host')}"
