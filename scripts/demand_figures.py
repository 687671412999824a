"""Figures for on-demand operation (issue 17): CPU share active vs idle, and wake-up time.

Runs `python -m runtime run --source demo:// ...` as the service would, with a plain file
standing in for the v4l2loopback node as the simulated reader: opening it is what a meeting
app opening the virtual camera looks like to the pipeline (inotify). For each camera mode
(keep, close): the process CPU time (user + system, /proc/PID/stat) over a window while a
reader holds the device, then over a window while idle; then wakes (open the stand-in) timed
from the open to the pipeline's "first processed frame" log line.

    python scripts/demand_figures.py --width 1280 --height 720 --window 15 --wakes 3

Figures depend on the machine and on what else runs on it: say so with them.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TICKS = os.sysconf("SC_CLK_TCK")


class Child:
    def __init__(self, args: list[str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "runtime", "run", "--stats-interval", "0", *args],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[tuple[float, str]] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append((time.monotonic(), line.rstrip()))

    def wait_for(self, pattern: str, start: int, timeout: float) -> tuple[int, float, str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for index in range(start, len(self.lines)):
                at, line = self.lines[index]
                if re.search(pattern, line):
                    return index, at, line
            if self.proc.poll() is not None:
                break
            time.sleep(0.005)
        tail = "\n".join(line for _, line in self.lines[-30:])
        raise SystemExit(f"no log line matching {pattern!r} in {timeout} s:\n{tail}")

    def cpu_s(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime

    def cpu_share(self, window: float) -> float:
        """Percent of one core over `window` seconds."""
        cpu, wall = self.cpu_s(), time.monotonic()
        time.sleep(window)
        return 100.0 * (self.cpu_s() - cpu) / (time.monotonic() - wall)

    def stop(self) -> str:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        time.sleep(0.2)
        return "\n".join(line for _, line in self.lines)


def measure(mode: str, args: argparse.Namespace, folder: Path) -> dict[str, object]:
    standin = folder / f"video-{mode}"
    standin.write_bytes(b"")
    reader = os.open(standin, os.O_RDONLY)  # a meeting app has the camera open from the start
    child = Child(
        [
            "--source",
            "demo://",
            "--width",
            str(args.width),
            "--height",
            str(args.height),
            "--fps",
            str(args.fps),
            "--backend",
            "onnxruntime",
            "--output",
            f"v4l2loopback://{standin}",
            "--idle-after",
            str(args.idle_after),
            "--idle-camera",
            mode,
            "--report",
        ]
    )
    try:
        child.wait_for(r"segmentation backend ready", 0, 300)
        time.sleep(args.warmup)
        active = child.cpu_share(args.window)
        os.close(reader)
        index, _, _ = child.wait_for(r"idle: nobody watched", 0, args.idle_after + 30)
        time.sleep(1.0)
        idle = child.cpu_share(args.window)
        wakes_outside, wakes_logged = [], []
        for _ in range(args.wakes):
            opened = time.monotonic()
            reader = os.open(standin, os.O_RDONLY)
            index, at, line = child.wait_for(r"active: first processed frame", index + 1, 60)
            wakes_outside.append((at - opened) * 1000.0)
            logged = re.search(r"frame (\d+) ms after", line)
            if logged:
                wakes_logged.append(float(logged.group(1)))
            time.sleep(1.0)
            os.close(reader)
            index, _, _ = child.wait_for(r"idle: nobody watched", index + 1, args.idle_after + 30)
            time.sleep(1.0)
    finally:
        log = child.stop()
    report: dict[str, object] = {}
    start = log.find("\n{")
    if start >= 0:
        report = json.loads(log[start:].rsplit("}", 1)[0] + "}")
    return {
        "camera": mode,
        "cpu_active_pct_of_one_core": round(active, 1),
        "cpu_idle_pct_of_one_core": round(idle, 1),
        "wake_ms_open_to_log_line": [round(ms) for ms in wakes_outside],
        "wake_ms_median": round(statistics.median(wakes_outside)),
        "wake_ms_pipeline": wakes_logged,
        "latency_ms": report.get("latency_ms"),
        "idle_seconds_total": report.get("idle_seconds_total"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--window", type=float, default=15.0, help="CPU window, seconds")
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--idle-after", type=float, default=2.0)
    parser.add_argument("--wakes", type=int, default=3)
    parser.add_argument("--modes", default="keep,close")
    args = parser.parse_args()
    results = {
        "machine": f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at the start",
        "frames": f"{args.width}x{args.height} @ {args.fps:g} fps, demo source, CPU path",
        "runs": [],
    }
    with tempfile.TemporaryDirectory() as folder:
        for mode in args.modes.split(","):
            results["runs"].append(measure(mode, args, Path(folder)))  # type: ignore[attr-defined]
    results["load_average_at_the_end"] = round(os.getloadavg()[0], 2)
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
