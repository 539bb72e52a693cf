"""Run a build step or a kernel in a process forked from the warm server of this checkout.

``python -S warm_client.py --kind step|kernel -- ARGS`` (standard library only, so that it
starts in milliseconds). It asks the server (``analysis.warm``, which has pandas, statsmodels,
seaborn, Papermill and the library imported) to fork a process that runs ``python -m
analysis.steps ARGS`` (``step``) or the kernel command ``python ARGS`` (``kernel``) with this
process's standard streams, working folder and environment; it relays signals to that process
and exits with its status. Without a server it runs the same command in a fresh interpreter; a
``step`` client then starts the server for the steps after it. There is one server per checkout
and interpreter (``KB_WARM_KEY`` makes a private one); ``KB_WARM=0`` runs every step and kernel
in a fresh interpreter.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import select
import signal
import socket
import sys
import tempfile

ENV = "KB_WARM_SOCKET"
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)


def private_dir() -> str | None:
    """``$TMPDIR/kb-warm-<uid>``, this user's alone (mode 0700, owned by this user), made if
    missing; None if it is anyone else's or open to others (then every step runs cold)."""
    import stat

    d = os.path.join(tempfile.gettempdir(), f"kb-warm-{os.getuid()}")
    try:
        os.mkdir(d, 0o700)
    except FileExistsError:
        pass
    except OSError:
        return None
    st = os.lstat(d)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o077:
        return None
    return d


def socket_path() -> str:
    """The server's socket (short: a Unix socket path has about 100 bytes), in this user's
    private folder (:func:`private_dir`); its lock and log are beside it. Empty when there is
    no private folder."""
    key = f"{os.path.realpath(__file__)}\0{sys.executable}\0{os.environ.get('KB_WARM_KEY', '')}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    d = private_dir()
    path = os.path.join(d, f"{digest}.sock") if d else ""
    return path if len(path) < 100 else ""  # a Unix socket path has about 107 bytes


def same_user(conn: socket.socket) -> bool:
    """Whether the process at the other end of the socket runs as this user (Linux'
    SO_PEERCRED); another local user who bound the path receives nothing of the build."""
    import struct

    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return uid == os.getuid()


def cold(kind: str, args: list[str]) -> None:
    """The same command in a fresh interpreter (replaces this process)."""
    cmd = ["-m", "analysis.steps", *args] if kind == "step" else args
    os.execv(sys.executable, [sys.executable, *cmd])


def start_server(sock: str) -> None:
    """Start the server unless one is running or starting (a lock decides); the server
    inherits the lock and holds it while it lives."""
    import subprocess

    try:
        fd = os.open(sock + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    except OSError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return
    if os.path.exists(sock):
        os.unlink(sock)  # left by a server that was killed
    log = os.open(sock + ".log", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    subprocess.Popen(
        [sys.executable, "-m", "analysis.warm", sock, str(fd)],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=log,
        pass_fds=(fd,),
        start_new_session=True,
    )
    os.close(fd)
    os.close(log)


def readline(conn: socket.socket) -> str:
    """One line from the server, read byte by byte (nothing after it is consumed)."""
    line = b""
    while not line.endswith(b"\n"):
        byte = conn.recv(1)
        if not byte:
            break
        line += byte
    return line.decode()


def orphaned(parent: int, kind: str) -> bool:
    """Whoever started this client is gone: its parent is no longer ``parent`` (the parent it
    started with), or, for a kernel, its launcher (``JPY_PARENT_PID``, which jupyter_client
    sets) no longer exists, as when a build is killed while it starts a kernel."""
    launcher = os.environ.get("JPY_PARENT_PID", "") if kind == "kernel" else ""
    if os.getppid() != parent:
        return True
    try:
        if launcher.isdigit() and int(launcher) > 1:
            os.kill(int(launcher), 0)
    except ProcessLookupError:
        return True
    except OSError:
        pass
    return False


def relay(conn: socket.socket, parent: int, kind: str) -> int:
    """Forward signals to the forked process until it exits; its exit status."""
    for s in FORWARDED:
        signal.signal(s, lambda n, _f: conn.sendall(f"sig {n}\n".encode()))
    while True:
        ready, _, _ = select.select([conn], [], [], 1.0)
        if ready:
            line = readline(conn).split()
            return int(line[1]) if line[:1] == ["exit"] else 1  # else: the server side died
        if orphaned(parent, kind):
            conn.sendall(f"sig {int(signal.SIGKILL)}\n".encode())


def main(argv: list[str]) -> None:
    parent = os.getppid()
    sep = argv.index("--")
    opts, args = argv[:sep], argv[sep + 1 :]
    kind = opts[opts.index("--kind") + 1]
    if orphaned(parent, kind):  # nobody is left to use or stop what it would start
        sys.exit(1)
    sock = opts[opts.index("--socket") + 1] if "--socket" in opts else socket_path()
    if os.environ.get("KB_WARM") == "0" or not sock:
        cold(kind, args)
    os.environ[ENV] = sock
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(sock)
        if not same_user(conn):
            raise OSError(f"{sock} is not this user's")
        request = {"kind": kind, "args": args, "cwd": os.getcwd(), "env": dict(os.environ)}
        socket.send_fds(conn, [json.dumps(request).encode() + b"\n"], [0, 1, 2])
        reply = readline(conn).split()
    except OSError:
        reply = []
    if reply[:1] != ["pid"]:  # no server (yet), or it refused: its code or environment differ
        conn.close()
        if kind == "step":
            start_server(sock)
        cold(kind, args)
    status = relay(conn, parent, kind)
    if status < 0:  # killed by a signal: die of the same signal
        signal.signal(-status, signal.SIG_DFL)
        os.kill(os.getpid(), -status)
    sys.exit(status)


if __name__ == "__main__":
    main(sys.argv[1:])
