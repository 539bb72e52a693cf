"""End to end: ingest and one year's notebook executed by Papermill, rendered to HTML."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from analysis import build, config


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("build")
    log = build.build(
        raw_dir=config.RAW_DIR,
        codebook=config.CODEBOOK_PATH,
        reports_dir=out / "reports",
        processed_dir=out / "processed",
        register_snapshot=None,
        medium=4000,
        large=25000,
        lang="nb",
        years=[2019],
    )
    return out, log


def test_pooled_report_notebook_runs(tmp_path, built):
    """The pooled notebook, executed by Papermill with small parameters."""
    import papermill as pm

    out, _ = built
    res = tmp_path / "pooled"
    pm.execute_notebook(
        str(config.NOTEBOOKS_DIR / "20_pooled.ipynb"),
        str(tmp_path / "p.ipynb"),
        parameters={"processed_dir": str(out / "processed"), "output_dir": str(res), "lang": "en"},
        kernel_name=config.KERNEL_NAME,
        cwd=str(config.NOTEBOOKS_DIR),
        progress_bar=False,
    )
    df = pd.read_csv(res / "results.csv")
    assert {"trends", "trends (change)", "regression"} <= set(df["section"])
    assert df["method"].notna().all()


def test_build_writes_pages_results_and_index(built):
    out, log = built
    assert log == ["ingest: built", "2019: built"]
    rep = out / "reports"
    for p in (
        "index.html",
        "ingest/index.html",
        "2019/index.html",
        "2019/analyst.html",
        "2019/results.csv",
        "2019/provenance.json",
    ):
        assert (rep / p).is_file(), p
    res = pd.read_csv(rep / "2019" / "results.csv")
    assert {"estimate", "se", "ci_low", "ci_high", "n", "N", "method"} <= set(res.columns)
    head = res[res["section"] == "headline"]
    assert head["method"].notna().all() and (head["n"] > 0).all()
    page = (rep / "2019" / "index.html").read_text()
    assert "Syntetiske data" in page
    assert "4 000" in page  # the small thresholds reached the notebook


def test_rerun_is_up_to_date(built):
    out, _ = built
    log = build.build(
        raw_dir=config.RAW_DIR,
        codebook=config.CODEBOOK_PATH,
        reports_dir=out / "reports",
        processed_dir=out / "processed",
        register_snapshot=None,
        medium=4000,
        large=25000,
        lang="nb",
        years=[2019],
    )
    assert log == ["ingest: up to date", "2019: up to date"]


def test_reviewer_pages_have_no_code_and_no_personal_data(built):
    out, _ = built
    raw = pd.concat([pd.read_excel(p, dtype=str) for p in config.RAW_DIR.glob("*.xlsx")])
    emails = set(raw["E-postadresse"].dropna()) | set(raw.get("E-post", pd.Series()).dropna())
    comments = set(raw.filter(like="ommentar").stack().dropna())
    for page in (out / "reports").rglob("*.html"):
        text = page.read_text()
        assert not re.search(r"[\w.]+@[\w.]+\.no", text), page
        for c in comments:
            assert c not in text, page
        assert not any(e in text for e in emails)
        assert "<script" not in text.lower(), page  # self-contained, no scripts
        if page.name == "index.html":
            assert "import " not in text and "sections." not in text, page
