"""The warm server: build steps and kernels forked from one process that has imported them.

Every page of a build used to start two interpreters, a step (``analysis.steps``, Papermill,
nbconvert) and a kernel (IPython, pandas, statsmodels, seaborn, svy, pandera), and each paid
for its imports. This server imports all of that once, without running any of it, and forks a
process for each request of ``warm_client.py``: the child takes the client's standard streams
(passed over the socket), working folder and environment, and runs the step or the kernel as a
fresh interpreter would. Nothing runs in the server itself, so no state passes from one page
to another: each child starts from the same freshly imported modules.

* The first step that finds no server starts one (``warm_client.start_server``) and runs in
  a fresh interpreter; the steps after it are forked. One server serves the checkout (every
  build and report folder of it); it exits after ``IDLE`` seconds without a running child.
* It refuses a request whose environment differs from its own in a variable read at import
  (``IMPORT_ENV``); the client then runs in a fresh interpreter. Once a library module changed
  on disk after the server imported it, it refuses and exits, and the next step starts a new one.
* One supervisor process per request relays the client's signals to the child and reports its
  exit status; when the client goes away, the supervisor kills the child.
"""

from __future__ import annotations

import atexit
import gc
import json
import os
import resource
import select
import signal
import socket
import sys
import tempfile
import time
import traceback
import uuid
from functools import lru_cache
from pathlib import Path

from analysis.warm_client import same_user

#: Seconds without a child before the server exits: long enough for an analyst's edit and
#: rebuild (and the test suite's quieter stretches), which each paid a server start at 15 s.
IDLE = 120.0
#: Environment variables that change what an import does: a request must agree on them.
#: Names that start so, and whole names (not LANG_REPORT, which make passes to every step of a
#: build run with it: as a prefix, "LANG" had the server refuse the builds of a server started
#: without it, so that they ran every step and kernel in a fresh interpreter).
IMPORT_ENV = ("PYTHON", "MPL", "OPENBLAS", "OMP_", "MKL_", "LC_", "POLARS", "PANDAS")
IMPORT_ENV_NAMES = ("LANG", "LANGUAGE", "TZ", "TZDIR")
INLINE = "module://matplotlib_inline.backend_inline"
#: What steps and kernels import, also lazily (measured with py-spy on a build: pandera
#: alone took 0.2 s in every page).
PRELOAD = [
    *("numpy", "pandas", "pandas.io.formats.style", "polars", "scipy.stats", "patsy"),
    *("statsmodels.api", "statsmodels.formula.api", "statsmodels.stats.multitest"),
    *("statsmodels.miscmodels.ordinal_model", "svy", "pandera.pandas", "pandera.errors"),
    *("matplotlib.pyplot", "matplotlib.backends.backend_agg", "seaborn", "seaborn.objects"),
    *("babel.dates", "babel.lists", "babel.messages.pofile", "openpyxl", "psutil", "sqlite3"),
    *("ipykernel.kernelapp", "ipykernel.ipkernel", "ipykernel.debugger", "IPython.display"),
    *("IPython.core.oinspect", "IPython.lib.lexers", "papermill", "nbconvert", "bleach"),
    # by name, so that build.mk's page dependencies (graph.module_deps) do not count them
    *(f"analysis.{m}" for m in ("codebook", "ingest", "load", "models", "plots", "processed")),
    *(f"analysis.{m}" for m in ("published", "register", "results", "steps", "tables", "trends")),
    *(
        f"analysis.{m}"
        for m in ("derive", "estimates", "weights", "replication", "render", "publish", "graph")
    ),
]


@lru_cache(maxsize=1)
def kernel_manager() -> type:
    """Kernels talk over local IPC sockets instead of TCP: no ports to clash between parallel
    steps, and no "running over TCP without encryption" warning from every kernel."""
    from jupyter_client.asynchronous import AsyncKernelClient
    from jupyter_client.manager import AsyncKernelManager

    class ReadyClient(AsyncKernelClient):
        async def wait_for_ready(self, timeout: float | None = None) -> None:
            """jupyter_client's handshake, with IOPub waited on for 0.05 s instead of 0.2 s: it
            ends by draining IOPub until that long passes without a message, a sleep at the
            start of every notebook. A later message has another parent; nbclient skips it."""
            channel = self.iopub_channel
            get = channel.get_msg
            channel.get_msg = lambda timeout=None: get(timeout=min(timeout or 0.05, 0.05))
            try:
                await super().wait_for_ready(timeout)
            finally:
                del channel.get_msg

    class IPCKernelManager(AsyncKernelManager):
        def __init__(self, **kw) -> None:  # a socket path of its own for every kernel
            ip = os.path.join(tempfile.gettempdir(), f"kb-kernel-{uuid.uuid4().hex[:16]}")
            if len(ip) > 96:  # a Unix socket path has about 107 bytes: a long TMPDIR uses TCP
                super().__init__(**kw)
            else:
                super().__init__(**{"transport": "ipc", "ip": ip, **kw})
            self.client_factory = ReadyClient

        async def _async_finish_shutdown(self, waittime=None, pollinterval=0.1, restart=False):
            """Whether the kernel has exited is asked every 0.01 s, not 0.1 s (it takes ~0.01 s)."""
            await super()._async_finish_shutdown(waittime, 0.01, restart)

        def format_kernel_cmd(self, extra_arguments=None) -> list[str]:
            """Forked from the build's warm server when there is one (analysis.warm)."""
            cmd = super().format_kernel_cmd(extra_arguments)
            sock = os.environ.get("KB_WARM_SOCKET", "")
            args = [a for a in cmd[1:] if not a.startswith("-X")]  # interpreter options
            if not os.path.exists(sock) or args[:2] != ["-m", "ipykernel_launcher"]:
                return cmd
            client = str(Path(__file__).with_name("warm_client.py"))  # cold: cmd as it was
            return [cmd[0], "-S", client, "--socket", sock, "--kind", "kernel", "--", *cmd[1:]]

    return IPCKernelManager


def preload() -> None:
    """Import what steps and kernels import, and do once what each of them did first: compile
    the page templates (:func:`analysis.render.warm_up`) and the table template, load both
    languages' number formats, look up the default font (0.05-0.1 s of every kernel).
    matplotlib's backend is left unresolved (the kernel's inline backend hooks into IPython
    when it is first resolved)."""
    os.environ.setdefault("MPLBACKEND", INLINE)  # what ipykernel sets before any cell runs
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")  # as jupyter_client does
    sys.modules.setdefault("rfc3987_syntax", None)  # as analysis.steps
    import importlib

    for name in PRELOAD:
        importlib.import_module(name)

    importlib.import_module("analysis.render").warm_up()
    import pandas as pd
    from matplotlib import font_manager

    from analysis import i18n, tables

    tables.style(pd.DataFrame({"x": [1.5]}), "warm-up").to_html()
    for lang in ("nb", "en"):
        i18n.Lang(lang).num(1234.5, 1)
    font_manager.findfont(font_manager.FontProperties())
    assert "matplotlib_inline.backend_inline" not in sys.modules, "backend resolved in server"
    gc.freeze()  # the children's collections skip what the server made (and share its pages)


def watched() -> list[str]:
    """The files whose change makes the server stale: every imported module of the library,
    the package's templates, catalogs and schema (the server compiled the page and table
    templates), the venv's install stamp and its site-packages folders (a package installed,
    removed or upgraded by hand adds or removes a ``*.dist-info`` folder there)."""
    import sysconfig

    root = os.path.dirname(__file__)
    mods = {f for m in list(sys.modules.values()) if (f := getattr(m, "__file__", None))}
    data = [
        os.path.join(d, f)
        for d, _dirs, files in os.walk(root)
        for f in files
        if f.endswith((".j2", ".tpl", ".css", ".json", ".po", ".mo"))
    ]
    paths = sysconfig.get_paths()
    return (
        sorted(f for f in mods if os.path.dirname(f) == root)
        + sorted(data)
        + [
            f
            for f in [os.path.join(sys.prefix, ".installed"), paths["purelib"], paths["platlib"]]
            if os.path.exists(f)
        ]
    )


def fingerprint(files: list[str]) -> list[tuple[str, int, int]]:
    """Modification time and size of each of ``files`` (a removed one: none), the list from
    :func:`watched` taken once (the server imports nothing after its preload; a walk over its
    3 600 modules took 20 ms of every request)."""
    stats = [os.stat(f) if os.path.exists(f) else os.stat_result((-1,) * 10) for f in files]
    return [(f, s.st_mtime_ns, s.st_size) for f, s in zip(files, stats, strict=True)]


def import_env(env: dict[str, str]) -> dict[str, str]:
    """The variables of ``env`` that change what an import does."""
    return {k: v for k, v in env.items() if k.startswith(IMPORT_ENV) or k in IMPORT_ENV_NAMES}


def run(kind: str, args: list[str]) -> int:
    """In the forked child: the step ``python -m analysis.steps ARGS`` or the kernel
    ``python -m ipykernel_launcher ARGS``; its exit status."""
    atexit._clear()  # the server's exit handlers are not the child's
    try:
        if kind == "step":
            from analysis import steps

            sys.argv = [steps.__file__, *args]
            return steps.main(args)
        args = [a for a in args if not a.startswith("-X")]  # a fork keeps the server's
        if args[:2] != ["-m", "ipykernel_launcher"]:
            raise ValueError(f"not a kernel command: {args}")
        from ipykernel import kernelapp

        sys.argv = [kernelapp.__file__, *args[2:]]
        sys.path.insert(0, os.getcwd())  # as `python -m` does
        kernelapp.IPKernelApp.launch_instance(argv=args[2:])
        return 0
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except KeyboardInterrupt:
        return -signal.SIGINT
    except BaseException:
        traceback.print_exc()
        return 1
    finally:
        atexit._run_exitfuncs()
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass


def child(request: dict, fds: list[int]) -> None:
    """The forked child: the client's streams, folder and environment, then the command."""
    for i, fd in enumerate(fds):
        os.dup2(fd, i)
        os.close(fd)
    for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGCHLD):
        signal.signal(s, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    code = run(request["kind"], request["args"])
    if code < 0:  # die of the signal, as a fresh interpreter would
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
    os._exit(code & 0xFF)


def remove_kernel_files(request: dict) -> None:
    """A killed kernel's connection file and IPC sockets: jupyter_client removes them after a
    shutdown it asked for, but nobody is left to after a killed build (they piled up in
    $TMPDIR, five sockets and a file a kernel)."""
    args = request["args"]
    try:
        path = os.path.join(request["cwd"], args[args.index("-f") + 1])
        info = json.loads(Path(path).read_text())
    except (ValueError, IndexError, OSError):
        return
    if info.get("transport") == "ipc":
        for port in ("shell_port", "iopub_port", "stdin_port", "control_port", "hb_port"):
            Path(f"{info.get('ip')}-{info.get(port)}").unlink(missing_ok=True)
    Path(path).unlink(missing_ok=True)


def supervise(conn: socket.socket, env: dict[str, str]) -> None:
    """One request: fork the child, relay the client's signals, report the exit status.
    ``env``: the server's own environment, read at import."""
    data, fds, _flags, _addr = socket.recv_fds(conn, 1 << 22, 3)
    while not data.endswith(b"\n"):
        more = conn.recv(1 << 22)
        if not more:
            os._exit(1)
        data += more
    request, t0 = json.loads(data), time.monotonic()
    if (theirs := import_env(request["env"])) != env:
        conn.sendall(b"refused\n")  # the client runs in a fresh interpreter
        differ = sorted(k for k in {*theirs, *env} if theirs.get(k) != env.get(k))
        print(f"refused {request['kind']}: its environment differs in {', '.join(differ)}")
        sys.stdout.flush()
        os._exit(0)
    pid = os.fork()
    if pid == 0:
        conn.close()
        child(request, fds)
    for fd in fds:
        os.close(fd)
    try:
        conn.sendall(f"pid {pid}\n".encode())
    except OSError:  # the client is gone (killed with its build): so is what it asked for
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os._exit(0)
    exited = [os.pidfd_open(pid)] if hasattr(os, "pidfd_open") else []  # readable at its exit
    buf = b""
    while True:
        ready, _, _ = select.select([conn, *exited], [], [], 0.2)
        if conn in ready:
            more = conn.recv(4096)
            if not more:  # the client is gone
                os.kill(pid, signal.SIGKILL)
            buf += more
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                if line.startswith(b"sig "):
                    try:
                        os.kill(pid, int(line.split()[1]))
                    except ProcessLookupError:
                        pass
        done, status, usage = os.wait4(pid, os.WNOHANG)
        if done:
            code = os.waitstatus_to_exitcode(status)
            what = " ".join(a for a in request["args"] if not a.startswith("/"))[-160:]
            peak = f"peak {usage.ru_maxrss / 1024:.0f} MB"  # read by benchmarks/bench.py
            print(f"{request['kind']} {what}: {code} in {time.monotonic() - t0:.1f} s, {peak}")
            sys.stdout.flush()
            if request["kind"] == "kernel" and code < 0:  # killed
                remove_kernel_files(request)
            try:
                conn.sendall(f"exit {code}\n".encode())
            except OSError:
                pass
            os._exit(0)


def serve(path: str, lock_fd: int) -> None:
    """Import, listen on ``path``, fork a supervisor per request; exit when idle or stale.
    ``lock_fd`` holds the lock that keeps a second server from starting (not given to children)."""
    t0, env = time.monotonic(), import_env(dict(os.environ))
    preload()
    files = watched()
    known = fingerprint(files)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    tmp = f"{path}.{os.getpid()}"
    old_umask = os.umask(0o077)  # only this user may connect: a request runs any step
    listener.bind(tmp)
    os.umask(old_umask)
    listener.listen(64)
    os.replace(tmp, path)
    print(f"warm server ready in {time.monotonic() - t0:.1f} s", flush=True)
    children: set[int] = set()
    last = time.monotonic()
    try:
        while True:
            ready, _, _ = select.select([listener], [], [], 0.5)
            while children:
                done, _status = os.waitpid(-1, os.WNOHANG)
                if not done:
                    break
                children.discard(done)
                last = time.monotonic()
            if ready:
                conn, _addr = listener.accept()
                if not same_user(conn):  # the folder is this user's alone; this is a second lock
                    conn.close()
                    continue
                if fingerprint(files) != known:
                    conn.sendall(b"stale\n")  # the client runs cold; a new server starts
                    conn.close()
                    break
                pid = os.fork()
                if pid == 0:  # never returns into this loop, whose finally removes the socket
                    listener.close()
                    os.close(lock_fd)
                    try:
                        supervise(conn, env)
                    except BaseException:
                        traceback.print_exc()
                    finally:
                        sys.stdout.flush()
                        os._exit(1)
                children.add(pid)
                conn.close()
                last = time.monotonic()
            elif not children and time.monotonic() - last > IDLE:
                break
    finally:
        Path(path).unlink(missing_ok=True)  # no other server can start while we hold the lock
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"warm server exits, peak {peak:.0f} MB", flush=True)


if __name__ == "__main__":
    serve(sys.argv[1], int(sys.argv[2]))
