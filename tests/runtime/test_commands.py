"""`bodypix segment`, `render` and `bench` end to end, and their one-sentence errors."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from core.errors import UserError
from runtime.cli import main
from runtime.demo import DemoClip


def _read(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert image is not None, path
    return np.asarray(image)


@pytest.fixture()
def photo(tmp_path: Path, astronaut: np.ndarray) -> Path:
    path = tmp_path / "astronaut.png"
    cv2.imwrite(str(path), cv2.cvtColor(astronaut, cv2.COLOR_RGB2BGR))
    return path


@pytest.mark.slow
def test_segment_writes_a_mask_and_part_ids(models_dir: Path, photo: Path, tmp_path: Path):
    assert main(["segment", str(photo), "-o", str(tmp_path / "m.png")]) == 0
    mask = _read(tmp_path / "m.png")
    assert mask.shape == (512, 512) and set(np.unique(mask)) == {0, 255}
    assert main(["segment", str(photo), "-o", str(tmp_path / "p.png"), "--parts"]) == 0
    parts = _read(tmp_path / "p.png")
    assert np.array_equal(parts > 0, mask > 0) and parts.max() <= 24


@pytest.mark.slow
def test_segment_accepts_gray_and_16_bit(models_dir: Path, astronaut, tmp_path: Path) -> None:
    gray16 = cv2.cvtColor(astronaut, cv2.COLOR_RGB2GRAY).astype(np.uint16) * 257
    cv2.imwrite(str(tmp_path / "g.png"), gray16)
    assert main(["segment", str(tmp_path / "g.png"), "-o", str(tmp_path / "m.png")]) == 0


@pytest.mark.slow
def test_render_image_and_video(models_dir: Path, photo: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.jpg"
    assert main(["render", str(photo), "-o", str(out), "--effect", "blur", "--flip"]) == 0
    assert _read(out).shape == (512, 512, 3)

    clip, video = DemoClip(192, 144), tmp_path / "in.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter.fourcc(*"MJPG"), 12, (192, 144))
    for i in range(6):
        writer.write(clip.frame(i * 10))
    writer.release()
    result = tmp_path / "out.mp4"
    args = [
        "render",
        str(video),
        "-o",
        str(result),
        "--effect",
        "replace",
        "--background",
        str(photo),
    ]
    assert main(args) == 0
    capture = cv2.VideoCapture(str(result))
    assert capture.get(cv2.CAP_PROP_FPS) == pytest.approx(12, abs=0.01)
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 6
    ok, frame = capture.read()
    assert ok and frame.shape == (144, 192, 3)
    capture.release()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["astronaut.png", "in.avi", "out.jpg", "out.mp4"]
    )


def _frames(path: Path) -> list[np.ndarray]:
    capture, frames = cv2.VideoCapture(str(path)), []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    return frames


@pytest.mark.slow
def test_render_workers_write_the_frames_of_one_at_a_time(models_dir: Path, tmp_path: Path) -> None:
    """A video file is rendered several frames at once by default (runtime/parallel.py), with
    its default smoothing and feathering: the very frames of `--workers 1`, in order."""
    clip, video = DemoClip(160, 120), tmp_path / "in.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter.fourcc(*"MJPG"), 15, (160, 120))
    for i in range(8):
        writer.write(clip.frame(i * 6))
    writer.release()
    outputs = {}
    for workers in ("1", "0", "3"):  # MJPG: each frame encoded alone, the same bytes
        out = tmp_path / f"out-{workers}.avi"
        assert (
            main(["render", str(video), "-o", str(out), "--effect", "blur", "--workers", workers])
            == 0
        )
        outputs[workers] = _frames(out)
    assert len(outputs["1"]) == 8
    for workers in ("0", "3"):
        assert len(outputs[workers]) == 8
        assert all(
            np.array_equal(a, b) for a, b in zip(outputs[workers], outputs["1"], strict=True)
        )


@pytest.mark.slow
def test_bench_prints_stages_and_fps(models_dir: Path, capsys) -> None:
    assert main(["bench", "--size", "320x240", "--frames", "3", "--warmup", "1", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report["ms_mean"]) == {"preprocess", "inference", "mask", "composite"}
    assert report["fps"] > 0 and report["model_input"] == "161x113"


@pytest.mark.slow
@pytest.mark.parametrize(("overlap", "workers"), [(False, 1), (True, 1), (False, 3)])
def test_bench_runs_every_stage_of_every_frame(
    models_dir: Path, overlap: bool, workers: int
) -> None:
    from runtime.commands.bench import FrameRunner
    from runtime.demo import DemoClip
    from runtime.settings import Settings

    frames = [DemoClip(160, 120).frame(i * 9) for i in range(4)]
    threads = cv2.getNumThreads()
    runner = FrameRunner(
        Settings(effect="blur", backend="onnxruntime"), overlap=overlap, workers=workers
    )
    try:
        timings = runner.run(frames, 7)
    finally:
        runner.close()
    assert len(timings) == 7
    assert all(set(t) == {"preprocess", "inference", "mask", "composite"} for t in timings)
    assert cv2.getNumThreads() == threads  # OpenCV's own threads are given back


def test_bench_refuses_two_shapes_at_once(models_dir: Path) -> None:
    from runtime.commands.bench import FrameRunner
    from runtime.settings import Settings

    with pytest.raises(UserError, match="give one"):
        FrameRunner(Settings(), overlap=True, workers=2)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["segment", "{tmp}/missing.png", "-o", "{tmp}/m.png"], "does not exist"),
        (["segment", "{tmp}/text.png", "-o", "{tmp}/m.png"], "cannot be decoded"),
        (["render", "{tmp}/text.png", "-o", "{tmp}/o.png", "--effect", "replace"], "--background"),
        (["segment", "{tmp}/text.png", "-o", "{tmp}/m.png", "--variant", "mobilenet-x"], "Unknown"),
        (["segment", "{tmp}/text.png", "-o", "{tmp}/m.png", "--threshold", "3"], "threshold"),
    ],
)
def test_bad_input_is_one_sentence_and_non_zero(tmp_path: Path, capsys, args, message) -> None:
    (tmp_path / "text.png").write_text("hello")
    code = main([a.format(tmp=tmp_path) for a in args])
    err = capsys.readouterr().err
    assert code != 0 and message in err and "Traceback" not in err
    assert err.count("\n") == 1


def test_unknown_option_exits_non_zero(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["render", "x.png", "-o", "y.png", "--effect", "blur", "--sparkle", "3"])
    assert exc.value.code == 2 and "--sparkle" in capsys.readouterr().err


@pytest.mark.slow
def test_missing_model_names_the_convert_command(tmp_path: Path, photo: Path, monkeypatch, capsys):
    monkeypatch.setenv("BODYPIX_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("BODYPIX_MODEL_MIRROR", str(tmp_path / "no-mirror"))
    code = main(["segment", str(photo), "-o", str(tmp_path / "m.png")])
    err = capsys.readouterr().err
    assert code != 0 and "python -m convert export-onnx" in err and "Traceback" not in err
    assert not (tmp_path / "m.png").exists()
