"""Pictures of a demo episode: annotated frames, the GIF and the contact sheet (numpy + Pillow).

No ROS here: :mod:`robot_r1_ros.ros.demo` (the demo) and ``robot-r1 eval --closed-loop-gif``
(the closed-loop evaluation) record frames and predictions and call these.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from robot_r1_ros.core.geometry import project_points

OK_COLOUR = (40, 200, 60)        # executed keypoint
BAD_COLOUR = (230, 40, 40)       # rejected / failed keypoint
TCP_COLOUR = (40, 120, 255)      # current TCP
TEXT_BAND_PX = 46


@dataclass
class CameraGeometry:
    """Intrinsics and pose of the camera that took the frames (None: no projection)."""

    K: np.ndarray | None = None
    T_base_cam: np.ndarray | None = None

    def project(self, xyz_base_m: Sequence[float]) -> tuple[float, float] | None:
        """Pixel (u, v) of a base-frame point, or None (unknown camera, behind, not finite)."""
        if self.K is None or self.T_base_cam is None:
            return None
        xyz = np.asarray(xyz_base_m, float)
        if xyz.shape != (3,) or not np.all(np.isfinite(xyz)):
            return None
        uv, depth = project_points(xyz, self.K, self.T_base_cam)
        if not depth[0] > 0 or not np.all(np.isfinite(uv[0])):
            return None
        return float(uv[0, 0]), float(uv[0, 1])


@dataclass
class Overlay:
    """What to draw on one frame.

    Attributes:
        lines: Caption lines (drawn in a band under the image).
        keypoint_xyz: Predicted keypoint (base frame), or None.
        keypoint_ok: Green (executed) or red (rejected / failed) marker.
        tcp_xyz: Current TCP (base frame), or None.
    """

    lines: list[str] = field(default_factory=list)
    keypoint_xyz: Sequence[float] | None = None
    keypoint_ok: bool = True
    tcp_xyz: Sequence[float] | None = None


def _font(size: int):
    from PIL import ImageFont
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: fixed-size bitmap font
        return ImageFont.load_default()


def annotate(rgb: np.ndarray, overlay: Overlay, camera: CameraGeometry, scale: int = 2
             ) -> np.ndarray:
    """The frame scaled by ``scale`` with markers and a caption band below it.

    Args:
        rgb: (H, W, 3) uint8 frame.
        overlay: Markers and caption.
        camera: Projection of base-frame points into ``rgb`` (before scaling).
        scale: Integer upscaling factor (captions stay readable on 224 px frames).

    Returns:
        (H * scale + TEXT_BAND_PX, W * scale, 3) uint8.
    """
    from PIL import Image, ImageDraw

    h, w = rgb.shape[:2]
    img = Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8)).resize(
        (w * scale, h * scale), Image.NEAREST)
    canvas = Image.new('RGB', (w * scale, h * scale + TEXT_BAND_PX), (20, 20, 24))
    canvas.paste(img, (0, 0))
    draw = ImageDraw.Draw(canvas)
    if overlay.tcp_xyz is not None:
        uv = camera.project(overlay.tcp_xyz)
        if uv is not None:
            u, v = uv[0] * scale, uv[1] * scale
            draw.ellipse([u - 4, v - 4, u + 4, v + 4], outline=TCP_COLOUR, width=2)
    if overlay.keypoint_xyz is not None:
        uv = camera.project(overlay.keypoint_xyz)
        if uv is not None:
            u, v = uv[0] * scale, uv[1] * scale
            colour = OK_COLOUR if overlay.keypoint_ok else BAD_COLOUR
            draw.line([u - 9, v, u + 9, v], fill=colour, width=3)
            draw.line([u, v - 9, u, v + 9], fill=colour, width=3)
            draw.ellipse([u - 12, v - 12, u + 12, v + 12], outline=colour, width=2)
    font = _font(12)
    for i, line in enumerate(overlay.lines[:3]):
        draw.text((6, h * scale + 3 + 14 * i), line, fill=(235, 235, 235), font=font)
    return np.asarray(canvas)


def _check_images(images: Sequence[np.ndarray], what: str) -> None:
    """Raise ValueError unless ``images`` is non-empty and all of one size."""
    if not images:
        raise ValueError(f'{what}: at least one image is needed')
    if len({im.shape for im in images}) != 1:
        raise ValueError(f'all {what} must have the same size')


def write_gif(frames: Sequence[np.ndarray], path: str | Path, fps: float = 5.0) -> Path:
    """Animated GIF of equally sized RGB frames (loops forever).

    Raises:
        ValueError: no frames, or frames of different sizes.
    """
    from PIL import Image

    _check_images(frames, 'GIF frames')
    images = [Image.fromarray(f).convert('P', palette=Image.ADAPTIVE, colors=256)
              for f in frames]
    path = Path(path)
    images[0].save(path, save_all=True, append_images=images[1:], loop=0,
                   duration=int(round(1000.0 / fps)), optimize=False)
    return path


def contact_sheet(tiles: Sequence[np.ndarray], path: str | Path, columns: int = 4,
                  title: str = '') -> Path:
    """A grid PNG of equally sized tiles, with an optional title line.

    Raises:
        ValueError: no tiles, or tiles of different sizes.
    """
    from PIL import Image, ImageDraw

    _check_images(tiles, 'contact sheet tiles')
    th, tw = tiles[0].shape[:2]
    cols = max(1, min(columns, len(tiles)))
    rows = (len(tiles) + cols - 1) // cols
    pad, head = 6, (24 if title else 0)
    sheet = Image.new('RGB', (cols * (tw + pad) + pad, rows * (th + pad) + pad + head),
                      (255, 255, 255))
    if title:
        ImageDraw.Draw(sheet).text((pad, 5), title, fill=(0, 0, 0), font=_font(14))
    for i, tile in enumerate(tiles):
        r, c = divmod(i, cols)
        sheet.paste(Image.fromarray(tile), (pad + c * (tw + pad), head + pad + r * (th + pad)))
    path = Path(path)
    sheet.save(path)
    return path
