"""`bodypix bench --backend cuda`: every CUDA kernel timed with CUDA events at 720p and 1080p.

Runs `CudaFrameProcessor` on the built-in demo clip. Inference is the TensorRT engine where one
exists for this GPU; otherwise ONNX Runtime on the CPU, whose logits are uploaded (the report
says which). Kernel times are GPU time between events around each launch, so the host-side
inference and copies do not count in them. The compositing kernels' achieved bandwidth is
reported against a plain device-to-device copy measured on the same GPU.
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from convert.catalog import get_variant
from convert.errors import UserError
from runtime.cuda import kernels as k
from runtime.cuda.memory import CudaDevice

if TYPE_CHECKING:
    from pycuda.driver import Event, Function

    from runtime.backends.base import SegmentationBackend
    from runtime.settings import Settings

BENCH_SIZES: tuple[tuple[int, int], ...] = ((1280, 720), (1920, 1080))
COPY_BYTES = 256 << 20


class TimedKernels(k.Kernels):
    """Kernels that record a pair of CUDA events around every launch, grouped by stage."""

    def __init__(self, dev: CudaDevice) -> None:
        super().__init__(dev)
        self.stage = "other"
        self.pending: list[tuple[str, str, Event, Event]] = []
        self.samples: dict[tuple[str, str], list[float]] = defaultdict(list)

    def _timed(self, func: Function, launch: Any) -> None:
        import pycuda.driver as cuda

        start, end = cuda.Event(), cuda.Event()
        start.record(self.dev.stream)
        launch()
        end.record(self.dev.stream)
        self.pending.append((self.stage, self.names[id(func)], start, end))

    def _launch(self, func: Function, width: int, height: int, *args: Any) -> None:
        self._timed(func, lambda: super(TimedKernels, self)._launch(func, width, height, *args))

    def _launch_1d(self, func: Function, n: int, *args: Any) -> None:
        self._timed(func, lambda: super(TimedKernels, self)._launch_1d(func, n, *args))

    def collect(self) -> None:
        """Read the events of the frames launched so far (after the stream synchronised)."""
        for stage, name, start, end in self.pending:
            end.synchronize()
            self.samples[(stage, name)].append(end.time_since(start))
        self.pending.clear()

    def reset(self) -> None:
        self.pending.clear()
        self.samples.clear()


def copy_bandwidth(dev: CudaDevice, nbytes: int = COPY_BYTES, repeats: int = 20) -> float:
    """Device-to-device copy bandwidth in GB/s (bytes read + bytes written per second)."""
    import pycuda.driver as cuda

    src, dst = cuda.mem_alloc(nbytes), cuda.mem_alloc(nbytes)
    try:
        start, end = cuda.Event(), cuda.Event()
        cuda.memcpy_dtod_async(dst, src, nbytes, dev.stream)  # warm-up
        start.record(dev.stream)
        for _ in range(repeats):
            cuda.memcpy_dtod_async(dst, src, nbytes, dev.stream)
        end.record(dev.stream)
        end.synchronize()
        seconds = end.time_since(start) / 1e3 / repeats
    finally:
        src.free()
        dst.free()
    return 2 * nbytes / seconds / 1e9


def composite_bytes(settings: Settings, width: int, height: int, out_format: str) -> int:
    """Bytes the composite kernel must move per frame (compulsory traffic: each input read
    once, the output written once; the reduced-resolution blur image is small and cached)."""
    per_pixel = 3  # BGR frame
    if settings.effect in ("blur", "replace", "mask") or (
        settings.effect == "parts" and settings.parts.face_blur
    ):
        per_pixel += 4  # float alpha
    if settings.effect == "replace":
        per_pixel += 3  # the resident background
    if settings.effect == "parts":
        per_pixel += 1  # int8 part ids
    per_pixel += 2 if out_format == "YUYV" else 3
    return per_pixel * width * height


def _backend(settings: Settings, input_size: tuple[int, int]) -> tuple[SegmentationBackend, str]:
    """The TensorRT backend where an engine exists for this GPU, else ONNX Runtime."""
    from runtime.backends import create_backend

    try:
        trt = create_backend(settings.model_copy(update={"backend": "tensorrt"}), input_size)
        return trt, "tensorrt (device buffers, nothing crosses to the host)"
    except UserError as exc:
        ort = create_backend(settings.model_copy(update={"backend": "onnxruntime"}), input_size)
        return ort, f"onnxruntime on the CPU, logits uploaded (no TensorRT engine: {exc})"


def bench_size(
    dev: CudaDevice, settings: Settings, width: int, height: int, frames: int, warmup: int
) -> dict[str, Any]:
    from runtime.cuda.processor import CudaFrameProcessor
    from runtime.demo import DemoClip
    from runtime.geometry import frame_geometry

    clip = DemoClip(width, height)
    images = [clip.frame(i * 7) for i in range(16)]  # decoded up front: not part of the timing
    geometry = frame_geometry(
        height, width, settings.internal_resolution, get_variant(settings.variant).stride
    )
    backend, how = _backend(settings, geometry.input_size)
    kern = TimedKernels(dev)
    report: dict[str, Any] = {
        "size": f"{width}x{height}",
        "model_input": f"{geometry.input_size[1]}x{geometry.input_size[0]}",
        "backend": how,
    }
    for out_format in ("BGR", "YUYV"):
        proc = CudaFrameProcessor(settings, backend, dev, output_format=out_format, kernels=kern)
        kern.reset()
        for i in range(warmup + frames):
            if i == warmup:
                kern.reset()
            frame = images[i % len(images)]
            kern.stage = "segment"
            result = proc.segment(frame)
            kern.stage = "composite"
            proc.composite(frame, result)
            kern.collect()
        per_launch = {
            f"{stage}:{name}": statistics.fmean(v) for (stage, name), v in kern.samples.items()
        }
        # Several launches of one kernel per frame (the blur passes) add up.
        per_frame = {
            f"{stage}:{name}": sum(v) / frames for (stage, name), v in kern.samples.items()
        }
        mask_ms = sum(
            t
            for key, t in per_frame.items()
            if key.startswith("segment:") and "preprocess" not in key
        )
        composite_ms = sum(t for key, t in per_frame.items() if key.startswith("composite:"))
        preprocess_ms = per_frame.get("segment:preprocess", 0.0)
        kernel_ms = per_frame.get("composite:composite", 0.0)
        moved = composite_bytes(settings, width, height, out_format)
        report[out_format] = {
            "ms_per_frame": {key: round(t, 4) for key, t in sorted(per_frame.items())},
            "ms_per_launch": {key: round(t, 4) for key, t in sorted(per_launch.items())},
            "preprocess_ms": round(preprocess_ms, 4),
            "mask_ms": round(mask_ms, 4),
            "composite_ms": round(composite_ms, 4),
            "mask_plus_composite_ms": round(mask_ms + composite_ms, 4),
            "composite_kernel_gb_s": round(moved / (kernel_ms / 1e3) / 1e9, 1)
            if kernel_ms
            else None,
        }
        proc.close()
    backend.close()
    return report


def run_cuda_bench(args: argparse.Namespace) -> int:
    """Entry point for `bodypix bench --backend cuda` (args from runtime/commands/bench.py)."""
    from runtime.commands.options import settings_from

    if args.frames < 1:
        raise UserError(f"--frames {args.frames} must be at least 1.")
    options = argparse.Namespace(**{**vars(args), "backend": "auto"})
    settings = settings_from(options, video=True, video_defaults=(0.0, 0))
    dev = CudaDevice()
    try:
        with dev.active():
            copy_gb_s = copy_bandwidth(dev)
            sizes = [
                bench_size(dev, settings, w, h, args.frames, args.warmup) for w, h in BENCH_SIZES
            ]
    finally:
        dev.close()
    for entry in sizes:
        for fmt in ("BGR", "YUYV"):
            bw = entry[fmt]["composite_kernel_gb_s"]
            entry[fmt]["composite_share_of_copy"] = round(bw / copy_gb_s, 3) if bw else None
    report = {
        "gpu": dev.name,
        "compute_capability": "{}.{}".format(*dev.compute_capability),
        "memory_mode": dev.mode,
        "effect": settings.effect,
        "variant": settings.variant,
        "internal_resolution": settings.internal_resolution,
        "frames": args.frames,
        "copy_gb_s": round(copy_gb_s, 1),
        "sizes": sizes,
    }
    if args.json:
        print(json.dumps(report))
        return 0
    print(
        f"{report['gpu']} (sm {report['compute_capability']}, {dev.mode} frames), "
        f"{settings.effect}, {settings.variant} {settings.internal_resolution}, "
        f"{args.frames} frames; device-to-device copy {report['copy_gb_s']} GB/s"
    )
    for entry in sizes:
        print(f"{entry['size']} (model input {entry['model_input']}): {entry['backend']}")
        for fmt in ("BGR", "YUYV"):
            r = entry[fmt]
            print(
                f"  {fmt:<4} preprocess {r['preprocess_ms']:.3f} ms  mask {r['mask_ms']:.3f} ms  "
                f"composite {r['composite_ms']:.3f} ms  (mask + composite "
                f"{r['mask_plus_composite_ms']:.3f} ms)"
            )
            for key, ms in r["ms_per_frame"].items():
                print(f"       {key:<32} {ms:8.4f} ms/frame")
            if r["composite_kernel_gb_s"]:
                print(
                    f"       composite kernel {r['composite_kernel_gb_s']} GB/s = "
                    f"{100 * r['composite_share_of_copy']:.0f} % of copy bandwidth"
                )
    return 0
