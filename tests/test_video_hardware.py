"""The video hardware of the recorded machine (diagnose run's environment.json video_hardware),
and the advice that needs it: encoding or decoding video in hardware is not offered on a machine
with no device a hardware codec could use (a VM or a cloud instance without a GPU)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import lab_copy_with_environment

from diagnose.capture.video_devices import DEV, V4L2, video_hardware
from diagnose.pipeline import analyze


def test_this_machines_video_hardware_is_what_dev_and_sys_show() -> None:
    found = video_hardware()
    render = sorted(p.name for p in (DEV / "dri").glob("renderD*")) if (DEV / "dri").is_dir() else []
    assert found["render_nodes"] == render
    assert len(found["v4l2"]) == (len(list(V4L2.glob("video*"))) if V4L2.is_dir() else 0)
    assert found["any"] == (1 if render or found["nvidia"] or found["v4l2"] else 0)


def test_render_nodes_nvidia_and_v4l2_devices_each_count(tmp_path: Path) -> None:
    dev, sys_v4l2 = tmp_path / "dev", tmp_path / "v4l2"
    dev.mkdir()
    assert video_hardware(dev, sys_v4l2) == {"render_nodes": [], "nvidia": [], "v4l2": [], "any": 0}
    (dev / "nvidiactl").touch()  # the control device alone is no GPU
    assert video_hardware(dev, sys_v4l2)["any"] == 0
    (dev / "nvidia0").touch()
    assert video_hardware(dev, sys_v4l2)["nvidia"] == ["nvidia0"]
    (dev / "nvidia0").unlink()
    (dev / "dri").mkdir()
    (dev / "dri" / "card0").touch()
    (dev / "dri" / "renderD128").touch()
    assert video_hardware(dev, sys_v4l2)["render_nodes"] == ["renderD128"]
    (dev / "dri" / "renderD128").unlink()
    (sys_v4l2 / "video11").mkdir(parents=True)
    (sys_v4l2 / "video11" / "name").write_text("bcm2835-codec-encode\n")
    assert video_hardware(dev, sys_v4l2) == {"render_nodes": [], "nvidia": [], "v4l2": ["bcm2835-codec-encode"], "any": 1}


def _codec_advice(tmp_path: Path, hardware: dict | None) -> dict:
    folder = lab_copy_with_environment(tmp_path, "gst-webrtcbin-publisher", {"video_hardware": hardware})
    f = next(f for f in analyze(str(folder)).findings if f.id == "codec-hot")
    return {"offered": {r["id"] for r in f.recommendations}, "withheld": {w["id"]: w for w in f.withheld}}


def test_no_hardware_encoding_advice_on_a_machine_without_video_hardware(tmp_path: Path) -> None:
    """The GStreamer publisher's VP8 encoding (72% of its samples): on a machine with no render
    node, NVIDIA or V4L2 device the first step is not "encode video in hardware"."""
    advice = _codec_advice(tmp_path, {"render_nodes": [], "nvidia": [], "v4l2": [], "any": 0})
    assert "webrtc.hardware-encoder" not in advice["offered"] and "webrtc.libvpx-cpu-used" in advice["offered"]
    why = advice["withheld"]["webrtc.hardware-encoder"]
    assert why["status"] == "not-applicable" and "no video hardware" in why["why"]


@pytest.mark.parametrize("hardware", [None, {"render_nodes": ["renderD128"], "nvidia": [], "v4l2": [], "any": 1}])
def test_hardware_encoding_is_advised_where_there_is_hardware_or_nobody_looked(tmp_path: Path,
                                                                               hardware: dict | None) -> None:
    assert "webrtc.hardware-encoder" in _codec_advice(tmp_path, hardware)["offered"]
