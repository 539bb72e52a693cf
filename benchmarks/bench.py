"""``make bench``: measure the build and the analysis, and write ``benchmarks/results.md``.

What is measured (wall-clock seconds with ``time.perf_counter``; memory as the peak resident set
of the processes involved, ``getrusage(RUSAGE_CHILDREN).ru_maxrss``, and for the processes forked
from the warm server as its log reports them):

* the demo barometer built cold with ``make report`` (empty reports, processed and build
  folders) with every step and kernel in a fresh interpreter (``KB_WARM=0``), then cold as
  ``make report`` runs by default (a warm server of the benchmark's own, ``analysis.warm``,
  started by the build's first step), then again with nothing changed (no-op: make alone
  decides), then after one answer in the 2019 export changed (with its manifest);
* the setup: ``make venv`` in a fresh ``git clone`` of the checkout;
* the floor: the code cells of the same notebooks, with the same parameters, run one after
  another in one plain Python process (no kernels, Papermill or rendering);
* scaling of the analysis (weighted class estimates of every headline share, their class
  differences, and the M1 design-based logit for each, per year) on the demo respondents
  replicated 1, 10 and 100 times (population sizes scaled with them, so weights are unchanged),
  and on 5 and 20 survey years (the 5 demo years relabelled 4 times), each in its own process.

Run ``python benchmarks/bench.py`` (``--quick`` skips the 100x and 20-year points).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RAW = ROOT / "data" / "raw"
PY = sys.executable


#: A warm server of the benchmark's own (analysis.warm): the cold build starts it, as the
#: first build after a checkout or a change to the library does.
WARM_KEY = f"bench-{os.getpid()}"


def _build(work: Path, raw: Path, warm: bool = True) -> tuple[float, str]:
    """``make report`` into ``work`` (the build graph decides; no-op: make alone);
    ``warm=False``: every step and kernel in a fresh interpreter (``KB_WARM=0``)."""
    cmd = ["make", "-s", "--no-print-directory", "report", f"RAW_DIR={raw}", f"PY={PY}"]
    cmd += [f"REPORTS_DIR={work / 'reports'}", f"PROCESSED_DIR={work / 'processed'}"]
    env = {**os.environ, "KB_WARM_KEY": WARM_KEY, **({} if warm else {"KB_WARM": "0"})}
    t = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env)
    dt = time.perf_counter() - t
    if r.returncode:
        sys.exit(f"build failed:\n{r.stderr}")
    built = next((ln for ln in r.stdout.splitlines() if ln.startswith("built:")), "")
    return dt, built[len("built: ") :]


def _change_one_answer(raw: Path) -> None:
    """Flip one yes/no answer in the 2019 workbook and rewrite the manifest line for it."""
    import openpyxl

    path = raw / "kommuneundersokelsen_2019.xlsx"
    wb = openpyxl.load_workbook(path)
    ws = wb.worksheets[0]
    for row in ws.iter_rows(min_row=2):
        for cell in row:
            if cell.value in ("Ja", "Nei"):
                cell.value = "Nei" if cell.value == "Ja" else "Ja"
                break
        else:
            continue
        break
    wb.save(path)
    manifest = raw / "MANIFEST.sha256"
    if manifest.exists():
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        lines = [
            f"{digest}  {path.name}" if ln.endswith(path.name) else ln
            for ln in manifest.read_text().splitlines()
        ]
        manifest.write_text("\n".join(lines) + "\n")


def _floor(processed: Path) -> float:
    """The notebooks' code in one process, parameters injected as Papermill would."""
    code = (
        "import json, sys, time, io, contextlib, matplotlib\n"
        "matplotlib.use('Agg')\n"
        "import nbformat\n"
        "jobs = json.loads(sys.argv[1])\n"
        "t = time.perf_counter()\n"
        "for path, params in jobs:\n"
        "    nb = nbformat.read(path, as_version=4)\n"
        "    ns = {'__name__': '__main__'}\n"
        "    for cell in nb.cells:\n"
        "        if cell.cell_type != 'code':\n"
        "            continue\n"
        "        src = cell.source\n"
        "        if 'parameters' in cell.metadata.get('tags', []):\n"
        "            exec(src, ns); ns.update(params); continue\n"
        "        src = '\\n'.join(l for l in src.splitlines() if not l.lstrip().startswith(('%', '!')))\n"
        "        with contextlib.redirect_stdout(io.StringIO()):\n"
        "            exec(compile(src, path, 'exec'), ns)\n"
        "print(time.perf_counter() - t)\n"
    )
    out = Path(tempfile.mkdtemp())
    nbs = ROOT / "notebooks"
    common = {"processed_dir": str(processed), "output_dir": str(out)}
    meta = json.loads((processed / "ingest_meta.json").read_text())
    jobs = [(str(nbs / "01_ingest.ipynb"), {"processed_dir": str(out / "processed")})]
    for y in meta["years"]:
        jobs += [
            (str(nbs / f"{n}.ipynb"), {**common, "year": y})
            for n in ("10_summary", "11_descriptives", "12_regressions", "13_methods")
        ]
    jobs += [(str(nbs / f"{n}.ipynb"), common) for n in ("20_trends", "21_pooled")]
    jobs.append((str(nbs / "00_index.ipynb"), {"processed_dir": str(processed)}))
    jobs += [(str(nbs / f"{n}.ipynb"), {}) for n in ("02_glossary", "03_provenance")]
    r = subprocess.run([PY, "-c", code, json.dumps(jobs)], capture_output=True, text=True, cwd=nbs)
    if r.returncode:
        sys.exit(f"floor run failed:\n{r.stderr[-3000:]}")
    return float(r.stdout.strip().splitlines()[-1])


SCALE_WORKER = """
import json, resource, sys, time
import pandas as pd
from analysis import estimates, load, models
processed, k, years = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
d = load.survey(processed).all_years()
reps = []
for r in range(k):
    x = d.copy()
    x["kommunenr"] = x["kommunenr"].astype(str) + f"-{r}"
    x["N_h"] = x["N_h"] * k
    reps.append(x)
d = pd.concat(reps, ignore_index=True)
base = sorted(d["year"].unique())
if years > len(base):
    copies = []
    for c in range(years // len(base)):
        copies.append(d.assign(year=d["year"] + 100 * c))
    d = pd.concat(copies, ignore_index=True)
t = time.perf_counter()
for y, dy in d.groupby("year"):
    for v in estimates.HEADLINE_SHARES:
        if dy[v].notna().sum() == 0:
            continue
        estimates.by_size_class(dy, v, share=True)
        estimates.class_differences(dy, v)
        models.svyglm(f"{v} ~ ln_pop_c + cri_c", dy)
dt = time.perf_counter() - t
print(json.dumps({"rows": len(d), "seconds": dt,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def _setup() -> float:
    """``make venv`` in a fresh clone of this commit (``git clone``, then the venv from the
    lock; packages come from uv's cache, as on a second clone of a machine)."""
    clone = Path(tempfile.mkdtemp(prefix="kb-clone-")) / "kommunebarometer"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    t = time.perf_counter()
    r = subprocess.run(["make", "-s", "venv"], capture_output=True, text=True, cwd=clone)
    dt = time.perf_counter() - t
    shutil.rmtree(clone.parent, ignore_errors=True)
    if r.returncode:
        sys.exit(f"make venv failed in a fresh clone:\n{r.stderr[-3000:]}")
    return dt


def _scale(processed: Path, k: int, years: int) -> dict:
    r = subprocess.run(
        [PY, "-c", SCALE_WORKER, str(processed), str(k), str(years)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    if r.returncode:
        sys.exit(f"scaling run failed:\n{r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def warm_idle() -> float:
    """:data:`analysis.warm.IDLE`, without importing the library into the benchmark."""
    import re

    text = (ROOT / "src" / "analysis" / "warm.py").read_text()
    return float(re.search(r"^IDLE = ([\d.]+)", text, re.M).group(1))


def _warm_peaks() -> str:
    """Peak resident memory of the benchmark's warm server and of its largest child, from the
    server's log (it logs each child's ``getrusage`` peak, and its own when it exits)."""
    import re

    env = {**os.environ, "KB_WARM_KEY": WARM_KEY}
    code = "from analysis.warm_client import socket_path; print(socket_path())"
    sock = subprocess.run([PY, "-c", code], env=env, capture_output=True, text=True).stdout.strip()
    log = Path(sock + ".log")
    deadline = time.time() + warm_idle() + 60  # when idle it exits and logs its own peak
    while "exits" not in (text := log.read_text()) and time.time() < deadline:
        time.sleep(1)
    server = re.findall(r"exits, peak (\d+) MB", text)
    child = max((int(m) for m in re.findall(r"s, peak (\d+) MB", text)), default=0)
    if server:  # the benchmark's own server is gone: its lock and log leave $TMPDIR
        for f in (log, Path(sock + ".lock")):
            f.unlink(missing_ok=True)
    return f"{server[-1] if server else '?'} MB / {child} MB"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="skip the 100x and 20-year points")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results.md"))
    a = ap.parse_args()
    print("make venv in a fresh clone ...", flush=True)
    setup = _setup()
    print(f"  {setup:.1f} s", flush=True)
    work = Path(tempfile.mkdtemp(prefix="kb-bench-"))
    raw = work / "raw"
    shutil.copytree(RAW, raw)
    print("cold build with fresh interpreters (KB_WARM=0) ...", flush=True)
    fresh, _ = _build(work / "fresh", raw, warm=False)
    peak_fresh = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"  {fresh:.1f} s; cold build ...", flush=True)
    cold, cold_built = _build(work, raw)
    print(f"  {cold:.1f} s; no-op build ...", flush=True)
    noop, noop_built = _build(work, raw)
    _change_one_answer(raw)
    print(f"  {noop:.2f} s; rebuild after one 2019 answer changed ...", flush=True)
    rebuild, rebuilt = _build(work, raw)
    print(f"  {rebuild:.1f} s ({rebuilt}); floor ...", flush=True)
    floor = _floor(work / "processed")
    print(f"  {floor:.1f} s; scaling ...", flush=True)
    points = [(1, 5), (10, 5)] + ([] if a.quick else [(100, 5), (1, 20)])
    scaling = [{"replicas": k, "years": y, **_scale(work / "processed", k, y)} for k, y in points]
    shutil.rmtree(work, ignore_errors=True)
    peak_warm = _warm_peaks()

    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
    ).stdout.strip()
    lines = [
        "# Benchmark results",
        "",
        f"`make bench` on {platform.node() or 'this machine'}: {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, commit {commit}, {time.strftime('%Y-%m-%d %H:%M')} UTC. "
        "One run per row; wall-clock seconds. Written by `benchmarks/bench.py`; see its docstring "
        "for what each row measures.",
        "",
        "| measurement | value |",
        "|---|---|",
        f"| setup: `make venv` in a fresh clone (packages from uv's cache) | {setup:.1f} s |",
        f"| cold build of the demo (5 years, pooled, ingest, index) | {cold:.1f} s |",
        f"| what the cold build built | {cold_built} |",
        f"| the same with fresh interpreters for every step and kernel (`KB_WARM=0`) | {fresh:.1f} s |",
        f"| no-op build (`make report`, nothing changed) | {noop:.2f} s |",
        f"| what the no-op build redid | {noop_built or 'nothing'} |",
        f"| rebuild after one 2019 answer changed | {rebuild:.1f} s ({rebuild / cold:.0%} of cold) |",
        f"| what the rebuild redid | {rebuilt or 'nothing'} |",
        f"| floor: the same notebooks' code in one Python process | {floor:.1f} s |",
        f"| cold build / floor | {cold / floor:.2f} |",
        f"| peak memory of one build process or kernel, fresh interpreters | {peak_fresh:.0f} MB |",
        f"| peak memory of the warm server / of one process forked from it | {peak_warm} |",
        "",
        "## Scaling of the analysis (weighted estimates, differences, M1 per outcome and year)",
        "",
        "| respondents | years | rows | seconds | seconds per 1,000 rows | peak memory (MB) |",
        "|---|---|---|---|---|---|",
    ]
    for s in scaling:
        lines.append(
            f"| {s['replicas']}x | {s['years']} | {s['rows']:,} | {s['seconds']:.1f} | "
            f"{1000 * s['seconds'] / s['rows']:.2f} | {s['peak_mb']:.0f} |"
        )
    lines.append("")
    Path(a.out).write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
