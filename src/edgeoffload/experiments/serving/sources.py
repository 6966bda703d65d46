"""Where frames come from: when each camera's frames arrive, and what they carry.

A serve scenario's ``streams`` (the scenario file's) give each camera's rate, arrival
process and active period. :func:`arrivals` turns them into one time-ordered sequence of
``(seconds, stream)``, repeating the streams' pattern every :func:`pattern_period` seconds
for as long as the service runs, and drawing Poisson gaps from one seeded generator: the
same seed gives the same arrivals, whatever the cluster does.

A pattern over time is written as several streams of one camera with different ``start``
and ``duration`` (a camera hot from 12 s to 30 s is a second stream of it active then).

What a frame carries: by default nothing but its size (the synthetic kernels make its
tensor); with :class:`Pictures`, the pixels of the next image of a folder or frame of a
video, which the frame's source task turns into the model's input tensor.
"""

from __future__ import annotations

import heapq
import math
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edgeoffload.errors import ModelError
from edgeoffload.simulation.streams import FrameStream

__all__ = ["IMAGE_SUFFIXES", "SIDE", "VIDEO_SUFFIXES", "Pictures", "arrivals", "pattern_period"]


def pattern_period(streams: Sequence[Any]) -> float:
    """Seconds after which the streams' pattern repeats: the end of the last stream."""
    if not streams:
        raise ModelError("a serve scenario needs streams", "streams")
    return max(float(s.start) + float(s.duration) for s in streams)


def arrivals(streams: Sequence[Any], seed: int = 0) -> Iterator[tuple[float, Any]]:
    """Every frame arrival of ``streams`` (scenario :class:`StreamSpec` objects), in time
    order, as ``(seconds, stream)``; the pattern repeats every :func:`pattern_period`
    seconds, without end."""
    period = pattern_period(streams)
    if not (math.isfinite(period) and period > 0):
        raise ModelError("the streams must last > 0 s", "streams")
    rng = np.random.default_rng(seed)
    cycle = 0
    while True:
        merged: list[tuple[float, int, Any]] = []
        for k, s in enumerate(streams):
            frames = FrameStream(
                s.camera,
                _EMPTY,
                s.rate,
                s.process,
                s.start,
                s.duration,
            )
            for t in frames.arrivals(rng).tolist():
                merged.append((cycle * period + t, k, s))
        heapq.heapify(merged)
        while merged:
            t, _, s = heapq.heappop(merged)
            yield t, s
        cycle += 1


def _empty_graph() -> Any:
    from edgeoffload.model import Task, TaskGraph

    return TaskGraph([Task("x", 0.0)], [])


_EMPTY = _empty_graph()


# --------------------------------------------------------------------------- pixels

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"})
"""Files of an image folder that are read (by suffix, any case); others are ignored."""

VIDEO_SUFFIXES = frozenset({".mp4", ".mkv", ".avi", ".mov", ".webm", ".m4v", ".mpg", ".mpeg"})
"""Files read as video (by suffix, any case)."""

SIDE = 224
"""Frames are resized to SIDE x SIDE RGB, the shipped models' input."""


class Pictures:
    """Each camera's frames from a folder of images or a video file, in order, from the
    start again at the end (every camera reads the same source, each at its own place).

    Images are decoded with imageio (Pillow), video with imageio's PyAV plugin, one frame
    at a time; every frame is resized to :data:`SIDE` x :data:`SIDE` RGB ``uint8``.

    Raises
    ------
    ModelError
        The path is missing, a folder without images, or a file that is neither an image
        folder nor a video (by suffix), or the video has no frame (named as ``frames``).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if self.path.is_dir():
            self.files = sorted(
                p for p in self.path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES
            )
            if not self.files:
                raise ModelError(
                    f"{self.path} holds no image ({', '.join(sorted(IMAGE_SUFFIXES))})", "frames"
                )
            self.kind = "images"
        elif self.path.is_file() and self.path.suffix.lower() in VIDEO_SUFFIXES:
            self.files = [self.path]
            self.kind = "video"
        elif not self.path.exists():
            raise ModelError(f"no such file or folder: {self.path}", "frames")
        else:
            raise ModelError(
                f"{self.path} is neither a folder of images nor a video "
                f"({', '.join(sorted(VIDEO_SUFFIXES))})",
                "frames",
            )
        self._place: dict[str, tuple[int, Iterator[Any] | None]] = {}
        self._lock = threading.Lock()
        first = self.next("_check")  # fail now, not at the first frame
        self._place.pop("_check", None)
        self.shape = first[0].shape

    def next(self, camera: str) -> tuple[np.ndarray, str]:
        """Camera ``camera``'s next frame and where it came from (``name`` or
        ``video#index``)."""
        with self._lock:
            index, frames = self._place.get(camera, (0, None))
            if self.kind == "images":
                file = self.files[index % len(self.files)]
                self._place[camera] = (index + 1, None)  # a broken one is skipped next time
                return _decode_image(file), file.name
            if frames is None:
                frames = _video_frames(self.path)
            try:
                image = next(frames)
            except StopIteration:
                if index == 0:
                    raise ModelError(f"{self.path} has no frame", "frames") from None
                frames, index = _video_frames(self.path), 0
                image = next(frames)
            self._place[camera] = (index + 1, frames)
            return _fit(image), f"{self.path.name}#{index}"


def _decode_image(file: Path) -> np.ndarray:
    import imageio.v3 as iio

    try:
        return _fit(iio.imread(file))
    except Exception as exc:  # a broken or unreadable image: the user's input
        raise ModelError(f"cannot read the image: {exc}", str(file)) from None


def _video_frames(path: Path) -> Iterator[np.ndarray]:
    import imageio.v3 as iio

    try:
        yield from iio.imiter(path, plugin="pyav")
    except Exception as exc:
        raise ModelError(f"cannot read the video: {exc}", str(path)) from None


def _fit(image: np.ndarray) -> np.ndarray:
    """``image`` as SIDE x SIDE RGB uint8 (grey and RGBA converted, any size resized)."""
    from PIL import Image

    array = np.asarray(image)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (2, 3, 4)):
        raise ModelError(f"not a picture: an array of shape {array.shape}", "frames")
    if array.dtype != np.uint8:  # 16-bit or float pictures: scaled to 0..255
        top = float(array.max()) or 1.0
        array = (array.astype(np.float64) * (255.0 / top)).astype(np.uint8)
    if array.ndim == 3 and array.shape[2] == 2:  # grey with alpha: the grey
        array = array[:, :, 0]
    picture = Image.fromarray(np.ascontiguousarray(array)).convert("RGB")
    return np.asarray(picture.resize((SIDE, SIDE)), dtype=np.uint8)
