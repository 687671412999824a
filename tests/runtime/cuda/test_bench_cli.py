"""`bodypix bench --backend cuda` is wired to runtime/cuda/bench.py."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from runtime.cli import main
from runtime.cuda.bench import main as bench_main


@pytest.mark.skipif(
    importlib.util.find_spec("pycuda") is not None, reason="pycuda is installed here"
)
def test_cuda_bench_without_pycuda_names_the_extra(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BODYPIX_CUDA_EXECUTOR", raising=False)
    assert main(["bench", "--backend", "cuda", "--frames", "1"]) == 2
    err = capsys.readouterr().err
    assert "pycuda" in err and "bodypix-appliance[gpu]" in err


def test_cuda_bench_and_gpu_check_summary_on_the_host_executor(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    models_dir: Path,
    tmp_path: Path,
) -> None:
    """The code path scripts/gpu-check.sh runs on a GPU: `bench --backend cuda --json`, then
    the summary of the reports and the pytest counts."""
    monkeypatch.setenv("BODYPIX_CUDA_EXECUTOR", "host")
    reports = []
    for effect in ("blur", "replace"):
        args = ["bench", "--backend", "cuda", "--effect", effect, "--size", "96x64"]
        assert main([*args, "--frames", "2", "--warmup", "1", "--json"]) == 0
        path = tmp_path / f"bench-{effect}.json"
        path.write_text(capsys.readouterr().out)
        reports.append(str(path))
    junit = tmp_path / "tests.xml"
    junit.write_text(
        '<?xml version="1.0"?><testsuites><testsuite name="pytest" tests="10" failures="1" '
        'errors="0" skipped="2"></testsuite></testsuites>'
    )
    assert bench_main(["summary", "--junit", str(junit), "--elapsed", "12", *reports]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["executor"] == "host"
    assert summary["tests"] == {"passed": 7, "failed": 1, "errors": 0, "skipped": 2}
    runs = summary["runs"]
    assert {(r["effect"], r["output"]) for r in runs} == {
        (e, f) for e in ("blur", "replace") for f in ("BGR", "YUYV")
    }
    blur = next(r for r in runs if r["effect"] == "blur")
    assert blur["size"] == "96x64"
    assert {"segment:preprocess", "composite:composite"} <= set(blur["kernel_ms_per_frame"])
    assert blur["mask_plus_composite_ms"] > 0 and blur["composite_share_of_copy"] > 0
    targets = summary["targets"]
    assert targets["mask_plus_composite_1080p_under_0_5_ms"] is False  # no 1080p run here
    assert targets["composite_share_of_copy_min"] > 0
    assert summary["elapsed_s"] == 12
