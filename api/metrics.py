"""Prometheus metrics: the pipeline's figures read at scrape time, plus panel counters."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from runtime.pipeline import PipelineStatus


class _PipelineCollector(Collector):
    def __init__(self, status: Callable[[], PipelineStatus | None]) -> None:
        self._status = status

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        status = self._status()
        if status is None:
            return
        fps = GaugeMetricFamily("bodypix_fps", "Frames per second (2 s window).", labels=["stream"])
        fps.add_metric(["in"], status.fps_in)
        fps.add_metric(["out"], status.fps_out)
        fps.add_metric(["inference"], status.fps_inference)
        yield fps
        latency = GaugeMetricFamily(
            "bodypix_stage_latency_ms",
            "Mean per-stage latency over the last frames.",
            labels=["stage"],
        )
        for stage, ms in sorted(status.latency_ms.items()):
            latency.add_metric([stage], ms)
        yield latency
        stages = GaugeMetricFamily(
            "bodypix_processor_stage_ms",
            "The processor's mean milliseconds per stage (CPU path) or kernel (CUDA path).",
            labels=["frame_path", "stage"],
        )
        for stage, ms in sorted(status.stage_ms.items()):
            stages.add_metric([status.frame_path or "", stage], ms)
        yield stages
        frames = CounterMetricFamily(
            "bodypix_frames", "Frames by what happened to them.", labels=["kind"]
        )
        frames.add_metric(["in"], status.frames_in)
        frames.add_metric(["out"], status.frames_out)
        frames.add_metric(["segmented"], status.frames_segmented)
        frames.add_metric(["dropped"], status.dropped_frames)
        frames.add_metric(["mask_reused"], status.masks_reused)
        yield frames
        yield GaugeMetricFamily(
            "bodypix_camera_up",
            "1 while the camera delivers frames.",
            value=float(status.camera_state == "running"),
        )
        yield GaugeMetricFamily(
            "bodypix_segmentation_ready",
            "1 while a segmentation backend is loaded.",
            value=float(status.processor_state == "ready"),
        )
        if status.glass_to_glass_ms is not None:
            yield GaugeMetricFamily(
                "bodypix_glass_to_glass_ms",
                "Estimated camera-to-output latency.",
                value=status.glass_to_glass_ms,
            )
        yield GaugeMetricFamily("bodypix_uptime_seconds", "Pipeline uptime.", value=status.uptime_s)
        # On demand (issue 17): whether it idles, for how long in all, and who watches.
        demand = GaugeMetricFamily(
            "bodypix_demand_state", "1 for the current on-demand state.", labels=["state"]
        )
        for state in ("active", "idle", "waking"):
            demand.add_metric([state], float(status.demand_state == state))
        yield demand
        yield CounterMetricFamily(
            "bodypix_idle_seconds",
            "Time spent idle (nobody watching).",
            value=status.idle_seconds_total,
        )
        readers = GaugeMetricFamily("bodypix_readers", "Who watches the outputs.", labels=["kind"])
        for kind, count in sorted(status.readers_detail.items()):
            readers.add_metric([kind], count)
        yield readers


class PanelMetrics:
    """One registry per app (tests create several apps in one process)."""

    def __init__(self, status: Callable[[], PipelineStatus | None]) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(_PipelineCollector(status))
        self.login_failures = Counter(
            "bodypix_panel_login_failures", "Failed panel logins.", registry=self.registry
        )
        self.uploads = Counter(
            "bodypix_panel_uploads",
            "Background uploads by result.",
            ["result"],
            registry=self.registry,
        )
