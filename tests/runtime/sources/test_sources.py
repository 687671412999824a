"""Sources that run here (file, image, demo) and the errors of those that need hardware."""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from core.errors import UserError
from runtime.demo import DemoClip
from runtime.sources import SourceUnavailable, open_source
from runtime.sources.csi import csi_pipeline, opencv_has_gstreamer


def test_file_source_loops_at_its_rate(clip_path: Path) -> None:
    source = open_source(f"file://{clip_path}?fps=200", 640, 480, 30)
    info = source.open()
    assert (info.width, info.height, info.fps, info.kind) == (320, 240, 200.0, "file")
    started = time.monotonic()
    frames = [source.read() for _ in range(30)]  # 12-frame clip: loops twice
    elapsed = time.monotonic() - started
    source.close()
    assert all(f.shape == (240, 320, 3) and f.dtype == np.uint8 for f in frames)
    assert np.array_equal(frames[0], frames[12])  # looped back to the first frame
    assert elapsed >= 29 / 200 * 0.8  # paced, not as fast as decoding


def test_file_source_without_loop_ends(clip_path: Path) -> None:
    source = open_source(f"file://{clip_path}?loop=0&pace=0", 640, 480, 30)
    source.open()
    for _ in range(12):
        source.read()
    with pytest.raises(SourceUnavailable, match="ended"):
        source.read()
    source.close()


def test_missing_and_undecodable_files(tmp_path: Path) -> None:
    with pytest.raises(SourceUnavailable, match="does not exist; check the path"):
        open_source(f"file://{tmp_path}/none.mp4", 640, 480, 30).open()
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video" * 100)
    with pytest.raises(SourceUnavailable, match="cannot be decoded"):
        open_source(f"file://{junk}", 640, 480, 30).open()
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG garbage")
    with pytest.raises(SourceUnavailable, match="cannot be decoded"):
        open_source(f"image://{bad}", 640, 480, 30).open()


def test_image_source_covers_requested_size(photo_path: Path, tmp_path: Path) -> None:
    # A grayscale 16-bit file still gives 8-bit BGR frames of the requested size.
    gray16 = tmp_path / "gray16.png"
    gray = cv2.imread(str(photo_path), cv2.IMREAD_GRAYSCALE)
    assert gray is not None
    image = gray.astype(np.uint16) * 256
    cv2.imwrite(str(gray16), image)
    for path in (photo_path, gray16):
        source = open_source(f"image://{path}?pace=0", 640, 360, 30)
        info = source.open()
        frame = source.read()
        assert (info.width, info.height) == (640, 360)
        assert frame.shape == (360, 640, 3) and frame.dtype == np.uint8
        frame[:] = 0  # a consumer drawing on its frame does not change the next one
        assert source.read().any()
        source.close()


def test_demo_source() -> None:
    source = open_source("demo://?pace=0", 320, 240, 30)
    info = source.open()
    first, second = source.read(), source.read()
    source.close()
    assert info.kind == "demo" and first.shape == (240, 320, 3)
    assert not np.array_equal(first, second)  # it moves


def test_v4l2_missing_camera() -> None:
    with pytest.raises(SourceUnavailable, match=r"/dev/video93 does not exist; plug the camera in"):
        open_source("/dev/video93", 640, 480, 30).open()


def test_v4l2_bad_format_option() -> None:
    with pytest.raises(UserError, match="format=MJPG, format=YUYV"):
        open_source("v4l2:///dev/video0?format=H264", 640, 480, 30)


def test_csi_pipeline_and_missing_gstreamer() -> None:
    text = csi_pipeline(0, 1280, 720, 30)
    assert text.startswith("nvarguscamerasrc sensor-id=0 ! ")
    assert "width=1280,height=720,framerate=30/1" in text
    assert "appsink drop=true max-buffers=1" in text
    if opencv_has_gstreamer():
        pytest.skip("this OpenCV has GStreamer; the missing-GStreamer message cannot be seen")
    with pytest.raises(UserError, match="needs OpenCV built with GStreamer"):
        open_source("csi://0", 1280, 720, 30).open()


def test_rtsp_unreachable_is_reported_with_password_hidden() -> None:
    source = open_source("rtsp://admin:secret@127.0.0.1:9/stream", 640, 480, 30)
    with pytest.raises(SourceUnavailable) as info:
        source.open()
    assert "could not be opened" in str(info.value)
    assert "secret" not in str(info.value) and "admin:***@" in str(info.value)


class RtspRecorder:
    """A minimal RTSP server: answers OPTIONS and DESCRIBE (one H.264 track), records the
    Transport header of each SETUP and refuses it, so FFmpeg's open fails after asking."""

    SDP = (
        "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=test\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
        "m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=control:track1\r\n"
    )

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.transports: list[str] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(10)
                self._session(conn)

    def _session(self, conn: socket.socket) -> None:
        data = b""
        while True:
            try:
                chunk = conn.recv(4096)
            except OSError:
                return
            if not chunk:
                return
            data += chunk
            while b"\r\n\r\n" in data:
                head, _, data = data.partition(b"\r\n\r\n")
                lines = head.decode().split("\r\n")
                method = lines[0].split()[0]
                headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
                cseq = headers.get("CSeq", "0")
                if method == "DESCRIBE":
                    body = self.SDP.encode()
                    reply = (
                        f"RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\nContent-Type: application/sdp\r\n"
                        f"Content-Base: rtsp://127.0.0.1:{self.port}/cam/\r\n"
                        f"Content-Length: {len(body)}\r\n\r\n"
                    ).encode() + body
                elif method == "SETUP":
                    self.transports.append(headers.get("Transport", ""))
                    reply = f"RTSP/1.0 454 Session Not Found\r\nCSeq: {cseq}\r\n\r\n".encode()
                else:
                    reply = (
                        f"RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\nPublic: OPTIONS, DESCRIBE, SETUP, "
                        "PLAY, TEARDOWN\r\n\r\n"
                    ).encode()
                conn.sendall(reply)

    def close(self) -> None:
        self.sock.close()


def test_rtsp_transport_is_per_source_and_leaves_the_environment_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Issue 12 item 7: the first source's transport stuck for the whole process."""
    monkeypatch.delenv("OPENCV_FFMPEG_CAPTURE_OPTIONS", raising=False)
    server = RtspRecorder()
    try:
        for transport in ("udp", "tcp"):
            source = open_source(
                f"rtsp://127.0.0.1:{server.port}/cam?transport={transport}", 640, 480, 30
            )
            with pytest.raises(SourceUnavailable):
                source.open()
            source.close()
    finally:
        server.close()
    assert len(server.transports) >= 2, server.transports
    assert "RTP/AVP/TCP" not in server.transports[0]  # UDP asked for
    assert "RTP/AVP/TCP" in server.transports[-1]  # then TCP, for the second source
    assert "OPENCV_FFMPEG_CAPTURE_OPTIONS" not in os.environ


def test_rtsp_unknown_transport_is_one_sentence() -> None:
    with pytest.raises(UserError, match=r"transport 'quic'.*transport=tcp"):
        open_source("rtsp://127.0.0.1:9/cam?transport=quic", 640, 480, 30)


def test_skip_takes_a_frame_without_drawing_it() -> None:
    # What an idle pipeline does to keep a camera streaming (on demand, issue 17).
    source = open_source("demo://?pace=0", 64, 48, 30)
    source.open()
    first = source.read().copy()
    source.skip()
    third = source.read()
    source.close()
    clip = DemoClip(64, 48)
    assert np.array_equal(first, clip.frame(0)) and np.array_equal(third, clip.frame(2))
    with pytest.raises(SourceUnavailable):
        source.skip()  # closed
