"""How long the output thread's MjpegOutput.write() blocks while previews are open.

A writer at --fps hands 720p frames (the demo clip) to the preview buffer, as the output
thread does, while --viewers threads read it like open panel previews (each new frame is
encoded once, on the first read). Prints write() percentiles and how many writes took longer
than --blocked-ms. A benchmark, not a test: figures depend on the machine and its load.

    python scripts/bench_mjpeg_write.py --fps 60 --seconds 6 --viewers 2
"""

from __future__ import annotations

import argparse
import json
import threading
import time

import numpy as np

from runtime.demo import DemoClip
from runtime.outputs import MjpegOutput


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fps", type=float, default=60.0)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--viewers", type=int, default=2)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("--blocked-ms", type=float, default=1.0)
    parser.add_argument(
        "--noise", type=float, default=6.0, help="sensor-like noise sigma (0: the clean clip)"
    )
    args = parser.parse_args()

    clip = DemoClip(args.width, args.height)
    rng = np.random.default_rng(0)
    # A camera's noise makes JPEG encoding several times slower than the clean demo clip.
    frames = [
        np.clip(clip.frame(i) + rng.normal(0, args.noise, clip.frame(i).shape), 0, 255).astype(
            np.uint8
        )
        for i in range(30)
    ]
    out = MjpegOutput()
    stop = threading.Event()
    received = [0] * args.viewers

    def viewer(index: int) -> None:
        seq = 0
        while not stop.is_set():
            item = out.wait_next(seq, 0.5)
            if item is not None:
                seq = item[0]
                received[index] += 1

    readers = [threading.Thread(target=viewer, args=(i,)) for i in range(args.viewers)]
    for reader in readers:
        reader.start()
    interval = 1.0 / args.fps
    durations = []
    next_at = time.perf_counter()
    end = next_at + args.seconds
    index = 0
    while next_at < end:
        started = time.perf_counter()
        out.write(frames[index % len(frames)])
        durations.append((time.perf_counter() - started) * 1000)
        index += 1
        next_at += interval
        time.sleep(max(0.0, next_at - time.perf_counter()))
    stop.set()
    for reader in readers:
        reader.join()
    ms = np.array(durations)
    print(
        json.dumps(
            {
                "fps": args.fps,
                "size": f"{args.width}x{args.height}",
                "viewers": args.viewers,
                "noise": args.noise,
                "writes": len(ms),
                "write_ms_p50": round(float(np.percentile(ms, 50)), 3),
                "write_ms_p99": round(float(np.percentile(ms, 99)), 3),
                "write_ms_max": round(float(ms.max()), 3),
                f"writes_over_{args.blocked_ms:g}ms": int((ms > args.blocked_ms).sum()),
                "encodes": out.encodes,
                "frames_seen_per_viewer": received,
            }
        )
    )


if __name__ == "__main__":
    main()
