"""Another local user (``nobody``) probing the embedded server's socket, for tests run as root.

The other user runs the system's Python (``-I``, standard library only; the project's may sit
under a folder closed to it) and speaks the first message of the PostgreSQL protocol.
"""

from __future__ import annotations

import json
import os
import pwd
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

NEEDS_ROOT = pytest.mark.skipif(
    os.geteuid() != 0,
    reason="needs root: the server runs as pgserver and another user (nobody) probes it; "
    "CI runs as root",
)
OTHER_USER = "nobody"

# Connects to a unix socket and sends a startup message for user postgres; prints what
# came back: {"connected": false, "error": ...} or the first reply ("R" + code 0 = let in).
PROBE = r"""
import json, socket, struct, sys
try:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(10)
    sock.connect(sys.argv[1])
except OSError as exc:
    print(json.dumps({"connected": False, "error": type(exc).__name__}))
    raise SystemExit(0)
params = b"user\0postgres\0database\0postgres\0\0"
sock.sendall(struct.pack("!ii", 8 + len(params), 196608) + params)
reply = sock.recv(4096)
kind = reply[:1].decode("latin-1")
code = struct.unpack("!i", reply[5:9])[0] if kind == "R" else None
print(json.dumps({"connected": True, "kind": kind, "code": code,
                  "text": reply[5:].decode("latin-1", "replace")}))
"""


def _other_user_python() -> str:
    """A Python the other user can run (the project's may sit under root's 0700 home)."""
    other = pwd.getpwnam(OTHER_USER)
    for candidate in (sys.executable, "/usr/bin/python3"):
        try:
            result = subprocess.run(
                [candidate, "-I", "-c", "pass"],
                user=other.pw_uid,
                group=other.pw_gid,
                extra_groups=[],
                cwd="/",
                capture_output=True,
                check=False,
            )
        except OSError:
            continue
        if result.returncode == 0:
            return candidate
    pytest.skip(f"no Python that {OTHER_USER} may run (tried {sys.executable}, /usr/bin/python3)")


def probe_as_other_user(socket_path: Path) -> dict[str, Any]:
    other = pwd.getpwnam(OTHER_USER)
    result = subprocess.run(
        [_other_user_python(), "-I", "-c", PROBE, str(socket_path)],
        user=other.pw_uid,
        group=other.pw_gid,
        extra_groups=[],
        cwd="/",
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    answer: dict[str, Any] = json.loads(result.stdout)
    return answer
