"""`SegmentationBackend` on ONNX Runtime, loading the ONNX that `convert export-onnx` writes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from runtime.backends.base import F32, Logits
from runtime.backends.onnx_file import OnnxFileBackend, model_batch


class OnnxRuntimeBackend(OnnxFileBackend):
    """Runs the BodyPix ONNX on the CPU provider; one dynamic-size file serves every frame size."""

    name = "onnxruntime"

    def __init__(
        self,
        path: str | Path,
        variant: str,
        threads: int = 0,
        input_size: tuple[int, int] | None = None,
    ) -> None:
        import onnxruntime as ort

        model = self._open(path, variant, threads, input_size)
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Idle worker threads sleep instead of spinning: a spinning pool steals the cores the
        # pre-processing, compositing and capture threads need next (2x fps on a busy 2-core box).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session: Any = ort.InferenceSession(
            model.SerializeToString(),
            sess_options=options,
            providers=["CPUExecutionProvider"],
        )
        self._input_name = self._session.get_inputs()[0].name

    def run(self, image: F32, parts: bool = False) -> Logits:
        """`image` is [H, W, 3] float32 RGB 0..255, or, where `planar_input` is set, also
        [1, 3, H, W] already normalised (`preprocess_planar`); returns logits at stride size."""
        outputs = ["segments", "part_heatmaps"] if parts and self._has_parts else ["segments"]
        batch = model_batch(image, self.planar_input)
        result = self._session.run(outputs, {self._input_name: batch})
        segments = result[0][0, :, :, 0]
        heatmaps = result[1][0] if len(result) > 1 else None
        return Logits(segments=segments, part_heatmaps=heatmaps)

    def close(self) -> None:
        self._session = None
