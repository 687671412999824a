"""`SegmentationBackend` on ONNX Runtime, loading the ONNX that `convert export-onnx` writes."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from core.catalog import get_variant
from core.errors import UserError
from runtime.backends.base import F32, Logits

log = logging.getLogger(__name__)

# Metadata keys written by convert (convert.metadata); read through it when present.
_VARIANT, _STRIDE = "bodypix.variant", "bodypix.stride"
_IN_H, _IN_W = "bodypix.input_height", "bodypix.input_width"
_DYNAMIC = "dynamic"
PLANAR_INPUT = "image_nchw"


def _read_metadata(path: Path) -> dict[str, str]:
    try:
        from convert.metadata import read_onnx_metadata
    except ImportError:
        import onnx

        model = onnx.load(str(path), load_external_data=False)
        return {p.key: p.value for p in model.metadata_props}
    return read_onnx_metadata(path)


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


class OnnxRuntimeBackend:
    """Runs the BodyPix ONNX on the CPU provider; one dynamic-size file serves every frame size."""

    name = "onnxruntime"
    # A session runs several frames at once from several threads (runtime/parallel.py).
    concurrent_runs = True

    def __init__(
        self,
        path: str | Path,
        variant: str,
        threads: int = 0,
        input_size: tuple[int, int] | None = None,
    ) -> None:
        import onnxruntime as ort

        self.path = Path(path)
        if not self.path.is_file():
            raise UserError(
                f"ONNX file {self.path} does not exist: run "
                f"`python -m convert export-onnx {variant} --dynamic`."
            )
        self.variant = variant
        self._input_size = check_metadata(_read_metadata(self.path), self.path, variant, input_size)
        options = ort.SessionOptions()
        self.threads = threads or (os.cpu_count() or 1)
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Idle worker threads sleep instead of spinning: a spinning pool steals the cores the
        # pre-processing, compositing and capture threads need next (2x fps on a busy 2-core box).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        import onnx

        model = onnx.load(str(self.path))
        # (scale, shift) when the graph takes the normalised NCHW image (see planar_graph).
        self.planar_input = planar_graph(model)
        self._session: Any = ort.InferenceSession(
            model.SerializeToString(), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self._input_name = self._session.get_inputs()[0].name
        names = [o.name for o in self._session.get_outputs()]
        if "segments" not in names:
            raise UserError(
                f"ONNX file {self.path} has no 'segments' output (it has {names}): "
                f"export it again with `python -m convert export-onnx {variant} --dynamic`."
            )
        self._has_parts = "part_heatmaps" in names

    @property
    def input_size(self) -> tuple[int, int] | None:
        return self._input_size

    def run(self, image: F32, parts: bool = False) -> Logits:
        """`image` is [H, W, 3] float32 RGB 0..255, or, where `planar_input` is set, also
        [1, 3, H, W] already normalised (`preprocess_planar`); returns logits at stride size."""
        outputs = ["segments", "part_heatmaps"] if parts and self._has_parts else ["segments"]
        batch = np.ascontiguousarray(image, dtype=np.float32)
        if batch.ndim == 3:
            batch = batch[None]
            if self.planar_input is not None:
                scale, shift = self.planar_input
                batch = batch.transpose(0, 3, 1, 2) * np.float32(scale)
                batch += np.float32(shift)
        result = self._session.run(outputs, {self._input_name: batch})
        segments = result[0][0, :, :, 0]
        heatmaps = result[1][0] if len(result) > 1 else None
        return Logits(segments=segments, part_heatmaps=heatmaps)

    def close(self) -> None:
        self._session = None
