"""Where an analysis computes: one torch device, named by the setting ``documents.device`` (``rnnlens analyze
--device``), and the helpers that put tensors there and bring results back.

* :func:`check_device_name` (no torch import: the settings and the CLI's ``--help`` stay torch-free) accepts
  ``cpu``, ``cuda`` and ``cuda:N``. Other torch devices are not offered: the analysis computes in float64
  (fixed points, Jacobians, eigendecompositions), which some of them lack (``mps``), and none is tested.
* :func:`resolve_device` turns the name into a ``torch.device`` when the analysis starts, refusing a CUDA
  device this machine does not have, with the reason and what works instead.
* :func:`to_device` is the one place the analysis moves a tensor (or a torch module) to its device;
  :func:`to_numpy` brings a tensor back to the CPU as numpy (what the sections measure with: numpy,
  scipy and scikit-learn run on the CPU).

On the CPU both helpers change nothing: ``x.to(cpu)`` is ``x`` itself and ``x.cpu()`` shares its memory,
so the CPU path gives the same numbers, bitwise, as before devices existed.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = [
    "DEVICE_HELP",
    "check_device_name",
    "describe_device_rule",
    "resolve_device",
    "to_device",
    "to_numpy",
    "to_cpu",
]

_NAME = re.compile(r"cpu|cuda(:[0-9]+)?")

DEVICE_HELP = (
    "torch device the analysis computes on: cpu (bitwise reproducible), cuda or cuda:N (N: the GPU's "
    "index). The network is copied there; the states, the fixed-point searches, the Jacobians and "
    "eigenmodes, the slow-manifold tracing and the modifier runs are computed there (the PCA, the "
    "word-valence products, the one-step errors and the linear rollouts on the CPU); the numbers agree "
    "with the CPU's within the tolerances scripts/gpu_check.sh states."
)


def check_device_name(name: Any) -> bool:
    """Whether ``name`` is a device name the analysis accepts (``cpu``, ``cuda``, ``cuda:N``); no torch import."""
    return isinstance(name, str) and _NAME.fullmatch(name) is not None


def describe_device_rule() -> str:
    """What :func:`check_device_name` accepts, for error messages."""
    return (
        "use cpu, cuda or cuda:N (N: the GPU's index); other torch devices are not supported: the analysis "
        "computes in float64, which some lack (mps)"
    )


def resolve_device(name: str):
    """The ``torch.device`` named ``name``, checked on this machine.

    Raises:
        ArgumentError: a name :func:`check_device_name` refuses; a CUDA device when ``torch.cuda.is_available()``
            is False (no GPU, no driver, or a CPU-only torch build) or whose index is not below
            ``torch.cuda.device_count()``. The message says that ``--device cpu`` works.
    """
    import torch

    from rnnlens.errors import ArgumentError

    if not check_device_name(name):
        raise ArgumentError(f"analysis setting device={name!r} is invalid: {describe_device_rule()}.")
    device = torch.device(name)
    if device.type != "cuda":
        return device
    if not torch.cuda.is_available():
        raise ArgumentError(
            f"analysis setting device={name!r}: CUDA is not available on this machine "
            f"(torch.cuda.is_available() is False: no GPU or driver, or torch {torch.__version__} "
            "is a CPU-only build); the analysis runs on the CPU with --device cpu (the default)."
        )
    count = torch.cuda.device_count()
    if device.index is not None and device.index >= count:
        raise ArgumentError(
            f"analysis setting device={name!r}: this machine has {count} CUDA device(s), "
            f"cuda:0 to cuda:{count - 1}; choose one of those, or --device cpu."
        )
    return device


def to_device(x: Any, device: Any) -> Any:
    """``x`` on ``device``: a tensor (a numpy array becomes one first) moved or, already there, returned as it
    is; a torch module moved in place and returned; None stays None. Every tensor the analysis places on its
    device goes through here."""
    if x is None:
        return None
    import torch

    if not isinstance(x, (torch.Tensor, torch.nn.Module)):
        x = torch.as_tensor(x)
    return x.to(device)


def to_cpu(obj: Any) -> Any:
    """``obj`` with its tensors on the CPU: a tensor; a dataclass (``FixedPoints``, ``Linearization``,
    ``SlowManifold``) copied with every tensor field, and every dataclass field within, on the CPU; anything
    else as it is."""
    import dataclasses

    import torch

    if isinstance(obj, torch.Tensor):
        return obj.cpu()
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.replace(
            obj, **{f.name: to_cpu(getattr(obj, f.name)) for f in dataclasses.fields(obj) if f.init}
        )
    return obj


def to_numpy(t: Any):
    """A tensor as a numpy array on the CPU (detached; on the CPU it shares the tensor's memory); anything else
    through ``numpy.asarray``."""
    import numpy as np

    if hasattr(t, "detach"):
        return t.detach().cpu().numpy()
    return np.asarray(t)
