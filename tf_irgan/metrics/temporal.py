"""Temporal stability of a fused stream: does it flicker more than its inputs?

A fusion that sets its levels per frame (an intensity range chosen per frame, a model that
reacts to a small change of one input) makes still parts of the scene pulse from frame to
frame. Measured where the scene is still: pixels whose two inputs both change by less than
STILL between consecutive frames (moving objects and camera motion change every output, and
say nothing about flicker). There, the mean absolute frame-to-frame change of the fused frame
against that of each input: a fusion that adds no flicker stays within the inputs'.
"""

from __future__ import annotations

import cv2
import numpy as np

STILL = 4 / 255   # an input pixel changing less than this between frames is still (sensor noise)


class Flicker:
    """Accumulates frame-to-frame changes over still pixels, one frame triple at a time (gray or
    color arrays in [0, 1], the IR on the fused frame's size)."""

    def __init__(self):
        self.previous = None
        self.sums = {"fused": 0.0, "visible": 0.0, "ir": 0.0}
        self.pixels = 0

    def add(self, vis: np.ndarray, ir: np.ndarray, fused: np.ndarray) -> None:
        current = tuple(_gray(a) for a in (vis, ir, fused))
        if self.previous is not None and self.previous[0].shape == current[0].shape:
            # OpenCV's per-pixel ops and masked sums: no boolean-indexed copies (this runs for
            # every frame of a video, beside the model).
            changes = [cv2.absdiff(now, before) for now, before in zip(current, self.previous)]
            still = ((changes[0] < STILL) & (changes[1] < STILL)).astype(np.uint8)
            count = cv2.countNonZero(still)
            if count:
                for key, change in zip(("visible", "ir", "fused"), changes):
                    self.sums[key] += float(cv2.sumElems(cv2.multiply(change, still, dtype=cv2.CV_32F))[0])
                self.pixels += count
        self.previous = current

    def means(self) -> dict:
        """{"fused", "visible", "ir"}: mean change per still pixel and frame, in [0, 1] units
        (NaN before two frames with a still pixel)."""
        return {key: (total / self.pixels if self.pixels else float("nan"))
                for key, total in self.sums.items()}


def _gray(image: np.ndarray) -> np.ndarray:
    """The channel mean (what the still test and the change compare), float32."""
    image = np.ascontiguousarray(image, dtype=np.float32)
    return cv2.transform(image, np.full((1, 3), 1 / 3, np.float32)) if image.ndim == 3 else image


def stream_change(vis_video, ir_video, fused_video) -> tuple[int, dict]:
    """(frames, `Flicker.means()`) of a fused video against its two input videos, read in step
    (to the shortest; the IR and a fused video of another size resized to the visible frame)."""
    import cv2

    from tf_irgan.errors import UserError

    captures = []
    for path in (vis_video, ir_video, fused_video):
        capture = cv2.VideoCapture(str(path))
        if not capture.isOpened() or not int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0):
            for opened in captures:
                opened.release()
            raise UserError(f"{path}: cannot be read as a video with frames; check the path")
        captures.append(capture)
    flicker, frames = Flicker(), 0
    try:
        while True:
            grabbed = [capture.read() for capture in captures]
            if not all(ok for ok, _ in grabbed):
                break
            vis, ir, fused = (frame.astype(np.float32) / 255.0 for _, frame in grabbed)
            size = vis.shape[1::-1]
            ir, fused = (cv2.resize(a, size, interpolation=cv2.INTER_AREA) if a.shape[:2] != vis.shape[:2]
                         else a for a in (ir, fused))
            flicker.add(vis, ir, fused)
            frames += 1
    finally:
        for capture in captures:
            capture.release()
    if frames < 2:
        raise UserError(f"{fused_video}: fewer than two frames read in step with the inputs; "
                        "give the videos the fused one was made from")
    return frames, flicker.means()
