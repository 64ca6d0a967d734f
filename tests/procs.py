"""Process and port helpers shared by the tests, the browser benches and the screenshot script."""

from __future__ import annotations

import os
import socket
from pathlib import Path


def free_port() -> int:
    """A loopback port free at the time of asking."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def children_of(parent: int) -> set[int]:
    """The pids whose parent is ``parent`` (from /proc: e.g. gunicorn's workers of its master)."""
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
                if int(stat[stat.rindex(")") + 2:].split()[1]) == parent:
                    found.add(int(entry))
            except (OSError, ValueError):
                pass
    return found
