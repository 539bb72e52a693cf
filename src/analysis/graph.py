"""What make needs to know that only the data and the source can tell it (``build.mk``).

* :func:`write_tokens`: one small file per survey year that changes only when what that
  year's pages read changes, so one changed export rebuilds that year, the next and the
  pooled site, and nothing else;
* :func:`write_deps`: the library modules and package files each notebook runs, from the
  source (``deps.mk``), so a changed plotting function rebuilds the pages that plot.

Files are written only when their content changes: make compares times, and an unchanged
file keeps its time.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
from pathlib import Path

from analysis import config


def write_if_changed(path: Path, text: str) -> bool:
    """Write ``text`` unless the file already holds it (its time stays, so make sees no
    change); returns whether it was written."""
    path = Path(path)
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return True


def _listing(files: list[Path], root: Path | None = None) -> str:
    """``sha256  name`` per regular file (devices, pipes and folders are not read; a file too
    large for any input is named by its size and time)."""
    from analysis.limits import MAX_EXPORT_BYTES

    lines = []
    for f in sorted(files):
        if f.is_file():
            name = f.relative_to(root).as_posix() if root else f.name
            st = f.stat()  # a file ingest will refuse as too large is not read: its size and time
            big = st.st_size > 4 * MAX_EXPORT_BYTES
            lines.append(
                f"{f'{st.st_size}:{st.st_mtime_ns}' if big else config.sha256_file(f)}  {name}"
            )
    return "\n".join(lines) + "\n"


def environment() -> str:
    """What the build runs on, as text: the interpreter, the lock file, and every installed
    distribution with its version (the ``*.dist-info`` folders of site-packages: a package
    changed in .venv changes this)."""
    import platform
    import sys
    import sysconfig

    paths = sysconfig.get_paths()
    dists = sorted(
        {
            n
            for d in {paths["purelib"], paths["platlib"]}
            if os.path.isdir(d)
            for n in os.listdir(d)
            if n.endswith((".dist-info", ".egg-info"))
        }
    )
    lock = config.PROJECT_ROOT / "requirements.lock"
    head = [f"python {platform.python_version()} {sys.prefix}"]
    if lock.is_file():
        head.append(f"requirements.lock {config.sha256_file(lock)}")
    return "\n".join([*head, *dists]) + "\n"


def write_input_tokens(out: Path, raw_dir: Path, codebook: Path, register: Path) -> list[str]:
    """One token per input, rewritten only when its content changes: make then rebuilds what
    reads an input whose bytes changed, whatever its file time (an export restored by
    ``cp -p`` or ``unzip`` keeps an old time). Returns the names of the tokens rewritten."""
    raw_dir, register = Path(raw_dir), Path(register)
    texts = {
        "raw": _listing(list(raw_dir.iterdir())),
        "codebook": _listing([Path(codebook)]),
        "register": _listing(
            [*register.glob("*.csv"), *register.glob("*.json"), config.REGISTER_CHECKSUMS_PATH]
        ),
        "environment": environment(),
    }
    return [k for k, t in texts.items() if write_if_changed(Path(out) / f"{k}.sha256", t)]


def write_tokens(proc: Path, tokens: Path) -> list[int]:
    """One token per year: it changes only when what the year's pages read changes (its
    processed rows, accounting, export and the delivery description)."""
    from analysis import processed

    resp, log, im, meta = processed.load_processed(proc)
    years = [int(y) for y in meta["years"]]
    common = {k: v for k, v in meta.items() if k not in ("accounting", "inputs_sha256", "years")}
    for y in years:
        files = set(resp.loc[resp["year"] == y, "source_file"]) | set(
            log.loc[log["year"] == y, "file"]
        )
        h = hashlib.sha256()
        for df in (resp, log, im):
            part = df[df["year"] == y]
            h.update(part.to_csv(index=False, lineterminator="\n").encode())
        token = {
            "year": y,
            "rows_sha256": h.hexdigest(),
            "accounting": meta["accounting"].get(str(y)),
            "inputs_sha256": {
                k: v for k, v in meta["inputs_sha256"].items() if k.split("/", 1)[-1] in files
            },
            **common,
        }
        write_if_changed(tokens / f"year-{y}.json", json.dumps(token, indent=1, sort_keys=True))
    info = {"years": years, "synthetic": bool(meta.get("delivery", {}).get("synthetic"))}
    write_if_changed(tokens / "years.json", json.dumps(info, sort_keys=True))
    return years


def module_deps() -> dict[str, list[str]]:
    """For each notebook, the library files it runs: the modules it imports, with theirs,
    and the data files of the package they read (templates, catalogs, the codebook schema)."""
    pkg = config.PROJECT_ROOT / "src" / "analysis"

    def imports(source: str) -> set[str]:
        found = set()
        for node in ast.walk(ast.parse(source)):
            if (
                isinstance(node, ast.ImportFrom)
                and node.module
                and node.module.startswith("analysis")
            ):
                if node.module == "analysis":
                    found |= {n.name for n in node.names}
                else:
                    found.add(node.module.split(".")[1])
            elif isinstance(node, ast.Import):
                found |= {
                    n.name.split(".")[1] for n in node.names if n.name.startswith("analysis.")
                }
        return {m for m in found if (pkg / f"{m}.py").is_file()}

    graph = {p.stem: imports(p.read_text(encoding="utf-8")) for p in pkg.glob("*.py")}
    # every page also runs the step machinery: this module, rendering, publishing
    always = {"__init__", "steps", "render", "i18n", "config", "publish", "provenance"}
    data = sorted(
        str(p.relative_to(config.PROJECT_ROOT))
        for p in pkg.rglob("*")
        if p.is_file() and p.suffix in (".j2", ".tpl", ".css", ".json", ".po", ".mo", ".yml")
    )
    out = {}
    for nb in sorted(config.NOTEBOOKS_DIR.glob("*.ipynb")):
        cells = json.loads(nb.read_text(encoding="utf-8"))["cells"]
        code = "\n".join(
            "".join(c["source"])
            for c in cells
            if c["cell_type"] == "code" and not "".join(c["source"]).lstrip().startswith(("%", "!"))
        )
        todo, seen = set(imports(code)) | always, set()
        while todo:
            m = todo.pop()
            if m not in seen:
                seen.add(m)
                todo |= graph.get(m, set())
        out[nb.stem] = [f"src/analysis/{m}.py" for m in sorted(seen)] + data
    return out


def write_deps(out: Path) -> None:
    """``deps.mk``: ``DEPS_<notebook> := <files>`` for make."""
    lines = [f"DEPS_{nb} := {' '.join(files)}" for nb, files in module_deps().items()]
    write_if_changed(out, "\n".join(lines) + "\n")
