"""`bodypix bench-compare`: this project's CPU path and tf-bodypix side by side, same frames.

tf-bodypix (the Python BodyPix package) runs in its own throwaway virtual environment,
tools/tf-bodypix/.venv (ignored by git), made on first use from the requirement files there,
like the TF.js reference in tools/reference. A benchmark to read, never a test: CI does not run
it. Both sides take turns on the same frames in short rounds, so that the load other programs
put on the machine falls on both alike; the figures are wall-clock frames per second and the
CPU time of each process per frame.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from core.errors import UserError
from runtime.backends import CPU_BACKENDS
from runtime.commands.bench import size

TOOL_DIR = Path(__file__).resolve().parents[2] / "tools" / "tf-bodypix"
REQUIREMENTS = ("requirements.txt", "requirements-nodeps.txt")
READY_MARKER = "bodypix-bench-ready"  # written last, holds the hash of the requirement files


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "bench-compare",
        help="time the CPU path against tf-bodypix, side by side",
        description=(
            "Segmentation + background blur with the same model, internal resolution and frame "
            "size, by this project (the `bench` work) and by tf-bodypix (its blur-background "
            "app), taking turns in rounds on the built-in demo clip. Prints frames per second, "
            "CPU milliseconds per frame and the ratio per size. The first run installs "
            "tf-bodypix and TensorFlow into tools/tf-bodypix/.venv (about 600 MB, from PyPI)."
        ),
    )
    parser.add_argument(
        "--size",
        type=size,
        action="append",
        metavar="WxH",
        help="frame size, repeatable (default: 640x480 and 1280x720)",
    )
    parser.add_argument("--frames", type=int, default=200, help="timed frames per side and size")
    parser.add_argument("--rounds", type=int, default=5, help="turns each side takes (default 5)")
    parser.add_argument("--variant", default="mobilenet-float-050-stride16", help="model variant")
    parser.add_argument("--threshold", type=float, default=0.7, help="segmentation threshold")
    parser.add_argument("--background-blur", type=int, default=3, help="background blur px")
    parser.add_argument("--edge-blur", type=int, default=3, help="mask edge blur px")
    parser.add_argument(
        "--threads", type=int, default=0, help="this project's inference threads (0 = all cores)"
    )
    parser.add_argument(
        "--backend",
        choices=CPU_BACKENDS,
        help="this project's CPU backend (default: OpenVINO where it runs, else ONNX Runtime)",
    )
    parser.add_argument(
        "--overlap",
        action="store_true",
        help="this project segments frame n+1 while compositing frame n (as `bench --overlap`, "
        "the live pipeline's shape)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="frames this project processes at once, one per thread (as `bench --workers`; "
        "default: one per CPU, or 1 with --overlap)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(func=run)


def _requirements_hash() -> str:
    digest = hashlib.sha256(sys.version.encode())
    for name in REQUIREMENTS:
        digest.update((TOOL_DIR / name).read_bytes())
    return digest.hexdigest()


def tf_bodypix_python() -> Path:
    """The Python of tools/tf-bodypix/.venv, (re)made when missing, broken or out of date."""
    if not (TOOL_DIR / REQUIREMENTS[0]).is_file():
        raise UserError(
            f"{TOOL_DIR} is missing: run bench-compare from a source checkout of the project."
        )
    venv = TOOL_DIR / ".venv"
    python = venv / "bin" / "python"
    marker = venv / READY_MARKER
    want = _requirements_hash()
    try:
        if python.is_file() and marker.read_text().strip() == want:
            return python
    except OSError:
        pass  # no marker (first use, or an install that stopped half way): make it again
    shutil.rmtree(venv, ignore_errors=True)
    print(f"Installing tf-bodypix into {venv} (first use, a few minutes)...", file=sys.stderr)
    pip = [str(python), "-m", "pip", "install", "-q"]
    steps = [
        [sys.executable, "-m", "venv", str(venv)],
        [*pip, "-r", str(TOOL_DIR / REQUIREMENTS[0])],
        [*pip, "--no-deps", "-r", str(TOOL_DIR / REQUIREMENTS[1])],
    ]
    for step in steps:
        done = subprocess.run(step, check=False)
        if done.returncode != 0:
            shutil.rmtree(venv, ignore_errors=True)
            raise UserError(
                f"Installing tf-bodypix into {venv} failed ({' '.join(step[-4:])} exited "
                f"{done.returncode}): check that PyPI can be reached and run bench-compare again."
            )
    marker.write_text(want + "\n")
    return python


class TfBodyPix:
    """The tf-bodypix worker process (tools/tf-bodypix/bench_tf_bodypix.py) for one size."""

    def __init__(self, python: Path, frames_npy: Path, model_json: Path, args: Any) -> None:
        command = [
            str(python),
            str(TOOL_DIR / "bench_tf_bodypix.py"),
            f"--frames={frames_npy}",
            f"--model={model_json}",
            "--internal-resolution=0.5",
            f"--threshold={args.threshold}",
            f"--mask-blur={args.edge_blur}",
            f"--background-blur={args.background_blur}",
        ]
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": ""}
        self._proc = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
        )
        self._read()  # {"ready": true}: model loaded and warmed up

    def _read(self) -> dict[str, Any]:
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line:
            code = self._proc.wait()
            raise UserError(
                f"The tf-bodypix worker stopped (exit {code}; its messages are above): delete "
                f"{TOOL_DIR / '.venv'} to reinstall it, then run bench-compare again."
            )
        result: dict[str, Any] = json.loads(line)
        return result

    def run(self, frames: int) -> tuple[float, float]:
        """(wall seconds, CPU seconds of the worker) for `frames` frames."""
        assert self._proc.stdin is not None
        self._proc.stdin.write(f"{frames}\n")
        self._proc.stdin.flush()
        result = self._read()
        return float(result["wall_s"]), float(result["cpu_s"])

    def close(self) -> None:
        if self._proc.poll() is None:
            assert self._proc.stdin is not None
            try:
                self._proc.stdin.write("quit\n")
                self._proc.stdin.close()
                self._proc.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                self._proc.kill()
                self._proc.wait()


def _compare_size(
    width: int, height: int, python: Path, model_json: Path, args: argparse.Namespace
) -> dict[str, Any]:
    import numpy as np

    from runtime.commands.bench import FrameRunner
    from runtime.demo import DemoClip
    from runtime.settings import Settings

    clip = DemoClip(width, height)
    frames = [clip.frame(i * 7) for i in range(32)]  # decoded up front, for both sides
    settings = Settings(
        effect="blur",
        variant=args.variant,
        internal_resolution="medium",
        segmentation_threshold=args.threshold,
        background_blur_amount=args.background_blur,
        edge_blur_amount=args.edge_blur,
        backend=args.backend,
        threads=args.threads,
    )
    per_round = max(1, args.frames // args.rounds)
    ours = {"wall": 0.0, "cpu": 0.0, "frames": 0}
    theirs = {"wall": 0.0, "cpu": 0.0, "frames": 0}
    with tempfile.TemporaryDirectory(prefix="bodypix-compare-") as tmp:
        npy = Path(tmp) / "frames.npy"
        np.save(npy, np.stack([f[:, :, ::-1] for f in frames]))  # tf-bodypix takes RGB
        worker = TfBodyPix(python, npy, model_json, args)
        runner = FrameRunner(settings, overlap=args.overlap, workers=args.workers)
        try:
            runner.run(frames, 10)
            done = 0
            for _ in range(args.rounds):
                wall, cpu = time.perf_counter(), time.process_time()
                runner.run(frames, per_round, done)
                ours["wall"] += time.perf_counter() - wall
                ours["cpu"] += time.process_time() - cpu
                ours["frames"] += per_round
                done += per_round
                wall_t, cpu_t = worker.run(per_round)
                theirs["wall"] += wall_t
                theirs["cpu"] += cpu_t
                theirs["frames"] += per_round
        finally:
            runner.close()
            worker.close()

    def figures(side: dict[str, Any]) -> dict[str, float]:
        n = side["frames"]
        return {
            "fps": round(n / side["wall"], 1),
            "ms_per_frame": round(side["wall"] / n * 1e3, 2),
            "cpu_ms_per_frame": round(side["cpu"] / n * 1e3, 2),
        }

    mine, other = figures(ours), figures(theirs)
    return {
        "size": f"{width}x{height}",
        "frames": ours["frames"],
        "bodypix": mine,
        "tf_bodypix": other,
        "ratio_fps": round(mine["fps"] / other["fps"], 2),
        "ratio_cpu": round(other["cpu_ms_per_frame"] / mine["cpu_ms_per_frame"], 2),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


def run(args: argparse.Namespace) -> int:
    from convert.fetch import fetch_variant, model_json_path

    if args.frames < 1 or args.rounds < 1:
        raise UserError(f"--frames {args.frames} and --rounds {args.rounds} must be at least 1.")
    sizes = args.size or [(640, 480), (1280, 720)]
    if args.workers is None:
        args.workers = 1 if args.overlap else os.cpu_count() or 1
    if args.backend is None:
        from runtime.backends import default_cpu_backend

        args.backend = default_cpu_backend()
    python = tf_bodypix_python()
    fetch_variant(args.variant)  # the TF.js files both sides read (the ONNX is made from them)
    model_json = model_json_path(args.variant)
    results = [_compare_size(w, h, python, model_json, args) for w, h in sizes]
    report = {
        "variant": args.variant,
        "internal_resolution": "medium",
        "effect": f"blur {args.background_blur} px, edge {args.edge_blur} px",
        "backend": args.backend,
        "threads": args.threads,
        "overlap": args.overlap,
        "workers": args.workers,
        "cpu_count": os.cpu_count(),
        "results": results,
    }
    if args.json:
        print(json.dumps(report))
        return 0
    print(
        f"{args.variant}, medium, background blur (bodypix: blur {args.background_blur} px, "
        f"edge {args.edge_blur} px; tf-bodypix: --background-blur {args.background_blur} "
        f"--mask-blur {args.edge_blur}), bodypix on {args.backend}, {os.cpu_count()} CPUs"
        f"{', bodypix overlapped' if args.overlap else ''}"
        f"{f', bodypix {args.workers} frames at once' if args.workers > 1 else ''}"
    )
    print(
        f"  {'size':<10} {'bodypix fps':>11} {'tf-bodypix fps':>14} {'ratio':>6}   "
        f"{'CPU ms/frame':>12} {'tf-bodypix':>10} {'load':>5}"
    )
    for r in results:
        a, b = r["bodypix"], r["tf_bodypix"]
        print(
            f"  {r['size']:<10} {a['fps']:>11.1f} {b['fps']:>14.1f} {r['ratio_fps']:>5.2f}x   "
            f"{a['cpu_ms_per_frame']:>12.2f} {b['cpu_ms_per_frame']:>10.2f} "
            f"{r['load_average_1m']:>5.2f}"
        )
    return 0
