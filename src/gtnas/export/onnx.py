"""ONNX export of a found network, checked with onnxruntime against PyTorch.

The exported graph takes ``images`` (batch, C, H, W) with a dynamic batch axis and returns
``logits`` (batch, classes); C, H and W are fixed at export (the cell ops pad to the size they
see). The network is exported in eval mode, so BatchNorm uses its running statistics.

Exporter: torch's default ``torch.export``-based exporter (``dynamo=True``), which is where
torch's ONNX support is going (the TorchScript exporter is deprecated). If it cannot capture a
network we fall back to the TorchScript exporter (``dynamo=False``), which traces a forward
pass; the exporter used is recorded in the model's metadata (``gtnas.exporter``). Either way
:func:`verify_onnx` compares the result with PyTorch, so a fallback cannot go unnoticed. Every
registered space (the -inf padded max pools, zero ops and factorised reductions included)
exports with the default exporter; tests check that for each space.

onnx, onnxscript and onnxruntime are optional (``pip install 'gtnas[export]'``) and imported
here only.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import logging
import math
import time
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import nn

from gtnas.errors import GtnasError
from gtnas.runtime.files import atomic_write
from gtnas.seeding import make_generator

INPUT_NAME = "images"
OUTPUT_NAME = "logits"
# torch.export treats a dimension whose example size is 0 or 1 as a constant, so the example
# batch must be at least 2 for the batch axis to stay dynamic.
_EXAMPLE_BATCH = 2
_INSTALL = "pip install 'gtnas[export]'"

if TYPE_CHECKING:
    import onnx


def export_onnx(
    module: nn.Module,
    path: str | Path,
    *,
    image_shape: tuple[int, int, int],
    opset: int | None = None,
) -> Path:
    """Write ``module`` as an ONNX model at ``path`` (atomically) and return the path.

    ``opset`` None lets torch choose its recommended opset version. The module is put in eval
    mode for the export and given back in the mode it came in.
    """
    _require("onnx", "onnxscript")
    import onnx

    path = Path(path)
    device = _device_of(module)
    example = torch.zeros(_EXAMPLE_BATCH, *image_shape, device=device)  # (2, C, H, W)
    was_training = module.training
    module.eval()
    try:
        try:
            exporter = "torch.export (dynamo)"
            with _quiet():
                program = torch.onnx.export(
                    module,
                    (example,),
                    dynamo=True,
                    input_names=[INPUT_NAME],
                    output_names=[OUTPUT_NAME],
                    dynamic_shapes=({0: torch.export.Dim("batch")},),
                    opset_version=opset,
                    verbose=False,
                )
            model = program.model_proto  # weights inside the model: our networks are small
        except Exception as dynamo_error:  # the exporters raise many types; retry, then report
            exporter = "torchscript (fallback)"
            try:
                model = _torchscript_export(module, example, opset)
            except Exception as fallback_error:
                raise GtnasError(
                    "ONNX export failed with both exporters: "
                    f"{_one_line(dynamo_error)} / {_one_line(fallback_error)}"
                ) from fallback_error
    finally:
        module.train(was_training)

    entry = model.metadata_props.add()
    entry.key, entry.value = "gtnas.exporter", exporter
    atomic_write(path, lambda tmp: onnx.save_model(model, str(tmp)))
    return path


def verify_onnx(
    module: nn.Module,
    path: str | Path,
    inputs: torch.Tensor | Iterable[torch.Tensor],
    *,
    atol: float = 1e-4,
    rtol: float = 1e-5,
) -> float:
    """Run the ONNX model at ``path`` with onnxruntime (CPU) and ``module`` in eval mode on the
    same ``inputs`` (one (B, C, H, W) batch or several, of any batch sizes); return the largest
    absolute difference of their outputs.

    Raises :class:`GtnasError` when an output differs by more than ``atol + rtol * |PyTorch's
    output|`` (as ``numpy.allclose``): float32 rounding grows with the size of the logits (a
    network with logits near 150 differs from a float64 reference by about 6e-5 in PyTorch
    itself), so a purely absolute bound would fail correct exports of confident networks.
    """
    _require("onnxruntime")
    import onnxruntime

    batches = [inputs] if isinstance(inputs, torch.Tensor) else list(inputs)
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # errors only; onnxruntime warns about unused initialisers
    try:
        session = onnxruntime.InferenceSession(
            str(path), options, providers=["CPUExecutionProvider"]
        )
    except Exception as exc:  # onnxruntime raises its own exception types
        raise GtnasError(f"onnxruntime cannot load {path}: {_one_line(exc)}") from None
    input_name = session.get_inputs()[0].name

    device = _device_of(module)
    was_training = module.training
    module.eval()
    worst = 0.0  # largest absolute difference (NaN when an output is NaN)
    within = True
    try:
        for batch in batches:
            batch = batch.detach().to("cpu", torch.float32)
            with torch.no_grad():
                expected = module(batch.to(device)).cpu()  # (B, classes)
            (found,) = session.run(None, {input_name: batch.numpy()})
            found = torch.from_numpy(found)
            if found.shape != expected.shape:
                raise GtnasError(
                    f"ONNX model {path} gives outputs of shape {tuple(found.shape)} for a batch "
                    f"of {len(batch)}; PyTorch gives {tuple(expected.shape)}"
                )
            difference = (found - expected).abs()  # (B, classes)
            largest = float(difference.max())
            if math.isnan(largest) or largest > worst:  # once NaN, stays NaN
                worst = largest
            # "<=" is False for NaN, so a NaN output fails the check
            within &= bool((difference <= atol + rtol * expected.abs()).all())
    finally:
        module.train(was_training)
    if not within:
        raise GtnasError(
            f"ONNX model {path} differs from PyTorch by up to {worst:.3g} (tolerance "
            f"{atol:g} + {rtol:g} x |output|); do not use it"
        )
    return worst


VERIFY_BATCHES = (1, 5)  # batch sizes of the random inputs an exported model is checked on
VERIFY_SEED = 0


def export_verified(
    module: nn.Module,
    path: str | Path,
    *,
    image_shape: tuple[int, int, int],
    opset: int | None = None,
) -> tuple[float, float]:
    """:func:`export_onnx`, then :func:`verify_onnx` on seeded random batches of 1 and 5
    images; returns (the largest difference, the export's seconds). A model that disagrees is
    deleted before the error is raised: it must not be used."""

    path = Path(path)
    start = time.perf_counter()
    export_onnx(module, path, image_shape=image_shape, opset=opset)
    seconds = time.perf_counter() - start
    generator = make_generator(VERIFY_SEED)
    batches = [torch.randn(b, *image_shape, generator=generator) for b in VERIFY_BATCHES]
    try:
        difference = verify_onnx(module, path, batches)
    except GtnasError:
        path.unlink(missing_ok=True)
        raise
    return difference, seconds


def _torchscript_export(
    module: nn.Module, example: torch.Tensor, opset: int | None
) -> onnx.ModelProto:
    import onnx

    buffer = io.BytesIO()
    with _quiet():
        torch.onnx.export(
            module,
            (example,),
            buffer,
            dynamo=False,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
            opset_version=opset,
        )
    return onnx.load_model_from_string(buffer.getvalue())


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Hide the exporters' progress lines and warnings (e.g. that torchvision ops are not
    registered, deprecations inside torch); errors still propagate."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with (
            warnings.catch_warnings(),
            contextlib.redirect_stdout(io.StringIO()),
        ):
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def _require(*modules: str) -> None:
    missing = [name for name in modules if importlib.util.find_spec(name) is None]
    if missing:
        raise GtnasError(f"ONNX export needs {', '.join(missing)}: {_INSTALL}")


def _device_of(module: nn.Module) -> torch.device:
    parameter = next(module.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:300]}"
