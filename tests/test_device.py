"""``analyze`` on a torch device (settings ``documents.device``, ``rnnlens analyze --device``), tested without a GPU.

The device path is checked on an emulated device: :class:`EmulatedDevice` runs everything on the CPU while treating
the tensors put on the device ``cpu:1`` as a GPU treats its own: they report that device, what is made from them
stays there, an operation that mixes them with CPU tensors fails as CUDA's "Expected all tensors to be on the same
device" does, and ``.numpy()`` of one fails as it does for a CUDA tensor. A section that ignored the device (fed the
network CPU tensors, or read a device tensor as numpy) fails here as it would on a GPU. Its type is ``cpu``, so
code that chooses a kernel by device type chooses the CPU's, and the numbers are the CPU's, bitwise: placing
tensors changes no number. What a GPU's own kernels compute, ``scripts/gpu_check.sh`` compares with the CPU.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from torch.overrides import TorchFunctionMode

import rnnlens.device
from rnnlens.analysis import AnalysisSettings, analyze
from rnnlens.data import Vocab, load_corpus
from rnnlens.errors import ArgumentError
from rnnlens.model import SentimentRNN
from rnnlens.network import Network

SMALL = dict(n_train=300, n_validation=40, n_test=80, min_length=5, max_length=14, negation=True, intensifier=True)
FAST = dict(
    n_docs=50,
    n_seeds=30,
    n_transitions=300,
    n_speed=10,
    speed_steps=5,
    tol_sweep=(1e-6,),
    n_linear_docs=20,
    manifold_points=16,
    relax_steps=30,
    modifiers=["not", "very"],
    n_contexts=20,
    n_boot=20,
    n_eig_contexts=5,
    max_gap=3,
    return_steps=4,
    n_words=5,
    n_neutral=10,
    min_count=1,
)
FAKE = torch.device("cpu", 1)  # the emulated GPU (a device of its own, of type cpu)


@pytest.fixture(scope="module")
def corpus():
    return load_corpus("synthetic", seed=0, **SMALL)


@pytest.fixture(scope="module")
def network(corpus):
    vocab = Vocab.build(corpus.splits["train"].texts)
    torch.manual_seed(0)
    return Network(SentimentRNN(len(vocab), arch="gru", embed_dim=6, hidden_size=8), vocab)


def _bow(corpus) -> dict:
    return {w: float(v) for w, v in corpus.truth.valence.items()}


def _tensors(x, out: list) -> list:
    if isinstance(x, torch.Tensor):
        out.append(x)
    elif isinstance(x, (list, tuple)):
        for v in x:
            _tensors(v, out)
    elif isinstance(x, dict):
        for v in x.values():
            _tensors(v, out)
    return out


class EmulatedDevice(TorchFunctionMode):
    """The device ``cpu:1`` as a GPU, computed on the CPU (see the module docstring).

    A tensor is on the device when its storage is one the emulation made there (by ``.to(cpu:1)``, a factory with
    ``device=cpu:1``, or an operation on device tensors); those tensors are kept alive so that no CPU tensor reuses
    their memory. ``ops[section]`` counts the operations on device tensors while ``section`` runs."""

    _DEVICE = torch.Tensor.device.__get__
    _MOVES = ("_has_compatible_shallow_copy_type", "__set__")  # nn.Module.to: param.data = moved
    # lengths and batch sizes of packed sequences stay on the CPU, as CUDA wants them
    _CPU_LENGTHS = ("_pack_padded_sequence", "gru", "lstm", "rnn_tanh", "rnn_relu")

    def __init__(self):
        super().__init__()
        self.ptrs: set[int] = set()
        self.kept: list[torch.Tensor] = []
        self.section = None
        self.ops: dict = {}

    # ---------------------------------------------------------------- where a tensor is
    @staticmethod
    def _ptr(t: torch.Tensor):
        try:
            return t.untyped_storage().data_ptr() if t.numel() else None
        except (RuntimeError, NotImplementedError):
            return None

    def on(self, t: torch.Tensor) -> bool:
        p = self._ptr(t)
        return p is not None and p in self.ptrs

    def _place(self, out):
        for t in _tensors(out, []):
            p = self._ptr(t)
            if p is not None:
                self.ptrs.add(p)
                self.kept.append(t)
        return out

    def _plain(self, t: torch.Tensor) -> bool:
        """A CPU tensor CUDA would refuse beside a device tensor (CPU scalars and empty tensors are accepted)."""
        return t.dim() > 0 and t.numel() > 0 and not self.on(t)

    # ---------------------------------------------------------------- the dispatch
    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func == self._DEVICE:
            return FAKE if self.on(args[0]) else func(*args)
        if func in (torch.Tensor.numpy, torch.Tensor.__array__) and self.on(args[0]):
            raise TypeError(
                "can't convert cpu:1 (emulated GPU) device tensor to numpy. Use Tensor.cpu() to copy the "
                "tensor to host memory first."
            )
        if func is torch.Tensor.cpu:
            return args[0].clone() if self.on(args[0]) else func(*args, **kwargs)
        if func is torch.Tensor.to:
            return self._to(func, args, kwargs)
        if "device" in kwargs and kwargs["device"] is not None:
            if torch.device(kwargs["device"]) == FAKE:
                return self._place(func(*args, **{**kwargs, "device": "cpu"}))
            return func(*args, **kwargs)
        inputs = _tensors((args, kwargs), [])
        on = [self.on(t) for t in inputs]
        if not any(on):
            if func is torch.Tensor.__getitem__ and any(self.on(t) for t in _tensors(args[1:], [])):
                raise RuntimeError("indices should be either on cpu or on the same device as the indexed tensor")
            return func(*args, **kwargs)
        self._check_mixing(func, args, inputs, on)
        self.ops[self.section] = self.ops.get(self.section, 0) + 1
        out = func(*args, **kwargs)
        if func is torch.Tensor.__setitem__ or func is torch.Tensor.copy_:
            return out
        if getattr(func, "__name__", "") == "_pack_padded_sequence":
            self._place(out[0])  # the batch sizes stay on the CPU
            return out
        return self._place(out)

    def _check_mixing(self, func, args, inputs, on) -> None:
        name = getattr(func, "__name__", repr(func))
        if func is torch.Tensor.__getitem__:
            if self._plain(args[0]):
                raise RuntimeError("indices should be either on cpu or on the same device as the indexed tensor")
            return  # CPU indices of a device tensor: accepted
        if func is torch.Tensor.copy_ or func is torch.Tensor.new_tensor or name in self._MOVES:
            return  # copies between devices, and Module.to's own
        if name in self._CPU_LENGTHS:
            inputs, on = zip(*[(t, o) for t, o in zip(inputs, on) if o or t.is_floating_point()])
        if func is torch.Tensor.__setitem__:
            index = _tensors(args[1], [])
            if not index:
                return  # basic indexing: a copy, across devices
            value = [t for t in _tensors(args[2:], []) if t.dim() > 0 and t.numel() > 0]
            if value and self.on(args[0]) != self.on(value[0]):
                raise RuntimeError(
                    f"{name}: index_put_ of a {'CPU' if self.on(args[0]) else 'device'} value into a "
                    f"{'device' if self.on(args[0]) else 'CPU'} tensor"
                )
            return
        if any(self._plain(t) for t, o in zip(inputs, on) if not o):
            raise RuntimeError(
                f"{name}: Expected all tensors to be on the same device, but found at least two "
                "devices, cpu:1 (the emulated GPU) and cpu!"
            )

    def _to(self, func, args, kwargs):
        src, rest = args[0], args[1:]
        if rest and isinstance(rest[0], torch.Tensor):
            device, dtype = (FAKE if self.on(rest[0]) else torch.device("cpu")), rest[0].dtype
        else:
            device, dtype, _, _ = torch._C._nn._parse_to(*rest, **kwargs)
        dtype = dtype or src.dtype
        if device is None:
            out = func(src, dtype=dtype)
            return self._place(out) if self.on(src) else out
        if device == FAKE:
            if self.on(src):
                return src if dtype == src.dtype else self._place(src.to(dtype=dtype))
            return self._place(src.to(dtype=dtype, copy=True))
        return src.to(dtype=dtype, copy=True) if self.on(src) else func(src, device=device, dtype=dtype)


def _counting(mode: EmulatedDevice):
    """The registered sections, each noting in ``mode`` that it runs."""
    from rnnlens.analysis.registry import sections

    def wrap(section):
        def measure(run):
            mode.section = section.name
            try:
                return section.measure(run)
            finally:
                mode.section = None

        return dataclasses.replace(section, measure=measure)

    return lambda: [wrap(s) for s in sections()]


def _numbers(metrics: dict) -> str:
    """Every metric (as JSON, exactly) but the wall-clock seconds."""
    kept = {s: {k: v for k, v in items.items() if k != "seconds"} for s, items in metrics.items()}
    return json.dumps(kept, sort_keys=True, default=lambda o: np.asarray(o).tolist())


def _same_numbers(cpu, dev) -> None:
    """The same metrics and arrays, bitwise (the emulated device computes on the CPU)."""
    assert _numbers(cpu.metrics) == _numbers(dev.metrics)
    assert sorted(cpu.arrays) == sorted(dev.arrays)
    for name in cpu.arrays:
        x, y = np.asarray(cpu.arrays[name]), np.asarray(dev.arrays[name])
        assert x.dtype == y.dtype and x.tobytes() == y.tobytes(), name


@pytest.fixture
def emulated(monkeypatch):
    """The emulated device, which ``documents.device="cuda"`` names (the sections counted in its ``ops``)."""
    mode = EmulatedDevice()
    monkeypatch.setattr(rnnlens.device, "resolve_device", lambda name: torch.device("cpu") if name == "cpu" else FAKE)
    # LM factors on the host with BLAS/LAPACK per matrix, on a device with torch's batched Cholesky: the same
    # factor up to rounding. Both runs here take the torch path, so that the numbers can be compared bitwise.
    monkeypatch.setattr("rnnlens.solvers.lm._CPU_LAPACK", False)
    monkeypatch.setattr("rnnlens.analysis.pipeline.sections", _counting(mode))
    return mode


def test_every_section_computes_on_the_device_it_is_given_and_gets_the_cpus_numbers(
    network, corpus, emulated, tmp_path
):
    settings = AnalysisSettings.make(**FAST)
    cpu = analyze(network, corpus, settings, bow=_bow(corpus))
    with emulated:
        dev = analyze(network, corpus, settings.replace(device="cuda"), bow=_bow(corpus), out_dir=tmp_path / "an")
    assert (tmp_path / "an" / "fixed_points.safetensors").is_file()
    # every section that ran computed on the device (one that ignored it would have failed above, as on a GPU)
    ran = list(dev.summary["provenance"]["section_seconds"])
    assert {"documents", "fixed_points", "modes", "linearization", "slow_manifold", "modifiers"} <= set(ran)
    # trajectories only copies the states the documents section computed: it has nothing to run on a device
    assert [s for s in ran if emulated.ops.get(s, 0) == 0 and s != "trajectories"] == []
    assert dev.summary["provenance"]["device"] == "cpu:1" and cpu.summary["provenance"]["device"] == "cpu"
    _same_numbers(cpu, dev)
    # what analyze returns is on the CPU; the network given stays where it was
    assert not emulated.on(dev.fixed_points.points) and not emulated.on(dev.slow_manifold.points)
    assert not emulated.on(dev.linearization.J_rec)
    assert all(not emulated.on(p) for p in network.model.parameters())


def _func_jacobians_as_one_operation(monkeypatch, mode: EmulatedDevice) -> None:
    """torch.func's Jacobians (of a stacked torch module) as one operation of the emulated device: vmap's batched
    tensors hide their storage from the emulation, so the transform runs unobserved and its result is placed where
    its inputs are; jacfwd always (the auto mode times jacfwd against jacrev and keeps the faster, whose rounding
    differs: the CPU run and the emulated one must take the same)."""
    from rnnlens.steps import FuncJacobian

    original = FuncJacobian.__call__

    def call(self, x, h, which="both"):
        if x.numel() and mode.on(x) != mode.on(h):
            raise RuntimeError("FuncJacobian: x and h on different devices")
        with torch._C.DisableTorchFunction():
            out = original(self, x, h, which)
        return mode._place(out) if mode.on(h) else out

    monkeypatch.setattr(FuncJacobian, "__call__", call)
    monkeypatch.setattr(FuncJacobian, "_pick", lambda self, key, x, h, argnums: "fwd")


def test_a_network_of_parts_and_a_k_class_network_on_the_device(emulated, monkeypatch):
    # a two-layer torch LSTM (torch.func Jacobians) with an MLP head (a callable readout, linearized), and a
    # 3-class GRU (the k-class section): copied to the device part by part, the CPU's numbers
    from torch import nn

    _func_jacobians_as_one_operation(monkeypatch, emulated)

    corpus = load_corpus("synthetic", seed=0, **{**SMALL, "negation": False, "intensifier": False})
    vocab = Vocab.build(corpus.splits["train"].texts)
    torch.manual_seed(0)
    head = nn.Sequential(nn.Linear(5, 4), nn.Tanh(), nn.Linear(4, 1))
    parts = Network.from_parts(
        rnn=nn.LSTM(6, 5, num_layers=2), readout=head, embedding=nn.Embedding(len(vocab), 6), tokenizer=vocab
    )
    three = load_corpus("synthetic", seed=0, num_classes=3, n_train=200, n_validation=20, n_test=40)
    vocab3 = Vocab.build(three.splits["train"].texts)
    k_net = Network(SentimentRNN(len(vocab3), arch="gru", embed_dim=4, hidden_size=6, num_classes=3), vocab3)
    settings = AnalysisSettings.make(**{**FAST, "modifiers": None}, kclass_max_states=200, kclass_n_fixed_seeds=20)
    for net, data in ((parts, corpus), (k_net, three)):
        cpu = analyze(net, data, settings)
        with emulated:
            dev = analyze(net, data, settings.replace(device="cuda"))
        _same_numbers(cpu, dev)
        assert not emulated.on(dev.fixed_points.points)
    assert emulated.ops.get("kclass", 0) > 0
    assert not any(emulated.on(p) for m in (head, parts.recurrence.source) for p in m.parameters())


def test_the_modifier_analysis_on_its_own_traces_its_line_on_the_device(network, corpus, emulated):
    from rnnlens.analysis.modifiers import analyze_modifiers

    settings = AnalysisSettings.make(**FAST)
    cpu = analyze_modifiers(network, corpus, settings, bow=_bow(corpus))
    emulated.section = "modifiers"
    with emulated:
        dev = analyze_modifiers(network, corpus, settings.replace(device="cuda"), bow=_bow(corpus))
    assert emulated.ops["modifiers"] > 0
    _same_numbers(cpu, dev)


def test_device_cpu_is_the_default_and_gives_the_same_numbers_bitwise(network, corpus):
    settings = AnalysisSettings.make(**{**FAST, "modifiers": None})
    assert settings.documents.device == "cpu" == AnalysisSettings().documents.device
    default = analyze(network, corpus, settings, bow=_bow(corpus))
    named = analyze(
        network, corpus, AnalysisSettings.make(**{**FAST, "modifiers": None}, device="cpu"), bow=_bow(corpus)
    )
    _same_numbers(default, named)
    assert named.summary["settings"]["documents"]["device"] == "cpu" and named.provenance["device"] == "cpu"
    # on the CPU the network is not copied: the analysis reads the modules given
    assert network.to("cpu") is network


def test_cuda_on_a_machine_without_it_is_refused_before_any_work(network, corpus, monkeypatch, tmp_path):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(
        ArgumentError,
        match=r"device='cuda': CUDA is not available on this machine "
        r"\(torch.cuda.is_available\(\) is False.*--device cpu",
    ):
        analyze(network, corpus, AnalysisSettings.make(device="cuda"), out_dir=tmp_path / "an")
    assert not (tmp_path / "an" / "summary.json").exists()
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(ArgumentError, match=r"device='cuda:1': this machine has 1 CUDA device\(s\), cuda:0 to cuda:0"):
        analyze(network, corpus, AnalysisSettings.make(device="cuda:1"))


@pytest.mark.parametrize("name", ["gpu", "mps", "cuda:x", "CPU", "", 0])
def test_an_unknown_device_is_refused_where_the_settings_are_made(name):
    with pytest.raises(ArgumentError, match=r"analysis setting device=.* is invalid: use cpu, cuda or cuda:N"):
        AnalysisSettings.make(device=name)


def test_device_is_an_option_of_analyze_and_a_key_of_a_sweeps_analysis_table(tmp_path, monkeypatch):
    from rnnlens.cli import main
    from rnnlens.sweep.spec import analysis_settings

    assert analysis_settings({"device": "cuda:0", "n_docs": 20}).documents.device == "cuda:0"  # read anywhere
    with pytest.raises(ArgumentError, match="device='tpu' is invalid"):
        analysis_settings({"device": "tpu"})
    runner = CliRunner()
    assert "--device TEXT" in runner.invoke(main, ["analyze", "--help"]).output
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    for device, message in (("gpu", "device='gpu' is invalid"), ("cuda", "CUDA is not available")):
        r = runner.invoke(main, ["analyze", str(tmp_path / "nothing"), "-o", str(tmp_path / "an"), "--device", device])
        assert r.exit_code == 2 and message in r.output, r.output


def test_the_comparison_of_two_devices_holds_numbers_to_the_stated_tolerances(network, corpus, tmp_path, monkeypatch):
    # benchmarks/compare_analyses.py --tolerant, what scripts/gpu_check.sh judges a GPU's analysis with
    import importlib.util
    import shutil
    import sys
    from pathlib import Path

    spec = importlib.util.spec_from_file_location(
        "compare_analyses", Path(__file__).resolve().parents[1] / "benchmarks" / "compare_analyses.py"
    )
    cmp = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, cmp)
    spec.loader.exec_module(cmp)
    analyze(network, corpus, AnalysisSettings.make(**{**FAST, "modifiers": None}), out_dir=tmp_path / "cpu")
    shutil.copytree(tmp_path / "cpu", tmp_path / "gpu")
    assert cmp.main([str(tmp_path / "cpu"), str(tmp_path / "gpu"), "--tolerant"]) == 0
    summary = json.loads((tmp_path / "gpu" / "summary.json").read_text())
    m = summary["metrics"]
    m["modes"]["abs_lambda1_median"]["value"] *= 1 + 1e-5  # rounding: within
    m["fixed_points"]["n_converged"]["value"] += 1  # one more point under tol: within
    (tmp_path / "gpu" / "summary.json").write_text(json.dumps(summary))
    with np.load(tmp_path / "gpu" / "arrays.npz") as z:
        arrays = dict(z)
    arrays["eigvals"] = np.conj(arrays["eigvals"])  # conjugate pairs swapped: within
    # and rounding-sized moves that reorder eigenvalues of nearly equal modulus or real part: within
    rng = np.random.default_rng(0)
    lam = arrays["eigvals"]
    arrays["eigvals"] = (lam + 1e-6 * (rng.standard_normal(lam.shape) + 1j * rng.standard_normal(lam.shape)))[
        :, rng.permutation(lam.shape[1])
    ].astype(lam.dtype)
    np.savez(tmp_path / "gpu" / "arrays.npz", **arrays)
    assert (
        cmp.main([str(tmp_path / "cpu"), str(tmp_path / "gpu"), "--tolerant", "--json", str(tmp_path / "d.json")]) == 0
    )
    rows = json.loads((tmp_path / "d.json").read_text())["differences"]
    assert {r["field"] for r in rows} == {
        "metrics.modes.abs_lambda1_median.value",
        "metrics.fixed_points.n_converged.value",
        "array eigvals",
    } and all(r["within"] for r in rows)
    assert next(r for r in rows if r["field"] == "array eigvals")["relative"] < 1e-5
    arrays["eigvals"][3, 5] += 0.01 * np.abs(lam).max()  # one eigenvalue moved by 1%: out
    np.savez(tmp_path / "gpu" / "arrays.npz", **arrays)
    assert cmp.main([str(tmp_path / "cpu"), str(tmp_path / "gpu"), "--tolerant"]) == 1
    arrays["eigvals"][3, 5] -= 0.01 * np.abs(lam).max()
    np.savez(tmp_path / "gpu" / "arrays.npz", **arrays)
    m["data"]["rnn_accuracy"]["value"] += 0.02  # a document classified otherwise: out
    (tmp_path / "gpu" / "summary.json").write_text(json.dumps(summary))
    assert cmp.main([str(tmp_path / "cpu"), str(tmp_path / "gpu"), "--tolerant"]) == 1
    assert cmp.main([str(tmp_path / "cpu"), str(tmp_path / "gpu")]) == 1  # and exactly: every change
