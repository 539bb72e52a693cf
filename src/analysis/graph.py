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
