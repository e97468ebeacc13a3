"""The video hardware a machine offers to encoders and decoders: what "encode (or decode) video
in hardware" needs. Read by diagnose run on the recorded machine, for environment.json:

    {"render_nodes": ["renderD128"], "nvidia": ["nvidia0"], "v4l2": ["bcm2835-codec-encode"], "any": 1}

render_nodes are DRM render nodes (/dev/dri/renderD*: VA-API, Intel Quick Sync, AMD VCN, and
NVIDIA's VA-API driver), nvidia the NVIDIA device files NVENC/NVDEC open, v4l2 the names of
Video4Linux devices (memory-to-memory codecs on ARM boards; a webcam is listed too, so `any` errs
towards hardware being there). `any` is 0 only when none of them exists.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

DEV = Path("/dev")
V4L2 = Path("/sys/class/video4linux")


def _names(folder: Path, pattern: str) -> list[str]:
    try:
        return sorted(p.name for p in folder.glob(pattern))
    except OSError:
        return []


def video_hardware(dev: Path = DEV, v4l2: Path = V4L2) -> dict[str, Any]:
    render = _names(dev / "dri", "renderD*")
    nvidia = [n for n in _names(dev, "nvidia*") if n[len("nvidia"):].isdigit()]
    names = []
    for device in _names(v4l2, "video*"):
        try:
            names.append((v4l2 / device / "name").read_text().strip() or device)
        except OSError:
            names.append(device)
    return {"render_nodes": render, "nvidia": nvidia, "v4l2": names, "any": 1 if render or nvidia or names else 0}
