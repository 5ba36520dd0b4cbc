"""The ``seq2expr`` command, started once: a server that has imported the CLI (and Lightning, which ``train``
imports) forks a child per command, and a client that stands in for the ``seq2expr`` executable.

The tutorials run about thirty commands; a fresh interpreter pays 2-6 s of imports for each (torch, then Lightning
for ``train``) before doing anything. The child of the server is a process of its own, like a fresh one: it runs
the CLI in the client's folder with the client's arguments, environment and standard streams (passed over the
socket), runs the exit handlers and ends with the command's exit status, which the client exits with (or the
signal it died of, which the client then dies of). What the server imported is all it shares with a fresh process;
it never runs a command itself.

    python tests/cli_server.py serve SOCKET            # the server (until killed)
    python tests/cli_server.py call SOCKET ARGS...     # one ``seq2expr ARGS...``
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import struct
import sys

_HEAD = struct.Struct("!I")  # the request's length, sent with the three standard streams' descriptors
_STATUS = struct.Struct("!i")


def _read(conn: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        part = conn.recv(n - len(data))
        if not part:
            raise EOFError
        data += part
    return data


def call(path: str, args: list[str]) -> int:
    """Run ``seq2expr ARGS`` in the server at ``path`` (started: the fixture waits for its socket) and return its
    exit status."""
    request = json.dumps({"args": args, "cwd": os.getcwd(), "env": dict(os.environ)}).encode()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.connect(path)
        socket.send_fds(conn, [_HEAD.pack(len(request))], [0, 1, 2])
        conn.sendall(request)
        try:
            return _STATUS.unpack(_read(conn, _STATUS.size))[0]
        except EOFError:
            sys.exit("seq2expr: the command's process ended without a status")


def _command(fds: list[int], request: dict) -> None:
    """In the command's process: take the caller's streams, folder, environment and arguments, run the CLI, run the
    exit handlers as an interpreter's exit would, and end with the command's status."""
    import atexit
    import traceback

    code = 1
    try:
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        sys.argv = ["seq2expr", *request["args"]]
        from seq2expr.cli.main import app

        try:
            app(args=request["args"], prog_name="seq2expr")
            code = 0
        except SystemExit as end:
            code = end.code if isinstance(end.code, int) else (0 if end.code is None else 1)
            if not isinstance(end.code, int | None):
                print(end.code, file=sys.stderr)
        except BaseException:
            traceback.print_exc()
        atexit._run_exitfuncs()  # temporary folders, atomic outputs' clean-up
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(code)


def _monitor(conn: socket.socket, fds: list[int], request: dict) -> None:
    """Fork the command's process, wait for it and send its status to the caller: the exit code, or minus the
    signal that ended it (a fault test's SIGKILL), which the caller then dies of too."""
    import signal

    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    pid = os.fork()
    if pid == 0:
        conn.close()
        _command(fds, request)
    for fd in fds:
        os.close(fd)  # the caller's pipes end when the command ends
    try:
        _, status = os.waitpid(pid, 0)
        conn.sendall(_STATUS.pack(os.waitstatus_to_exitcode(status)))
    finally:
        os._exit(0)


def serve(path: str) -> None:
    """Import what the commands import, then run each request in a process of its own until killed."""
    import signal

    import lightning.pytorch  # noqa: F401  (training's import, paid here once)
    import torchmetrics  # noqa: F401

    import seq2expr.cli.main  # noqa: F401

    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the monitors are reaped by the kernel
    parent = os.getppid()
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path + ".tmp")
    os.replace(path + ".tmp", path)  # clients connect only once the imports are done
    server.listen(16)
    server.settimeout(1.0)
    while True:
        try:
            conn, _ = server.accept()
        except TimeoutError:
            if os.getppid() != parent:  # the test process is gone (killed): so is its server
                return
            continue
        conn.settimeout(None)
        try:
            head, fds, _, _ = socket.recv_fds(conn, _HEAD.size, 3)
            if len(head) < _HEAD.size:
                head += _read(conn, _HEAD.size - len(head))
            request = json.loads(_read(conn, _HEAD.unpack(head)[0]))
        except (EOFError, OSError, ValueError):
            conn.close()
            continue
        if os.fork() == 0:
            server.close()
            _monitor(conn, fds, request)
        conn.close()
        for fd in fds:
            os.close(fd)


def main() -> None:
    if sys.argv[1] == "serve":
        serve(sys.argv[2])
        return
    status = call(sys.argv[2], sys.argv[3:])
    if status < 0:  # the command died of a signal: so does its stand-in
        import signal

        if -status not in (signal.SIGKILL, signal.SIGSTOP):  # those two cannot be handled
            signal.signal(-status, signal.SIG_DFL)
        os.kill(os.getpid(), -status)
    sys.exit(status)


if __name__ == "__main__":
    main()
