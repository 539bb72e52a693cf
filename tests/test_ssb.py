"""SSB API fetch code against hand-written response fixtures (no network here)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from analysis import register, ssb

FIX = Path(__file__).parent / "fixtures" / "ssb"


def fake_http(method, url, params, body):
    if url.endswith("/table/07459"):
        assert method == "POST" and body["response"]["format"] == "json-stat2"
        assert body["query"][2]["selection"]["values"] == ["2016", "2017"]
        return json.loads((FIX / "07459.json").read_text())
    if url.endswith("/codesAt.json"):
        return json.loads((FIX / f"codesAt_{params['date'][:4]}.json").read_text())
    if url.endswith("/changes.json"):
        return json.loads((FIX / "changes.json").read_text())
    raise AssertionError(url)


def test_jsonstat2_flattening_is_row_major():
    df = ssb.jsonstat2_to_frame(json.loads((FIX / "07459.json").read_text()))
    assert len(df) == 10
    row = df[(df["Region"] == "0301") & (df["Tid"] == "2017")]
    assert row["value"].item() == 666759
    assert df[(df["Region"] == "0719") & (df["Tid"] == "2017")]["value"].isna().all()


def test_jsonstat2_rejects_wrong_shape():
    obj = json.loads((FIX / "07459.json").read_text())
    obj["value"] = obj["value"][:-1]
    with pytest.raises(ValueError, match="cells"):
        ssb.jsonstat2_to_frame(obj)


def test_change_types_derived_like_the_snapshot():
    ch = ssb.parse_klass_changes(json.loads((FIX / "changes.json").read_text()), 2016, 2024)
    types = dict(
        zip(ch["old_kommunenr"] + ">" + ch["new_kommunenr"], ch["change_type"], strict=True)
    )
    assert types["0720>0704"] == "split" and types["0720>0710"] == "split"
    assert types["0706>0710"] == "merger"
    assert types["1567>5061"] == "code_change"
    assert types["1841>1841"] == "name_change"


def test_fetch_register_writes_a_loadable_snapshot(tmp_path):
    out = ssb.fetch_register(tmp_path / "ssb", [2016, 2017], http=fake_http)
    reg = register.load_register(out, out / "SHA256SUMS")  # the sums the fetch wrote, explicitly
    assert reg.years == [2016, 2017]
    y16 = reg.year(2016).set_index("kommunenr")["population"].to_dict()
    assert y16 == {"0301": 658390, "0706": 45000, "0719": 5500}
    assert reg.year(2017)["kommunenr"].tolist() == ["0301", "0710"]
    assert reg.successors("0719", 2016, 2017) == ["0710"]


def test_fetch_register_refuses_missing_population(tmp_path):
    def http(method, url, params, body):
        obj = fake_http(method, url, params, body)
        if url.endswith("/table/07459"):
            obj["value"][4] = None  # Sandefjord (0706) 2016 missing
        return obj

    with pytest.raises(register.RegisterError, match="no population for 2016"):
        ssb.fetch_register(tmp_path / "ssb", [2016, 2017], http=http)
