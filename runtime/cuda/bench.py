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
from typing import TYPE_CHECKING, Any

from convert.catalog import get_variant
from convert.errors import UserError
from runtime.cuda.device import Device, open_device
from runtime.cuda.kernels import Kernels

if TYPE_CHECKING:
    from runtime.backends.base import SegmentationBackend
    from runtime.cuda.processor import DeviceSegmentationBackend
    from runtime.settings import Settings

BENCH_SIZES: tuple[tuple[int, int], ...] = ((1280, 720), (1920, 1080))
COPY_BYTES = 256 << 20
# Every launch of the timed frames is kept (the live processor keeps a recent window).
ALL_LAUNCHES = 1 << 20


def copy_bandwidth(dev: Device, nbytes: int = COPY_BYTES, repeats: int = 20) -> float:
    """Device-to-device copy bandwidth in GB/s (bytes read + bytes written per second);
    call with the context current."""
    src, dst = dev.mem_alloc(nbytes), dev.mem_alloc(nbytes)
    try:
        dev.memcpy_dtod(dst.ptr, src.ptr, nbytes)  # warm-up
        start = dev.record_event()
        for _ in range(repeats):
            dev.memcpy_dtod(dst.ptr, src.ptr, nbytes)
        end = dev.record_event()
        dev.synchronize()
        seconds = end.elapsed_ms_since(start) / 1e3 / repeats
    finally:
        src.free()
        dst.free()
    return 2 * nbytes / max(seconds, 1e-12) / 1e9


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


def _backend(
    settings: Settings, input_size: tuple[int, int], dev: Device
) -> tuple[SegmentationBackend | DeviceSegmentationBackend, str]:
    """What the live CUDA path would run: a matching TensorRT engine, else ONNX Runtime."""
    from runtime.cuda.processor import DeviceSegmentationBackend, default_backend

    backend = default_backend(settings, input_size, dev)
    if isinstance(backend, DeviceSegmentationBackend):
        return backend, "tensorrt (device buffers, nothing crosses to the host)"
    return backend, "onnxruntime on the CPU, logits uploaded (no matching TensorRT engine)"


def bench_size(
    dev: Device, settings: Settings, width: int, height: int, frames: int, warmup: int
) -> dict[str, Any]:
    from runtime.cuda.processor import CudaFrameProcessor
    from runtime.demo import DemoClip
    from runtime.geometry import frame_geometry

    clip = DemoClip(width, height)
    images = [clip.frame(i * 7) for i in range(16)]  # decoded up front: not part of the timing
    geometry = frame_geometry(
        height, width, settings.internal_resolution, get_variant(settings.variant).stride
    )
    backend, how = _backend(settings, geometry.input_size, dev)
    kern = Kernels(dev, window=ALL_LAUNCHES)
    report: dict[str, Any] = {
        "size": f"{width}x{height}",
        "model_input": f"{geometry.input_size[1]}x{geometry.input_size[0]}",
        "backend": how,
    }
    for out_format in ("BGR", "YUYV"):
        proc = CudaFrameProcessor(settings, backend, dev, output_format=out_format, kernels=kern)
        kern.reset_timings()
        for i in range(warmup + frames):
            if i == warmup:
                kern.reset_timings()
            frame = images[i % len(images)]
            kern.stage = "segment"
            result = proc.segment(frame)
            kern.stage = "composite"
            proc.composite(frame, result)
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


def bench_sizes(args: argparse.Namespace) -> list[tuple[int, int]]:
    """`--size` when given, else 720p and 1080p."""
    return [args.size] if args.size is not None else list(BENCH_SIZES)


def run_cuda_bench(args: argparse.Namespace) -> int:
    """Entry point for `bodypix bench --backend cuda` (args from runtime/commands/bench.py)."""
    from runtime.commands.options import settings_from

    if args.frames < 1:
        raise UserError(f"--frames {args.frames} must be at least 1.")
    options = argparse.Namespace(**{**vars(args), "backend": "auto"})
    settings = settings_from(options, video=True, video_defaults=(0.0, 0))
    dev = open_device()
    try:
        with dev.active():
            # The host executor only needs the code path exercised, not a big copy.
            copy_gb_s = copy_bandwidth(dev, COPY_BYTES if dev.executor == "device" else 4 << 20)
        sizes = [
            bench_size(dev, settings, w, h, args.frames, args.warmup) for w, h in bench_sizes(args)
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
        "executor": dev.executor,
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
