"""Seconds and peak memory per analysis section: a section that holds 210 MiB shows a peak at least 200 MiB
above its start, the next section's peak (reset as it starts) does not, and each number has its definition."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

import rnnlens.analysis.resources as resources
from rnnlens.analysis import AnalysisSettings, analyze
from rnnlens.analysis.registry import Measurement, Section, register, unregister
from rnnlens.data import Vocab, load_corpus
from rnnlens.model import SentimentRNN
from rnnlens.network import Network

SMALL = dict(n_train=300, n_validation=40, n_test=80, min_length=5, max_length=14)
FAST = dict(n_docs=40, n_seeds=20, n_transitions=200, n_speed=5, speed_steps=5, tol_sweep=(), modifiers=None)
MB200 = 210 * 2**20  # 210 MiB: a few pages of it may come from memory the process already holds

linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="VmHWM and clear_refs are Linux's")


def _hold_200_mb(run):
    a = np.ones(MB200 // 8)  # written, so resident
    assert a.sum() == MB200 // 8
    return Measurement()


@pytest.fixture
def memory_sections():
    register(Section(name="hog", title="holds 210 MiB", measure=_hold_200_mb), before="fixed_points")
    register(Section(name="after_hog", title="holds nothing", measure=lambda run: Measurement()), before="fixed_points")
    yield
    unregister("hog")
    unregister("after_hog")


@pytest.fixture(scope="module")
def network_and_corpus():
    corpus = load_corpus("synthetic", seed=0, **SMALL)
    vocab = Vocab.build(corpus.splits["train"].texts)
    torch.manual_seed(0)
    return Network(SentimentRNN(len(vocab), arch="gru", embed_dim=6, hidden_size=8), vocab), corpus


@linux
def test_a_section_holding_200_mb_shows_its_own_peak(memory_sections, network_and_corpus):
    from rnnlens._memory import reuse_freed_memory

    reuse_freed_memory({})  # as in the command line: freed memory kept (the sections must still show their own)
    big = np.ones(MB200 // 8)
    big.sum()
    del big  # 200 MB freed and kept by the allocator before the analysis: the hog must not just reuse it unseen
    network, corpus = network_and_corpus
    prov = analyze(network, corpus, AnalysisSettings.make(**FAST)).provenance
    peak, start = prov["section_peak_rss_mib"], prov["section_start_rss_mib"]
    assert set(peak) == set(start) == set(prov["section_seconds"]) and {"hog", "after_hog", "documents"} <= set(peak)
    assert peak["hog"] - start["hog"] >= 200
    # the peak is reset as each section starts: the next one, which holds nothing, is back near its start
    assert peak["after_hog"] - start["after_hog"] < 50 and peak["after_hog"] < peak["hog"] - 150
    assert "VmHWM" in prov["section_resources_definition"]["section_peak_rss_mib"]
    assert "clear_refs" in prov["section_resources_definition"]["section_peak_rss_mib"]
    assert prov["section_resources_definition"]["section_seconds"].startswith("wall-clock seconds")


def test_without_a_resettable_peak_the_process_peak_is_recorded_and_said(monkeypatch, tmp_path):
    monkeypatch.setattr(resources, "_CLEAR_REFS", tmp_path / "no" / "clear_refs")  # cannot be written
    with resources.measured() as used:
        a = np.ones(MB200 // 8)
        a.sum()
    assert used.method == "ru_maxrss" and used.seconds > 0
    assert used.peak_mib >= 200  # the process's peak so far holds the 200 MB at least
    text = resources.definitions([used.method])["section_peak_rss_mib"]
    assert "ru_maxrss" in text and "could not be reset" in text


@linux
def test_measured_reads_the_peak_of_the_block_alone():
    big = np.ones(MB200 // 8)
    big.sum()
    del big  # an earlier peak, 200 MB above what follows
    with resources.measured() as used:
        small = np.ones(2**20)
        small.sum()
    assert used.method == "VmHWM" and used.peak_mib - used.start_mib < 50
