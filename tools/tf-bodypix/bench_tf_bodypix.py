"""tf-bodypix doing segmentation + background blur, timed on request (run in tools/tf-bodypix/.venv).

Driven by `bodypix bench-compare` over stdin/stdout, one JSON object a line, so that it and the
project's own pipeline can take turns on the same frames in the same minutes:

    started with --frames F.npy (RGB uint8 [n, h, w, 3]) and the model/effect options
    -> {"ready": true, "warmup_s": ...}             after loading the model and a warm-up
    <- "N"                                          run N frames
    -> {"frames": N, "wall_s": ..., "cpu_s": ...}   wall clock and this process's CPU time
    <- "quit"

The work per frame is tf-bodypix's own `blur-background` app (`BlurBackgroundApp`): predict,
`get_mask` (scale, crop and threshold with TensorFlow ops, box-blurred mask), box blur of the
frame and the float blend; then the conversion to uint8 that its output sink does.
"""

from __future__ import annotations

import argparse
import importlib.abc
import importlib.machinery
import json
import sys
import time
import types
from typing import Any


class _AbsentConverters(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Empty modules for the converters tensorflowjs imports at start-up but a graph-model load
    never calls (JAX, decision forests): installing them would pull in gigabytes and pins."""

    roots = ("jax", "jaxlib", "flax", "tensorflow_decision_forests")

    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        if name.split(".")[0] in self.roots:
            return importlib.machinery.ModuleSpec(name, self, is_package=True)
        return None

    def create_module(self, spec: Any) -> types.ModuleType:
        module = types.ModuleType(spec.name)
        module.__path__ = []
        module.__getattr__ = lambda attr: types.SimpleNamespace()  # type: ignore[method-assign]
        return module

    def exec_module(self, module: types.ModuleType) -> None:
        pass


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", required=True, help=".npy of RGB uint8 frames [n, h, w, 3]")
    parser.add_argument("--model", required=True, help="local model.json of the TF.js model")
    parser.add_argument("--internal-resolution", type=float, default=0.5)
    parser.add_argument("--threshold", type=float, default=0.7)
    parser.add_argument("--mask-blur", type=int, default=3)
    parser.add_argument("--background-blur", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=10)
    args = parser.parse_args()

    sys.meta_path.insert(0, _AbsentConverters())
    import numpy as np
    from tf_bodypix.cli import BlurBackgroundApp
    from tf_bodypix.model import load_model

    frames = np.load(args.frames)
    app_args = argparse.Namespace(
        threshold=args.threshold,
        mask_blur=args.mask_blur,
        mask_mean_count=0,
        mask_cache_time=0,
        background_blur=args.background_blur,
    )
    app = BlurBackgroundApp(app_args)
    app.timer.start()
    # A local path: tf-bodypix loads it with tfjs-graph-converter, no download.
    app.bodypix_model = load_model(args.model, internal_resolution=args.internal_resolution)

    def run(count: int, start: int) -> None:
        # As its `next_frame` loop does, the output sink being the conversion to uint8.
        for i in range(count):
            app.timer.on_frame_start(initial_step_name="in")
            app.timer.on_step_start("model")
            output = app.get_output_image(frames[(start + i) % len(frames)])
            app.timer.on_step_start("out")
            np.asarray(output).astype(np.uint8)
            app.timer.on_frame_end()

    t0 = time.perf_counter()
    run(args.warmup, 0)
    print(json.dumps({"ready": True, "warmup_s": time.perf_counter() - t0}), flush=True)
    done = 0
    for line in sys.stdin:
        command = line.strip()
        if command == "quit":
            break
        count = int(command)
        wall, cpu = time.perf_counter(), time.process_time()
        run(count, done)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        done += count
        print(json.dumps({"frames": count, "wall_s": wall, "cpu_s": cpu}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
