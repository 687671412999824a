"""The BodyPix ONNX file both CPU backends load (ONNX Runtime, OpenVINO): which model and size
it was made for, its outputs, and its graph made to take the normalised planar image."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.catalog import get_variant
from core.errors import UserError

# Metadata keys written by convert (convert.metadata).
_VARIANT, _STRIDE = "bodypix.variant", "bodypix.stride"
_IN_H, _IN_W = "bodypix.input_height", "bodypix.input_width"
_DYNAMIC = "dynamic"
PLANAR_INPUT = "image_nchw"


def planar_graph(model: Any) -> tuple[float, float] | None:
    """Make the graph take the normalised NCHW image its Conv layers read, in place.

    The exported graph starts with Mul (x/127.5), Add (-1) and a Transpose to NCHW, three passes
    over the input that ONNX Runtime runs on one core (about 1 ms at 720p). The caller does them
    while it resizes the frame instead (`runtime.resample.preprocess_planar`, the same float32
    operations). Returns (scale, shift), or None (graph unchanged) for any other start.
    """
    from onnx import TensorProto, helper, numpy_helper

    graph = model.graph
    if len(graph.input) != 1 or len(graph.node) < 4:
        return None
    mul, add, transpose = graph.node[0], graph.node[1], graph.node[2]
    image = graph.input[0].name
    if (mul.op_type, add.op_type, transpose.op_type) != ("Mul", "Add", "Transpose"):
        return None
    perm = [list(a.ints) for a in transpose.attribute if a.name == "perm"]
    consts = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    if (
        mul.input[0] != image
        or add.input[0] != mul.output[0]
        or list(transpose.input) != [add.output[0]]
        or perm != [[0, 3, 1, 2]]
        or mul.input[1] not in consts
        or add.input[1] not in consts
        or consts[mul.input[1]].size != 1
        or consts[add.input[1]].size != 1
    ):
        return None
    scale, shift = float(consts[mul.input[1]].item()), float(consts[add.input[1]].item())
    used = [n for n in graph.node[3:] if transpose.output[0] in n.input]
    for node in used:
        for i, name in enumerate(node.input):
            if name == transpose.output[0]:
                node.input[i] = PLANAR_INPUT
    dims = graph.input[0].type.tensor_type.shape.dim
    h = dims[1].dim_param or dims[1].dim_value
    w = dims[2].dim_param or dims[2].dim_value
    for node in (mul, add, transpose):
        graph.node.remove(node)
    for name in (mul.input[1], add.input[1]):
        for init in [i for i in graph.initializer if i.name == name]:
            graph.initializer.remove(init)
    graph.input.remove(graph.input[0])
    graph.input.append(helper.make_tensor_value_info(PLANAR_INPUT, TensorProto.FLOAT, [1, 3, h, w]))
    return scale, shift


def check_metadata(
    meta: dict[str, str], path: Path, variant: str, input_size: tuple[int, int] | None
) -> tuple[int, int] | None:
    """Refuse an ONNX made from another variant or for another size; return its fixed size."""
    fix = f"export it again with `python -m convert export-onnx {variant} --dynamic`"
    if meta.get(_VARIANT) != variant:
        raise UserError(
            f"ONNX file {path} was made from {meta.get(_VARIANT) or 'an unknown model'}, "
            f"not {variant}: {fix}."
        )
    if meta.get(_STRIDE) != str(get_variant(variant).stride):
        raise UserError(f"ONNX file {path} has output stride {meta.get(_STRIDE)}: {fix}.")
    h, w = meta.get(_IN_H, _DYNAMIC), meta.get(_IN_W, _DYNAMIC)
    if h == _DYNAMIC and w == _DYNAMIC:
        return None
    fixed = (int(h), int(w))
    if input_size is not None and fixed != tuple(input_size):
        raise UserError(
            f"ONNX file {path} is for input {fixed[0]}x{fixed[1]}, not "
            f"{input_size[0]}x{input_size[1]}: {fix}."
        )
    return fixed


@dataclass(frozen=True)
class BodyPixOnnx:
    """A checked ONNX file, loaded and ready for a CPU runtime."""

    path: Path
    model: Any  # onnx.ModelProto, its input made planar where `planar_input` is set
    input_size: tuple[int, int] | None  # fixed (H, W), or None for a dynamic-size file
    planar_input: tuple[float, float] | None  # (scale, shift): see planar_graph
    has_parts: bool  # a "part_heatmaps" output besides "segments"


def load_bodypix_onnx(
    path: str | Path, variant: str, input_size: tuple[int, int] | None = None
) -> BodyPixOnnx:
    """Load `path` for `variant` (UserError, saying how to export it again, when it is missing,
    made from another model or size, or lacks the "segments" output)."""
    import onnx

    path = Path(path)
    fix = f"`python -m convert export-onnx {variant} --dynamic`"
    if not path.is_file():
        raise UserError(f"ONNX file {path} does not exist: run {fix}.")
    try:
        model = onnx.load(str(path))
    except Exception as exc:  # OSError, or protobuf's DecodeError (no public base class)
        raise UserError(
            f"ONNX file {path} cannot be read ({type(exc).__name__}): export it again with {fix}."
        ) from None
    meta = {p.key: p.value for p in model.metadata_props}
    fixed = check_metadata(meta, path, variant, input_size)
    names = [o.name for o in model.graph.output]
    if "segments" not in names:
        raise UserError(
            f"ONNX file {path} has no 'segments' output (it has {names}): export it again "
            f"with {fix}."
        )
    planar = planar_graph(model)
    return BodyPixOnnx(path, model, fixed, planar, "part_heatmaps" in names)


def model_batch(image: np.ndarray, planar_input: tuple[float, float] | None) -> np.ndarray:
    """The graph's input batch: `image` is [H, W, 3] float32 RGB 0..255, made planar and
    normalised where the graph takes that, or already [1, 3, H, W] (`preprocess_planar`)."""
    batch = np.ascontiguousarray(image, dtype=np.float32)
    if batch.ndim == 3:
        batch = batch[None]
        if planar_input is not None:
            scale, shift = planar_input
            batch = batch.transpose(0, 3, 1, 2) * np.float32(scale)
            batch += np.float32(shift)
    return batch


def model_batch_shape(
    input_size: tuple[int, int], planar_input: tuple[float, float] | None
) -> tuple[int, int, int, int]:
    """The shape `model_batch` gives for a model input of (H, W)."""
    h, w = input_size
    return (1, 3, h, w) if planar_input is not None else (1, h, w, 3)


class OnnxFileBackend:
    """What the CPU backends share: the checked ONNX file, what it says, and threads per run
    (0 = all cores). Both run several frames at once from several threads
    (runtime/parallel.py)."""

    concurrent_runs = True

    def _open(
        self, path: str | Path, variant: str, threads: int, input_size: tuple[int, int] | None
    ) -> Any:
        """Load and check the file, keep what it says; returns its (planar) onnx.ModelProto."""
        onnx = load_bodypix_onnx(path, variant, input_size)
        self.path = onnx.path
        self.variant = variant
        self._input_size = onnx.input_size
        # (scale, shift) when the graph takes the normalised NCHW image (see planar_graph).
        self.planar_input = onnx.planar_input
        self._has_parts = onnx.has_parts
        self.threads = threads or (os.cpu_count() or 1)
        return onnx.model

    @property
    def input_size(self) -> tuple[int, int] | None:
        """The file's fixed (H, W), or None: any size."""
        return self._input_size
