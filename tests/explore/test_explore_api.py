"""The explorer's JSON API (FastAPI TestClient): shapes, definitions, bad input, limits."""

from __future__ import annotations

import time

import numpy as np

from rnnlens.explore.engine import MAX_CHARS, MAX_TOKENS, clean_text


def _name(client):
    return client.get("/api/models").json()["models"][0]["name"]


def test_models_lists_each_model_with_definitions(client, explore_models):
    d = client.get("/api/models").json()
    assert [m["name"] for m in d["models"]] == [m.name for m in explore_models]
    m = d["models"][0]
    assert m["num_classes"] == 2 and m["label_names"] == ["negative", "positive"]
    assert m["nodes_source"].startswith("exact") and m["push_scale"] > 0
    for key in ("measured", "settled", "predicted", "predicted_line", "probs", "pc", "unknown"):
        assert key in d["definitions"]
    assert d["limits"]["max_tokens"] == MAX_TOKENS


def test_read_gives_per_token_numbers(client):
    name = _name(client)
    text = "spos001 pos002 neu003 neg004 sneg005 zzzunknown"
    d = client.post("/api/read", json={"model": name, "text": text}).json()
    T = 6
    assert d["tokens"] == text.split() and d["n_tokens"] == T and not d["empty"]
    assert d["unknown"] == [False] * 5 + [True]
    assert len(d["probs"]) == T + 1 and len(d["pc"]) == T + 1 and len(d["readout"]) == T + 1
    for key in ("measured", "settled", "predicted", "predicted_line", "node", "modifier"):
        assert len(d[key]) == T, key
    p = np.array(d["probs"])
    assert np.allclose(p.sum(1), 1, atol=1e-4)
    # measured = readout differences; the strong positive word pushes up, the strong negative down
    assert np.allclose(np.diff(d["readout"]), d["measured"], atol=1e-4)
    assert d["settled"][0] > 0 > d["settled"][4]
    assert d["predicted"][0] > 0 > d["predicted"][4]
    assert any("not in the vocabulary" in n for n in d["notes"])


def test_read_agrees_with_the_model(client, explore_models):
    import torch

    m = explore_models[0]
    d = client.post("/api/read", json={"model": m.name, "text": "pos001 neu002 neg003"}).json()
    ids = torch.from_numpy(m.network.vocab.encode("pos001 neu002 neg003"))[None]
    with torch.no_grad():
        logit = m.network.model(ids, torch.tensor([3])).item()
    assert abs(d["readout"][-1] - logit) < 1e-4


def test_word_and_words(client):
    name = _name(client)
    w = client.get("/api/word", params={"model": name, "word": "SPOS001"}).json()
    assert w["known"] and w["token"] == "spos001" and w["push"] > 0 and len(w["push_along_line"]) > 2
    u = client.get("/api/word", params={"model": name, "word": "qqqq"}).json()
    assert not u["known"] and "not in the vocabulary" in u["note"]
    e = client.get("/api/word", params={"model": name, "word": "  "}).json()
    assert e["token"] is None
    lists = client.get("/api/words", params={"model": name, "n": 10}).json()
    assert len(lists["positive"]) == 10
    assert lists["positive"][0]["push"] > 0 > lists["negative"][0]["push"]
    pos = {r["word"][:3] for r in lists["positive"][:5]}
    assert pos <= {"pos", "spo"}, lists["positive"][:5]
    assert client.get("/api/words", params={"model": name, "n": 0}).status_code == 422


def test_scene(client):
    s = client.get("/api/scene", params={"model": _name(client)}).json()
    assert len(s["cloud"]["pc"]) == len(s["cloud"]["label"]) > 10
    assert len(s["line"]["pc"]) == len(s["line"]["readout"]) > 2
    assert len(s["fixed_points"]["pc"]) == len(s["fixed_points"]["unstable"])
    assert "definitions" in s


def test_scene_has_the_part_of_every_section_that_ran(client, explore_models):
    from rnnlens.analysis.registry import resolve, sections
    from rnnlens.explore.engine import json_safe

    for m in explore_models:
        ran = client.get("/api/models").json()["models"][explore_models.index(m)]["sections"]
        assert "slow_manifold" in ran and "modifiers" in ran
        assert ("kclass" in ran) == (m.num_classes > 2)
        s = client.get("/api/scene", params={"model": m.name}).json()
        for section in sections():
            if section.scene is None:
                continue
            if section.name in ran:
                assert s[section.name] == json_safe(resolve(section.scene)(m.analysis.summary, m.analysis.arrays))
            else:
                assert section.name not in s
        assert isinstance(s["modifiers"]["words"], list)


def test_a_registered_section_adds_its_scene(explore_models):
    from rnnlens.analysis.registry import Measurement, Section, register, unregister
    from rnnlens.analysis.result import Analysis
    from rnnlens.explore.engine import ExploreModel

    m = explore_models[0]
    summary = {
        **m.analysis.summary,
        "provenance": {
            **m.analysis.provenance,
            "section_seconds": {**m.analysis.provenance["section_seconds"], "extra": 0.0},
        },
    }
    register(
        Section(
            name="extra", title="a test section", measure=lambda run: Measurement(), scene=f"{__name__}:_extra_scene"
        )
    )
    try:
        em = ExploreModel.build("extra", m.network, Analysis(summary, m.analysis.arrays), nodes=m.nodes)
    finally:
        unregister("extra")
    assert em.scene()["extra"] == {"n_arrays": len(m.analysis.arrays)}
    assert em.describe()["sections"][-1] == "extra"
    assert em.scene()["line"] == m.scene()["line"]


def _extra_scene(summary, arrays):
    return {"n_arrays": len(arrays)}


def test_a_saved_analysis_gives_the_same_numbers(explore_models, tmp_path):
    import copy

    from rnnlens.analysis.result import Analysis
    from rnnlens.explore.engine import load_models

    m = explore_models[0]
    Analysis(copy.deepcopy(m.analysis.summary), m.analysis.arrays, fixed_points=m.analysis.fixed_points).save(
        tmp_path / "analysis"
    )
    [loaded] = load_models([m.network.path], [tmp_path / "analysis"], progress=False)
    text = "spos001 pos002 neu003 neg004 sneg005 zzzunknown"
    assert loaded.nodes_source.startswith("exact")
    assert loaded.read(text) == {**m.read(text), "model": loaded.name}
    assert loaded.words(10)["positive"] == m.words(10)["positive"]
    assert {k: v for k, v in loaded.scene().items() if k != "model"} == {
        k: v for k, v in m.scene().items() if k != "model"
    }


def test_quick_settings():
    import pytest

    from rnnlens.analysis.settings import QUICK, AnalysisSettings
    from rnnlens.errors import ArgumentError
    from rnnlens.explore.engine import quick_settings

    assert quick_settings() == QUICK.replace(seed=0)
    assert quick_settings({"n_docs": 80}, seed=3) == QUICK.replace(n_docs=80, seed=3)
    own = AnalysisSettings.make(n_seeds=7)
    assert quick_settings(own, seed=5) is own
    with pytest.raises(ArgumentError, match="unknown analysis settings"):
        quick_settings({"n_dogs": 3})
    with pytest.raises(ArgumentError, match="quick must be"):
        quick_settings([("n_docs", 3)])


def test_input_point_of_new_and_older_summaries():
    from rnnlens.analysis.result import Analysis
    from rnnlens.analysis.settings import AnalysisSettings
    from rnnlens.explore.engine import input_point

    assert input_point(Analysis({"settings": AnalysisSettings.make(input_point="mean").to_dict()})) == "mean"
    assert input_point(Analysis({"settings": AnalysisSettings().to_dict()})) == "zero"
    assert input_point(Analysis({"settings": {"input_point": "mean", "n_docs": 5}})) == "mean"


def test_unknown_model_names_the_argument(client):
    r = client.post("/api/read", json={"model": "nope", "text": "a"})
    assert r.status_code == 404 and "model='nope'" in r.json()["detail"]
    assert client.get("/api/scene", params={"model": "nope"}).status_code == 404
    assert client.post("/api/read", json={"text": "a"}).status_code == 422


def test_empty_text_gives_a_clear_empty_result(client):
    for text in ("", "   \n\t ", "\x00\x01\x02"):
        d = client.post("/api/read", json={"model": _name(client), "text": text}).json()
        assert d["empty"] and d["tokens"] == [] and len(d["probs"]) == 1 and len(d["pc"]) == 1
        assert d["notes"][0].startswith("no tokens")


def test_one_megabyte_paste_is_cut_with_a_note_and_fast(client):
    text = ("spos001 neu002 " * 70_000)[:1_000_000]
    t0 = time.perf_counter()
    d = client.post("/api/read", json={"model": _name(client), "text": text}).json()
    assert time.perf_counter() - t0 < 10
    assert d["truncated"] and d["n_tokens"] == MAX_TOKENS
    assert d["text_info"]["chars_received"] == 1_000_000 and d["text_info"]["chars_read"] == MAX_CHARS
    assert any("cut" in n for n in d["notes"])
    one_word = "x" * 1_000_000  # one enormous token: cut by characters, read as <unk>
    d = client.post("/api/read", json={"model": _name(client), "text": one_word}).json()
    assert d["truncated"] and d["n_tokens"] == 1 and d["unknown"] == [True]


def test_too_large_body_is_refused():
    from fastapi.testclient import TestClient

    from rnnlens.explore.app import create_app
    from rnnlens.explore.guard import MAX_BODY_BYTES

    class Dummy:
        name = "d"

    c = TestClient(create_app([Dummy()]))
    r = c.post("/api/read", json={"model": "d", "text": "a" * MAX_BODY_BYTES})
    assert r.status_code == 413 and f"{MAX_BODY_BYTES:,} bytes" in r.json()["detail"]


def test_control_characters_and_other_scripts(client):
    clean, info = clean_text("go\x00od\x1b[31m\x7f \u0085end\ttab\nline")
    assert clean == "good[31m end\ttab\nline" and info["control_removed"] == 4
    d = client.post("/api/read", json={"model": _name(client), "text": "spos001 \x07 日本語 Ελληνικά مرحبا 🙂"}).json()
    assert d["tokens"][0] == "spos001" and "日本語" in d["tokens"] and "ελληνικά" in d["tokens"]
    assert all(d["unknown"][1:])
    assert any("control character" in n for n in d["notes"])


def test_html_in_text_comes_back_as_plain_tokens(client):
    d = client.post("/api/read", json={"model": _name(client), "text": '<img src=x onerror="alert(1)">'}).json()
    assert "<" in d["tokens"] and "img" in d["tokens"]
    page = client.get("/")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert client.get("/static/plotly.min.js").status_code == 200
    assert client.get("/static/../app.py").status_code == 404


def test_settled_push_is_the_readout_k_steps_after_the_token_minus_k_plus_1_without_it(client, explore_models):
    # recomputed with the network's own step, token by token: r(F^K(h_t)) - r(F^(K+1)(h_(t-1))), F at x*
    import torch

    from rnnlens.explore.engine import SETTLE_STEPS

    em = explore_models[0]
    net, vocab = em.network, em.network.vocab
    text = "spos001 neu003 neg004 pos002"
    d = client.post("/api/read", json={"model": em.name, "text": text}).json()
    x_star = torch.zeros(1, net.embeddings().shape[1], dtype=torch.float32)

    def r(h):
        return float(net.logits(h).reshape(-1)[0])

    def relax(h, k):
        for _ in range(k):
            h = net.step_fn(x_star, h)
        return h

    with torch.no_grad():
        h = net.init_state(1)
        want = []
        for word in text.split():
            h_next = net.step_fn(net.embed(torch.tensor([vocab.stoi[word]])), h)
            want.append(r(relax(h_next, SETTLE_STEPS)) - r(relax(h, SETTLE_STEPS + 1)))
            h = h_next
    np.testing.assert_allclose(d["settled"], want, atol=1e-4)


def test_a_scene_with_non_finite_numbers_is_strict_json():
    import json
    import math

    from rnnlens.explore.engine import json_safe

    part = {"factor": {"not": [float("nan"), -0.5]}, "reach": {"not": np.int64(2)}, "x": np.array([1.0, np.inf])}
    assert json_safe(part) == {"factor": {"not": [None, -0.5]}, "reach": {"not": 2}, "x": [1.0, None]}
    json.dumps(json_safe(part), allow_nan=False)
    assert math.isnan(part["factor"]["not"][0])  # the input is left as it was
