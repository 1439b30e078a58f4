"""Run untrusted-file work in a child process with a time and memory limit.

A hostile upload (a compression bomb, a page tree that recurses forever, a content stream that
never ends) must cost a refusal, never the web worker or the task worker that handled it. Each
call runs in a process forked from a small helper process started once per calling process
(``python -m workshop.isolate``): the helper has the PDF and image libraries imported and no
threads, so a child starts warm in a few milliseconds and inherits no lock of the caller's. The
child sets ``RLIMIT_AS`` and ``RLIMIT_CPU`` on itself before it touches the bytes, and the caller
kills it at the wall-clock deadline. A child that runs out of memory, crashes or overruns becomes
an ``Overrun`` in the caller with a message saying which.
"""

from __future__ import annotations

import importlib
import json
import os
import pickle
import resource
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

KEPT_ENVIRONMENT = {"PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "VIRTUAL_ENV",
                    "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"}
# Modules the helper imports once, so that each child starts warm.
PRELOAD = ("workshop.pdfsafe", "workshop.forensic", "workshop.imagesafe")


class Overrun(Exception):
    """The work took more time or memory than allowed, or its process died; ``message`` says which."""

    def __init__(self, message: str, kind: str):
        super().__init__(message)
        self.message = message
        self.kind = kind  # "time", "memory" or "crash"


class Refusal(Exception):
    """Raised by the work itself: the file is refused, and ``message`` says why."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Budget:
    seconds: float
    memory_mb: int


# --- framing ------------------------------------------------------------------------------


def _send(sock: socket.socket, payload: bytes) -> None:
    sock.sendall(struct.pack("!Q", len(payload)) + payload)


def _recv_exact(sock: socket.socket, size: int, deadline: float | None) -> bytes:
    chunks, got = [], 0
    while got < size:
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([sock], [], [], remaining)[0]:
                raise TimeoutError
        chunk = sock.recv(min(size - got, 1 << 20))
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def _recv(sock: socket.socket, deadline: float | None = None) -> bytes:
    (size,) = struct.unpack("!Q", _recv_exact(sock, 8, deadline))
    return _recv_exact(sock, size, deadline)


# What a child sends back is read without pickle: a child that a hostile file took over must not
# be able to make its caller run code. JSON for the structure, raw bytes beside it.


def _pack(value) -> bytes:
    blobs: list[bytes] = []

    def plain(item):
        if isinstance(item, (bytes, bytearray)):
            blobs.append(bytes(item))
            return {"$bytes": len(blobs) - 1}
        if isinstance(item, (list, tuple)):
            return [plain(x) for x in item]
        if isinstance(item, dict):
            return {str(k): plain(v) for k, v in item.items()}
        if item is None or isinstance(item, (str, int, float, bool)):
            return item
        raise TypeError(f"cannot send a {type(item).__name__} back")

    head = json.dumps(plain(value)).encode()
    sizes = json.dumps([len(b) for b in blobs]).encode()
    return struct.pack("!QQ", len(head), len(sizes)) + head + sizes + b"".join(blobs)


def _unpack(payload: bytes):
    head_size, sizes_size = struct.unpack("!QQ", payload[:16])
    head = json.loads(payload[16:16 + head_size])
    sizes = json.loads(payload[16 + head_size:16 + head_size + sizes_size])
    blobs, offset = [], 16 + head_size + sizes_size
    for size in sizes:
        blobs.append(payload[offset:offset + int(size)])
        offset += int(size)

    def restore(item):
        if isinstance(item, dict):
            if set(item) == {"$bytes"}:
                return blobs[int(item["$bytes"])]
            return {k: restore(v) for k, v in item.items()}
        if isinstance(item, list):
            return [restore(x) for x in item]
        return item

    return restore(head)


# --- the helper and its children -----------------------------------------------------------


def _vm_bytes() -> int:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _child(sock: socket.socket) -> None:
    _send(sock, struct.pack("!i", os.getpid()))
    module, name, args, budget = pickle.loads(_recv(sock))  # noqa: S301 - from the caller, not the file
    # The limit counts from what the (warm) child already maps, so it bounds what the work adds.
    limit = _vm_bytes() + budget.memory_mb * 1024 * 1024
    try:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        seconds = max(int(budget.seconds) + 2, 2)
        resource.setrlimit(resource.RLIMIT_CPU, (seconds, seconds + 1))
    except (ValueError, OSError):
        pass
    try:
        result = ["ok", getattr(importlib.import_module(module), name)(*args)]
    except MemoryError:
        result = ["memory", None]
    except Refusal as error:
        result = ["refused", error.message]
    except Exception as error:
        result = ["crash", repr(error)[:300]]
    try:
        payload = _pack(result)
    except MemoryError:
        payload = _pack(["memory", None])
    except Exception as error:
        payload = _pack(["crash", repr(error)[:300]])
    _send(sock, payload)


def serve(control: socket.socket) -> None:
    """The helper's loop: for each socket the caller hands over, fork a child that serves that call."""
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    for module in PRELOAD:
        importlib.import_module(module)
    while True:
        try:
            _, fds, _, _ = socket.recv_fds(control, 1, 1)
        except OSError:
            return
        if not fds:
            return  # the caller has gone
        if os.fork() == 0:
            control.close()
            status = 0
            try:
                with socket.socket(fileno=fds[0]) as sock:
                    _child(sock)
            except BaseException:
                status = 1
            os._exit(status)
        os.close(fds[0])


class _Helper:
    def __init__(self):
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        root = str(Path(__file__).resolve().parent.parent)
        # The helper and its children read hostile files: they get no secret from the environment
        # (SECRET_KEY, DATABASE_URL, storage keys), and one thread each.
        env = {key: value for key, value in os.environ.items() if key in KEPT_ENVIRONMENT}
        env.update(PYTHONPATH=os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])),
                   OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
        command = [sys.executable, "-m", "workshop.isolate", str(theirs.fileno())]
        self.process = subprocess.Popen(command, pass_fds=(theirs.fileno(),), env=env, cwd=root,  # noqa: S603
                                        stdin=subprocess.DEVNULL, close_fds=True)
        theirs.close()
        self.control = ours
        self.pid = os.getpid()
        self.lock = threading.Lock()

    def open_call(self) -> socket.socket:
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            with self.lock:
                socket.send_fds(self.control, [b"c"], [theirs.fileno()])
        finally:
            theirs.close()
        return mine


_helper: _Helper | None = None
_helper_lock = threading.Lock()


def _get_helper(fresh: bool = False) -> _Helper:
    global _helper
    with _helper_lock:
        # A forked caller (a web server's workers) starts its own helper.
        if fresh or _helper is None or _helper.pid != os.getpid() or _helper.process.poll() is not None:
            _helper = _Helper()
        return _helper


def run(function: Callable, args: tuple, budget: Budget, what: str = "This file"):
    """``function(*args)`` in a child process within ``budget``: its result (plain data: str, int,
    float, bool, None, bytes, lists and dicts of them).

    Raises the Refusal the function raised (as a Refusal), or Overrun when the child needs more
    time or memory than the budget, or dies. ``function`` must be a module-level function of a
    module the helper can import.
    """
    request = pickle.dumps((function.__module__, function.__name__, args, budget), protocol=pickle.HIGHEST_PROTOCOL)
    try:
        sock = _get_helper().open_call()
    except OSError:
        sock = _get_helper(fresh=True).open_call()
    deadline = time.monotonic() + budget.seconds
    pid = None
    try:
        (pid,) = struct.unpack("!i", _recv(sock, time.monotonic() + 30))
        _send(sock, request)
        payload = _recv(sock, deadline)
        pid = None
    except TimeoutError:
        raise Overrun(f"{what} takes too long to process (more than {budget.seconds:g} seconds).", "time") from None
    except (EOFError, OSError, struct.error):
        raise Overrun(f"{what} could not be processed: its reader stopped on it.", "crash") from None
    finally:
        sock.close()
        if pid is not None:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    try:
        status, value = _unpack(payload)
    except (ValueError, TypeError, struct.error):
        raise Overrun(f"{what} could not be processed.", "crash") from None
    if status == "ok":
        return value
    if status == "refused":
        raise Refusal(str(value))
    if status == "memory":
        raise Overrun(f"{what} needs more memory to process than Conclave allows ({budget.memory_mb} MB).",
                      "memory")
    raise Overrun(f"{what} could not be processed.", "crash")


if __name__ == "__main__":
    # Through the package, so the helper and the work share one module (and one Refusal class).
    from workshop.isolate import serve as serve_imported

    serve_imported(socket.socket(fileno=int(sys.argv[1])))
