"""The warm server (analysis.warm): steps and kernels forked from one process that imported
them give the same pages as fresh interpreters, pass on exit statuses and signals, and leave
no process behind."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import psutil
import pytest
from conftest import BUILD_TIME, WARM_CLIENT, start_warm_server

from analysis import build, config, steps
from analysis.warm_client import socket_path

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", autouse=True)
def private_server(tmp_path_factory):
    """The tests share a server of their own (the builds of other workers share the
    checkout's); afterwards it is stopped and its socket, lock and log leave $TMPDIR (a new
    key every run would otherwise leave two files there for good)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KB_WARM_KEY", str(tmp_path_factory.mktemp("warm-key")))
        sock = socket_path()
        yield
    for p in psutil.process_iter(["cmdline"]):
        if sock in " ".join(p.info["cmdline"] or []):
            p.terminate()
            with contextlib.suppress(psutil.Error):
                p.wait(10)
    for suffix in ("", ".lock", ".log"):
        Path(sock + suffix).unlink(missing_ok=True)


def client(*args: str, kind: str = "step", **kw) -> subprocess.Popen:
    cmd = [sys.executable, "-S", str(WARM_CLIENT), "--kind", kind, "--", *args]
    return subprocess.Popen(cmd, cwd=config.PROJECT_ROOT, **kw)


def start_server(tmp_path: Path) -> psutil.Process:
    """The private server, started as a build's first step starts it (or the one running)."""
    sock = start_warm_server(tmp_path)
    return next(
        p for p in psutil.process_iter(["cmdline"]) if sock in " ".join(p.info["cmdline"] or [])
    )


def wait_for_no_children(server: psutil.Process) -> None:
    deadline = time.time() + 15
    while server.is_running() and server.children(recursive=True):
        assert time.time() < deadline, server.children(recursive=True)
        time.sleep(0.2)


def test_a_forked_step_renders_the_same_page_as_a_fresh_interpreter(site, tmp_path):
    """One page step of the shared build, in a copy of its working folder: once in a fresh
    interpreter (KB_WARM=0), once forked from the server; the pages are the same bytes."""
    b = tmp_path / "build"
    shutil.copytree(build.build_dir_for(site), b, symlinks=True)
    args = ["page", "--build-dir", str(b), "--site", "2019", "--notebook", "13_methods"]
    args += ["--page", "metode.html", "--pooled", "1", "--codebook", str(config.CODEBOOK_PATH)]
    page = b / "site" / "2019" / "metode.html"
    cold = client(*args, env={**os.environ, "KB_WARM": "0"})
    assert cold.wait() == 0
    first = BUILD_TIME.sub(b"", page.read_bytes())
    page.unlink()
    server = start_server(tmp_path)
    warm = client(*args)
    assert warm.wait() == 0
    assert BUILD_TIME.sub(b"", page.read_bytes()) == first
    log = Path(socket_path() + ".log").read_text()  # the server's line per request
    assert re.search(r"^step .*page .*13_methods .*: 0 in", log, re.M), log
    assert re.search(r"^kernel .*-m ipykernel_launcher .*: 0 in", log, re.M), log
    assert server.is_running()


def test_kernels_fork_from_the_server_with_its_imports(tmp_path, monkeypatch):
    server = start_server(tmp_path)
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import os, sys\nprint('pandas' in sys.modules)")]
    nbformat.write(nb, tmp_path / "probe.ipynb")
    runs = {}
    for warm in (False, True):
        if warm:
            monkeypatch.setenv("KB_WARM_SOCKET", socket_path())
        steps.run_notebook("probe", tmp_path / f"out-{warm}.ipynb", {}, tmp_path, tmp_path)
        out = nbformat.read(tmp_path / f"out-{warm}.ipynb", as_version=4)
        runs[warm] = out.cells[0].outputs[0]["text"].strip()
    assert runs == {False: "False", True: "True"}
    wait_for_no_children(server)


def test_exit_status_and_signals_pass_through(tmp_path):
    server = start_server(tmp_path)
    bad = client("no-such-step", stderr=subprocess.PIPE)
    assert bad.wait() == 2 and b"invalid choice" in bad.stderr.read()
    # an environment that could change what an import does: refused, run in a fresh interpreter
    log = Path(socket_path() + ".log")
    before = log.read_text()
    other = client("dictionary", "--build-dir", str(tmp_path), env={**os.environ, "TZ": "UTC-3"})
    assert other.wait() == 0
    assert log.read_text()[len(before) :] == "refused step: its environment differs in TZ\n"
    # make passes LANG_REPORT to every step of a build run with it: not a locale, so forked
    before = log.read_text()
    report = {**os.environ, "LANG_REPORT": "en"}
    assert client("dictionary", "--build-dir", str(tmp_path), env=report).wait() == 0
    assert re.fullmatch(r"step dictionary --build-dir: 0 in .*\n", log.read_text()[len(before) :])
    # a kernel that waits for a frontend: SIGTERM to the client ends it, SIGKILL to the
    # client makes the server's supervisor kill it; no process is left either way, and no
    # connection file or IPC socket (as a build's kernels talk)
    from jupyter_client.connect import write_connection_file

    for sig in (signal.SIGTERM, signal.SIGKILL):
        conn = tmp_path / f"kernel-{sig}.json"
        write_connection_file(str(conn), transport="ipc", ip=str(tmp_path / f"ipc-{sig}"))
        kernel = client("-m", "ipykernel_launcher", "-f", str(conn), kind="kernel")
        deadline = time.time() + 30
        while len(list(tmp_path.glob(f"ipc-{sig}-*"))) < 5:
            assert time.time() < deadline and kernel.poll() is None, "the kernel did not start"
            time.sleep(0.2)
        assert server.children(recursive=True), "the kernel is not a child of the server"
        kernel.send_signal(sig)
        assert kernel.wait(timeout=30) == -sig
        wait_for_no_children(server)
        assert not conn.exists() and not list(tmp_path.glob(f"ipc-{sig}-*"))


def test_a_request_that_fails_leaves_the_server_serving(tmp_path):
    """A supervisor that fails (here on a request that is not JSON; in the suite, a client
    killed with its build before it read the reply) ends there. It used to return into the
    server's loop, whose cleanup removed the server's socket: the server, alive and holding
    its lock, could no longer be reached, and every later step ran in a fresh interpreter."""
    import socket

    server = start_server(tmp_path)
    sock, log = socket_path(), Path(socket_path() + ".log")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.connect(sock)
        conn.sendall(b"not json\n")
        assert conn.recv(100) == b""  # the supervisor ends without a reply
    wait_for_no_children(server)
    assert os.path.exists(sock) and server.is_running()
    assert "JSONDecodeError" in log.read_text() and "exits" not in log.read_text()
    before = log.read_text()
    assert client("dictionary", "--build-dir", str(tmp_path)).wait() == 0
    assert re.search(r"^step dictionary .*: 0 in", log.read_text()[len(before) :], re.M)


def test_a_changed_or_removed_library_module_makes_the_server_stale(tmp_path):
    """The server takes its list of watched files once (:func:`analysis.warm.watched`) and
    compares their times and sizes on every request: a change or a removal shows."""
    import analysis.models  # noqa: F401
    import analysis.plots  # noqa: F401
    from analysis import warm

    names = {os.path.basename(f) for f in warm.watched()}
    assert {"models.py", "plots.py", "warm.py", ".installed"} <= names, names
    module = tmp_path / "module.py"
    module.write_text("x = 1\n")
    files = [str(module)]
    known = warm.fingerprint(files)
    assert warm.fingerprint(files) == known
    st = module.stat()
    os.utime(module, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    assert warm.fingerprint(files) != known
    known = warm.fingerprint(files)
    module.unlink()
    assert warm.fingerprint(files) != known


def test_a_kernel_whose_launcher_is_gone_is_not_started(tmp_path):
    """A build killed just as it starts a kernel (as the interrupted-build test kills one) left
    the kernel and its supervisor running for good: the client, already orphaned when it
    looked for its parent, never noticed. A kernel client whose launcher (jupyter_client's
    ``JPY_PARENT_PID``) is gone now starts nothing."""
    server = start_server(tmp_path)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    args = ["-m", "ipykernel_launcher", "-f", str(tmp_path / "kernel.json")]
    kernel = client(*args, kind="kernel", env={**os.environ, "JPY_PARENT_PID": str(gone.pid)})
    assert kernel.wait(timeout=10) == 1
    wait_for_no_children(server)
    assert not (tmp_path / "kernel.json").exists()
