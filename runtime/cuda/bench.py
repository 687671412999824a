"""`bodypix bench --backend cuda`: every CUDA kernel timed with CUDA events at 720p and 1080p.

Runs `CudaFrameProcessor` on the built-in demo clip. Inference is the TensorRT engine where one
exists for this GPU; otherwise the CPU backend (OpenVINO or ONNX Runtime), whose logits are
uploaded (the report says which). Kernel times are GPU time between events around each launch, so the host-side
inference and copies do not count in them. The compositing kernels' achieved bandwidth is
reported against a plain device-to-device copy measured on the same GPU. With
BODYPIX_CUDA_EXECUTOR=host the same runs on the host executor (wall time per launch; a check of
the code path, not a measurement of anything a user runs). `--size` limits it to one size.

`python -m runtime.cuda.bench summary` folds the reports of scripts/gpu-check.sh into one JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
from typing import TYPE_CHECKING, Any

from core.catalog import get_variant
from core.errors import UserError
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


def significant(value: float, digits: int = 3) -> float:
    """`value` to `digits` significant digits (slow host-executor figures stay non-zero)."""
    return float(f"{value:.{digits}g}")


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
    """What the live CUDA path would run: a matching TensorRT engine, else a CPU backend."""
    from runtime.cuda.processor import DeviceSegmentationBackend, default_backend

    backend = default_backend(settings, input_size, dev)
    if isinstance(backend, DeviceSegmentationBackend):
        return backend, "tensorrt (device buffers, nothing crosses to the host)"
    return backend, f"{backend.name} on the CPU, logits uploaded (no matching TensorRT engine)"


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
    kernels = Kernels(dev, window=ALL_LAUNCHES)
    report: dict[str, Any] = {
        "size": f"{width}x{height}",
        "model_input": f"{geometry.input_size[1]}x{geometry.input_size[0]}",
        "backend": how,
    }
    for out_format in ("BGR", "YUYV"):
        processor = CudaFrameProcessor(
            settings, backend, dev, output_format=out_format, kernels=kernels
        )
        kernels.reset_timings()
        for i in range(warmup + frames):
            if i == warmup:
                kernels.reset_timings()
            frame = images[i % len(images)]
            kernels.stage = "segment"
            result = processor.segment(frame)
            kernels.stage = "composite"
            processor.composite(frame, result)
        per_launch = {
            f"{stage}:{name}": statistics.fmean(v) for (stage, name), v in kernels.samples.items()
        }
        # Several launches of one kernel per frame (the blur passes) add up.
        per_frame = {
            f"{stage}:{name}": sum(v) / frames for (stage, name), v in kernels.samples.items()
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
            "composite_kernel_gb_s": significant(moved / (kernel_ms / 1e3) / 1e9)
            if kernel_ms
            else None,
        }
        processor.close()
    backend.close()
    return report


def bench_sizes(args: argparse.Namespace) -> list[tuple[int, int]]:
    """`--size` when given, else 720p and 1080p."""
    return [args.size] if args.size is not None else list(BENCH_SIZES)


def mask_refinement(settings: Settings) -> dict[str, Any]:
    """What the mask step did besides BodyPix's threshold (issue 14's smoothing and edges)."""
    return {
        "smoothing": settings.smoothing,
        "smoothing_method": settings.smoothing_method if settings.smoothing > 0 else None,
        "edge_refine": settings.edge_refine,
        "feather": settings.feather,
    }


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
            entry[fmt]["composite_share_of_copy"] = significant(bw / copy_gb_s) if bw else None
    report = {
        "gpu": dev.name,
        "compute_capability": "{}.{}".format(*dev.compute_capability),
        "executor": dev.executor,
        "memory_mode": dev.mode,
        "effect": settings.effect,
        "mask_refinement": mask_refinement(settings),
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
            result = entry[fmt]
            print(
                f"  {fmt:<4} preprocess {result['preprocess_ms']:.3f} ms  mask {result['mask_ms']:.3f} ms  "
                f"composite {result['composite_ms']:.3f} ms  (mask + composite "
                f"{result['mask_plus_composite_ms']:.3f} ms)"
            )
            for key, ms in result["ms_per_frame"].items():
                print(f"       {key:<32} {ms:8.4f} ms/frame")
            if result["composite_kernel_gb_s"]:
                print(
                    f"       composite kernel {result['composite_kernel_gb_s']} GB/s = "
                    f"{100 * result['composite_share_of_copy']:.0f} % of copy bandwidth"
                )
    return 0


# --- scripts/gpu-check.sh's one JSON summary ------------------------------------------------

# The targets on a data-centre GPU.
TARGET_MASK_PLUS_COMPOSITE_MS_1080P = 0.5
TARGET_SHARE_OF_COPY = 0.5


def gpu_check_summary(
    reports: list[dict[str, Any]], tests: dict[str, int], elapsed_s: float | None = None
) -> dict[str, Any]:
    """One summary of `bench --backend cuda --json` reports (one per effect) and the pytest
    counts: per-kernel ms per frame, mask + composite ms, bandwidth as a share of a
    device-to-device copy, and whether the targets were met."""
    if not reports:
        raise UserError("No bench report to summarise: run `bodypix bench --backend cuda --json`.")
    first = reports[0]
    runs: list[dict[str, Any]] = []
    for report in reports:
        for entry in report["sizes"]:
            for fmt in ("BGR", "YUYV"):
                result = entry[fmt]
                runs.append(
                    {
                        "effect": report["effect"],
                        "mask_refinement": report.get("mask_refinement"),
                        "size": entry["size"],
                        "output": fmt,
                        "backend": entry["backend"],
                        "kernel_ms_per_frame": result["ms_per_frame"],
                        "preprocess_ms": result["preprocess_ms"],
                        "mask_plus_composite_ms": result["mask_plus_composite_ms"],
                        "composite_share_of_copy": result["composite_share_of_copy"],
                    }
                )
    at_1080p = [run for run in runs if run["size"] == "1920x1080"]
    shares = [run["composite_share_of_copy"] for run in runs if run["composite_share_of_copy"]]
    return {
        "gpu": first["gpu"],
        "compute_capability": first["compute_capability"],
        "executor": first.get("executor", "device"),
        "memory_mode": first["memory_mode"],
        "copy_gb_s": first["copy_gb_s"],
        "tests": tests,
        "runs": runs,
        "targets": {
            "mask_plus_composite_1080p_ms_max": max(
                (run["mask_plus_composite_ms"] for run in at_1080p), default=None
            ),
            "mask_plus_composite_1080p_under_0_5_ms": bool(at_1080p)
            and all(
                run["mask_plus_composite_ms"] < TARGET_MASK_PLUS_COMPOSITE_MS_1080P
                for run in at_1080p
            ),
            "composite_share_of_copy_min": min(shares, default=None),
            "at_least_half_of_copy_bandwidth": bool(shares) and min(shares) >= TARGET_SHARE_OF_COPY,
        },
        "elapsed_s": elapsed_s,
    }


def pytest_counts(junit_xml: str) -> dict[str, int]:
    """passed / failed / skipped / errors from a pytest --junitxml file."""
    import xml.etree.ElementTree as ElementTree

    root = ElementTree.parse(junit_xml).getroot()
    suite = root if root.tag == "testsuite" else root.find("testsuite")
    if suite is None:
        raise UserError(f"{junit_xml} is not a pytest JUnit report: rerun pytest --junitxml.")
    total, failed = int(suite.get("tests", 0)), int(suite.get("failures", 0))
    errors, skipped = int(suite.get("errors", 0)), int(suite.get("skipped", 0))
    return {
        "passed": total - failed - errors - skipped,
        "failed": failed,
        "errors": errors,
        "skipped": skipped,
    }


def main(argv: list[str] | None = None) -> int:
    """`python -m runtime.cuda.bench summary --junit tests.xml --elapsed S bench*.json`."""
    parser = argparse.ArgumentParser(prog="python -m runtime.cuda.bench")
    parser.add_argument("command", choices=["summary"])
    parser.add_argument("--junit", help="pytest --junitxml file of tests/runtime/cuda")
    parser.add_argument("--elapsed", type=float, default=None, help="seconds the check took")
    parser.add_argument("reports", nargs="+", help="`bench --backend cuda --json` outputs")
    args = parser.parse_args(argv)
    reports = []
    for path in args.reports:
        with open(path) as file:
            lines = [line for line in file.read().splitlines() if line.startswith("{")]
        if not lines:
            raise UserError(f"{path} holds no bench JSON: see the bench's messages above.")
        reports.append(json.loads(lines[-1]))
    tests = pytest_counts(args.junit) if args.junit else {}
    print(json.dumps(gpu_check_summary(reports, tests, args.elapsed)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
