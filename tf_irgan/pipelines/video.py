"""Fusion of streams: two cameras' frames, as they come or from two video files.

A stream is one scene, so what a still pair decides for itself is decided once here:
- **Levels.** One mapping for every frame (a range chosen per frame would make the fused stream
  pulse): 8-bit frames map 0-255 to [0, 1]; 16-bit ones (raw thermal counts) take the mapping
  their first frame gets as a still image, or fixed bounds.
- **Registration** (`register=True`): estimated on the first frames that give a confident fit
  (`tf_irgan.registration.register`, the one registration of the package), reused for every
  frame, checked again every `recheck_every` frames and replaced when a new estimate is both
  confident and clearly elsewhere (the cameras were bumped); each change is noted with its
  frame number. Frames before the first confident fit are fused as they come, with a note, and
  a new attempt is made every RETRY_EVERY frames. Only the first frame waits for its estimate:
  later ones run in a thread beside the fusion and are used `check_lag` frames on.
- **The model** is loaded once (`FusionStream`): one call per frame pair, arrays in and out.
- **Still regions stay still**: where neither input changes between frames, the fused frame
  is averaged with the last one (`steady`), so the stream does not shimmer more than its inputs
  (`tf_irgan.metrics.temporal` measures it).

`fuse_videos` reads two video files in step (frames paired by index; different frame rates or
lengths are refused with the way to fix them), fuses them through a `FusionStream` while a
reader thread decodes ahead and a writer thread encodes behind, and writes the fused video under
a hidden partial name that takes the final one only when every frame is in (Ctrl-C or a kill
leaves nothing under the final name), with a CSV record per frame beside it.
"""

from __future__ import annotations

import contextlib
import math
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tf_irgan.errors import UserError
from tf_irgan.files import remove

VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov")
DEFAULT_FPS = 25.0           # frame folders carry no rate: the output video's and the CSV's
# The container is the output's suffix; the codec one that OpenCV's bundled FFmpeg writes:
# MPEG-4 Part 2 for mp4/mov, Motion JPEG for avi, lossless FFV1 for mkv.
CODECS = {".mp4": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".mkv": "FFV1"}
RECHECK_EVERY = 250          # frames between registration checks (10 s at 25 frames/s)
RETRY_EVERY = 25             # frames between attempts while no frame has registered yet
# Every estimate but the stream's first runs in a thread beside the fusion and is used this
# many frames after the frame it was made on, whether it took less or more (then the stream
# waits for it): an estimate costs ~0.2-0.4 s, ten frames at 30 frames/s, and a live stream
# must not stall on it, while the same input must give the same output on every run.
CHECK_LAG = 8
MOVED = 2.0                  # px: a new confident registration this far away replaces the old
RATE_TOLERANCE = 0.001       # relative difference of two frame rates taken as the same
QUEUE = 8                    # frames decoded ahead / waiting to be encoded
PAIRINGS = ("index", "time")  # how the frames of two streams are paired (`fuse_videos`)
# --pair-by time: a visible frame is fused only with an IR frame at most this many of the
# streams' typical frame intervals (the longer of the two medians) away from it; a shorter
# reach would drop frames at every rate jitter, a longer one would pair across a gap.
PAIR_REACH = 0.75
STEADY = 0.5                 # weight of a new frame where the scene is still (`FusionStream`)
CHANNEL_MEAN = np.full((1, 3), 1 / 3, np.float32)   # cv2.transform: (H, W, 3) -> their mean
# 8-bit levels: a color frame whose channels all lie this close is a gray camera's frame. Lossy
# codecs store gray video as YUV and give it back with channels 1-2 levels apart (Motion JPEG:
# 2), which would send a thermal stream down the color path, at the cost of a color IR. Once a
# stream's camera has sent a color frame, only equal channels make a gray one (a dim color
# scene near the tolerance must not flip between gray and color from frame to frame).
GRAY_LEVELS = 3
# A 16-bit frame whose 0.5th-99.5th percentile band spans under this share of its container is
# flat (a shutter's flat-field frame, a lens cap, a black start): `auto` does not take the
# stream's mapping from it.
FLAT_SHARE = 1 / 1024


def _is_gray(image: np.ndarray) -> bool:
    """Whether an (H, W, 3) frame's channels are equal: gray stored as color. A sample of its
    pixels first, so that a color frame (the visible stream's every frame) is told at once."""
    for part in (image[::16, ::16], image):
        if not (np.array_equal(part[..., 0], part[..., 1])
                and np.array_equal(part[..., 1], part[..., 2])):
            return False
    return True


def _gray_channel(frame: np.ndarray, levels: int) -> np.ndarray | None:
    """The middle channel of an 8-bit (H, W, 3) frame whose channels differ by at most
    `levels` everywhere (a gray frame, however it was coded), else None. A sample of its
    pixels first, so that a color frame is told at once."""
    import cv2

    def spread(image):
        first, middle, last = cv2.split(np.ascontiguousarray(image))
        return max(int(cv2.absdiff(first, middle).max()), int(cv2.absdiff(middle, last).max()),
                   int(cv2.absdiff(first, last).max())), middle
    if spread(frame[::16, ::16])[0] > levels:
        return None
    most, middle = spread(frame)
    return middle if most <= levels else None


def is_video(path) -> bool:
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


@dataclass
class StreamFrame:
    image: np.ndarray                  # the fused frame, float32 [0, 1], (H, W) or (H, W, 3) RGB
    index: int
    ir_on_frame: np.ndarray | None = None   # the IR as fused, on the visible frame (gray)
    notes: list = field(default_factory=list)   # what this frame changed (first time only)
    confidence: float | None = None    # of the registration used, when registering
    visible: np.ndarray | None = None       # the visible frame as fused (float [0, 1], RGB/gray)


@dataclass
class PendingFrame:
    """A frame pair fused by `FusionStream.start`, for `FusionStream.finish`."""
    fused: np.ndarray                  # the fused image, or its intensity when `colorize` is set
    colorize: Callable | None          # puts the visible color back (None: nothing to do)
    index: int
    visible: np.ndarray
    ir_on_frame: np.ndarray
    notes: list
    confidence: float | None


class FusionStream:
    """Fuse frame pairs as they come: `stream.fuse(vis, ir)` per pair, the model kept warm.

    Frames are numpy arrays: uint8 (as cameras and `cv2.VideoCapture` give them, BGR unless
    `rgb=True`) or float in [0, 1] RGB/gray. The IR may be smaller than the visible frame (the
    size ratio picks the preset, as for still pairs). Returns a `StreamFrame` whose image is
    RGB float [0, 1]; `notes` holds, with frame numbers, every setting the stream made once.

    `fuse` is `finish(start(vis, ir))`. The halves may run in two threads, each taking the
    frames in order (`tf-irgan fuse` on videos does): `start` fuses the intensities (the model),
    `finish` puts the color back and steadies the still regions, so the next frame's fusion
    runs beside this one's color."""

    def __init__(self, preset: str | None = None, method: str = "ddcgan", register: bool = False,
                 recheck_every: int = RECHECK_EVERY, gray: bool = False, rgb: bool = False,
                 precision: str = "auto", steady: bool = True, ranges: dict | None = None,
                 check_lag: int = CHECK_LAG):
        from tf_irgan.ranges import parse_range

        if recheck_every < 1:
            raise UserError(f"recheck_every {recheck_every}: give a number of frames, e.g. 250")
        if check_lag < 0:
            raise UserError(f"check_lag {check_lag}: give a number of frames, 0 or more")
        # One mapping of integer values for the whole stream: fixed raw bounds, the type's full
        # scale ("full"), or "auto": 8-bit frames by 255, 16-bit ones by the still-image rule
        # (`ranges.unit_bounds`) applied to the stream's first frame and kept; per-frame
        # percentiles would make the stream pulse.
        self.ranges, self.full = {}, set()
        for key, text in (ranges or {}).items():
            option = f"--{key}-range"
            value = parse_range(text, option)
            if value.mode == "percentile":
                raise UserError(f"{option} {text}: a stream takes one mapping for all its frames; "
                                "give fixed bounds LOW,HIGH (e.g. 7000,8600), auto or full")
            if value.mode == "fixed":
                self.ranges[key] = value
            elif value.mode == "full":
                self.full.add(key)
        self.preset, self.method, self.gray, self.rgb = preset, method, gray, rgb
        self.steady, self._previous = steady, None
        self.used: str | None = None
        self.register, self.recheck_every, self.precision = register, recheck_every, precision
        self.registration = None
        self.check_lag = check_lag
        self._check: _Estimate | None = None   # an estimate running beside the fusion
        self.index = 0
        self.notes: list[str] = []
        self._said: set = set()
        self._sliver_checked: set = set()
        self._auto: dict = {}            # "ir"/"vis": the mapping `auto` took for 16-bit frames
        self._color_seen: set = set()    # "ir"/"vis": streams that have sent a color frame

    def _note(self, text: str, frame: list) -> None:
        if text not in self._said:
            self._said.add(text)
            self.notes.append(f"frame {self.index}: {text}")
            frame.append(text)

    def frame_array(self, frame: np.ndarray, role: str) -> np.ndarray:
        """A frame as the pipelines take it: float32 [0, 1], RGB or gray."""
        frame = np.asarray(frame)
        key = "ir" if role == "IR" else "vis"
        if frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] in (3, 4):
            # Checked for gray while still 8-bit: a quarter of the bytes of the float frame.
            levels = 0 if key in self._color_seen else GRAY_LEVELS
            gray = _gray_channel(frame[..., :3], levels)
            if gray is None:
                self._color_seen.add(key)
            else:
                frame = gray
        fixed = self.ranges.get(key)
        if fixed is None and frame.dtype == np.uint16 and key not in self.full:
            fixed = self._auto.get(key) or self._first_mapping(frame, key, role)
        if fixed is None and frame.dtype == np.uint8 and frame.ndim == 3:
            return self._color_frame(frame)
        if fixed is not None and frame.dtype in (np.uint8, np.uint16):
            from tf_irgan.ranges import to_unit
            image = to_unit(frame, fixed, f"{role} frame {self.index}", role)
        elif frame.dtype == np.uint8:
            image = frame.astype(np.float32) / 255.0
        elif frame.dtype == np.uint16:
            image = frame.astype(np.float32) / 65535.0
            if key not in self._sliver_checked:
                self._sliver_checked.add(key)
                from tf_irgan.ranges import AUTO_PERCENTILES, NARROW, percentiles
                low, high = percentiles(frame, AUTO_PERCENTILES)
                if high - low < NARROW * 65535:
                    self.notes.append(
                        f"frame {self.index}: {role} frames with values {low:.0f}-{high:.0f} fill "
                        f"only {(high - low) / 65535:.1%} of 0-65535 under --{key}-range full, "
                        f"so they come out nearly flat; --{key}-range {low:.0f},{high:.0f} fixes "
                        f"a mapping for the stream, auto takes the first frame's")
        else:
            image = frame.astype(np.float32)
            if not np.isfinite(image).all() or image.min() < 0 or image.max() > 1:
                raise UserError(f"{role} frame {self.index}: float values must be finite and "
                                "in [0, 1]")
        if image.ndim == 3:
            if image.shape[2] == 4:
                image = image[..., :3]
            if image.shape[2] != 3:
                raise UserError(f"{role} frame {self.index}: {image.shape[2]} channels; give "
                                "gray or color frames")
            if frame.dtype in (np.uint8, np.uint16) and not self.rgb:
                image = image[..., ::-1]          # OpenCV's BGR
            if _is_gray(image):
                image = image[..., 0]             # gray stored as color (most thermal video)
        elif image.ndim != 2:
            raise UserError(f"{role} frame {self.index}: shape {image.shape}; give (H, W) or "
                            "(H, W, 3) frames")
        return np.ascontiguousarray(image)

    def _first_mapping(self, frame: np.ndarray, key: str, role: str):
        """`auto` for a 16-bit stream: the mapping the still-image rule gives its first frame
        with content (the container's scale, or the 0.5th-99.5th percentiles of a frame that
        fills a sliver of it, as raw thermal counts do), kept for every later frame and noted.
        A flat frame before it is mapped by its container, and the choice waits."""
        from tf_irgan.ranges import (AUTO, AUTO_PERCENTILES, ValueRange, container_of,
                                     percentiles, unit_bounds)

        values = frame[..., :3] if frame.ndim == 3 else frame   # not an alpha channel
        container = container_of(values)
        low, high = percentiles(values, AUTO_PERCENTILES)
        if high - low < FLAT_SHARE * container:
            if ("flat", key) not in self._said:
                self._said.add(("flat", key))
                self.notes.append(
                    f"frame {self.index}: a flat {role} frame (values {low:.0f}-{high:.0f}) is "
                    f"mapped by its {int(container).bit_length()}-bit scale, as are any until "
                    "the first with content, whose mapping the stream then keeps")
            return ValueRange("fixed", 0.0, container)
        low, high = unit_bounds(values, AUTO, f"{role} frame {self.index}", role)
        self._auto[key] = ValueRange("fixed", low, high)
        if (low, high) != (0.0, container):
            self.notes.append(
                f"frame {self.index}: {role} frames in a sliver of their "
                f"{int(container).bit_length()}-bit scale: mapped from {low:.0f}-{high:.0f} "
                f"(this frame's {AUTO_PERCENTILES[0]:g}th-{AUTO_PERCENTILES[1]:g}th percentiles) "
                f"for the whole stream, values beyond clipped; --{key}-range LOW,HIGH sets the "
                "bounds, full keeps the file's scale")
        elif container != 65535:
            self.notes.append(f"frame {self.index}: {role} frames hold "
                              f"{int(container).bit_length()}-bit values in a 16-bit file: "
                              f"scaled by {container:.0f} for the whole stream, larger values "
                              "later clipped")
        return self._auto[key]

    def _color_frame(self, frame: np.ndarray) -> np.ndarray:
        """An 8-bit color frame (not gray: `frame_array` checked), the common case, turned
        round (BGR) by OpenCV."""
        import cv2

        frame = frame[..., :3]
        if not self.rgb:
            frame = cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_BGR2RGB)
        return np.divide(frame, np.float32(255.0), dtype=np.float32)

    def fuse(self, vis: np.ndarray, ir: np.ndarray) -> StreamFrame:
        return self.finish(self.start(vis, ir))

    def start(self, vis: np.ndarray, ir: np.ndarray) -> PendingFrame:
        """The frame pair fused, its color not yet back (see the class)."""
        from tf_irgan.pipelines.fusion import fuse_images

        said: list = []
        vis_image, ir_image = self.frame_array(vis, "visible"), self.frame_array(ir, "IR")
        confidence = None
        if self.register:
            ir_image, confidence = self._registered(vis_image, ir_image, said)
        result = fuse_images(vis_image, ir_image, preset=self.preset, method=self.method,
                             gray=self.gray, precision=self.precision, video=True,
                             color_later=True)
        self.used = result.preset or result.method   # what fused the frames (the size ratio's)
        for note in result.notes:
            self._note(note, said)
        on_frame = ir_image if ir_image.ndim == 2 else ir_image.mean(axis=2)
        if on_frame.shape != result.image.shape[:2]:
            import cv2
            on_frame = cv2.resize(on_frame, result.image.shape[1::-1], interpolation=cv2.INTER_CUBIC)
        pending = PendingFrame(result.image, result.colorize, self.index, vis_image, on_frame,
                               said, confidence)
        self.index += 1
        return pending

    def finish(self, pending: PendingFrame) -> StreamFrame:
        """A started frame's color put back and its still regions steadied (frames in order)."""
        image = pending.fused if pending.colorize is None else pending.colorize(pending.fused)
        if self.steady:
            image = self._steadied(image, pending.visible, pending.ir_on_frame)
        return StreamFrame(image, pending.index, pending.ir_on_frame, pending.notes,
                           pending.confidence, pending.visible)

    def _steadied(self, fused, vis, ir_on_frame):
        """Where both inputs are still (each changed by less than sensor noise since the last
        frame), the fused frame is the mean of this frame's fusion and the last output: a fusion
        passes on the noise of both inputs and its choices flip with it, so a still wall would
        shimmer more than in either camera. Anything that moves in either input takes this
        frame's fusion alone (no trail)."""
        import cv2

        from tf_irgan.metrics.temporal import STILL

        # OpenCV's per-pixel ops: numpy's mean over a trailing axis of 3 and its where on
        # (H, W, 3) arrays cost several milliseconds a frame at 640x480.
        gray_vis = (cv2.transform(np.ascontiguousarray(vis, np.float32), CHANNEL_MEAN)
                    if vis.ndim == 3 else vis)
        previous, self._previous = self._previous, None
        if previous is not None and previous[0].shape == gray_vis.shape and \
                previous[2].shape == fused.shape:
            still = np.less(cv2.absdiff(gray_vis, previous[0]), STILL)
            still &= np.less(cv2.absdiff(np.asarray(ir_on_frame, np.float32), previous[1]), STILL)
            fused = np.ascontiguousarray(fused, np.float32)
            blend = cv2.addWeighted(fused, STEADY, previous[2], 1 - STEADY, 0.0)
            # OpenCV's masked copy takes one mask for all channels (numpy's `where` on an
            # (H, W, 3) array is several times slower).
            cv2.copyTo(blend, still.view(np.uint8), fused)
        self._previous = (gray_vis, np.asarray(ir_on_frame, np.float32), fused)
        return fused

    def _registered(self, vis, ir, said):
        """The IR on the visible frame by the stream's registration; (image, confidence of the
        registration used or None). The first frame waits for its estimate; every later one
        (a retry every RETRY_EVERY frames while none has registered, a check every
        `recheck_every` frames) runs beside the fusion and is used `check_lag` frames on."""
        from tf_irgan.registration import onto_visible

        if self._check is not None and self.index >= self._check.due:
            self._use(self._check, said)
        every = self.recheck_every if self.registration is not None else RETRY_EVERY
        if self.index % every == 0 and self._check is None:
            if self.index == 0 or self.check_lag == 0:
                self._use(_Estimate(vis, ir, self.index), said)
            else:
                self._check = _Estimate(vis, ir, self.index, due=self.index + self.check_lag)
        if self.registration is None:
            return ir, None
        return (onto_visible(vis, ir, [], result=self.registration),
                self.registration.confidence)

    def _use(self, estimate: "_Estimate", said) -> None:
        """Take an estimate's outcome: the first confident one is the stream's registration; a
        later one replaces it only when clearly elsewhere (the cameras were bumped)."""
        from tf_irgan.registration import mean_distance

        self._check = None
        found, refusal = estimate.outcome()
        made = f" (estimated on frame {estimate.frame})" if estimate.frame != self.index else ""
        if found is None:
            if self.registration is None:
                self._note(f"not registered yet ({refusal.reason}); frames are fused as they "
                           "come until a frame registers", said)
            return
        if self.registration is None:
            self.registration = found
            self._note(f"registration estimated{made}: " + found.describe(), said)
            return
        size = (found.vis_size[1], found.vis_size[0])
        moved = mean_distance(np.linalg.inv(found.homography),
                              np.linalg.inv(self.registration.homography), size)
        if moved > MOVED:
            self.registration = found
            self.notes.append(f"frame {self.index}: registration re-estimated{made} (the "
                              f"cameras moved {moved:.1f} px): {found.describe()}")
            said.append(self.notes[-1])


class _Estimate:
    """The registration estimate of frame `frame`: made at once, or with `due` (the frame that
    will use it) in a thread of its own, on copies (a camera loop may reuse its buffers);
    `outcome` waits for it."""

    def __init__(self, vis, ir, frame: int, due: int | None = None):
        self.frame, self.due = frame, due
        self._found = self._refusal = self._error = None
        if due is not None:
            vis, ir = np.array(vis), np.array(ir)
            self._thread = threading.Thread(target=self._run, args=(vis, ir), daemon=True)
            self._thread.start()
        else:
            self._thread = None
            self._run(vis, ir)

    def _run(self, vis, ir):
        from tf_irgan.registration import Refused, register

        try:
            self._found = register(vis, ir)
        except Refused as refusal:
            self._refusal = refusal
        except Exception as error:   # noqa: BLE001 (raised again by `outcome`, in the caller)
            self._error = error

    def outcome(self):
        """(registration or None, refusal or None); what else the estimate raised, raised."""
        if self._thread is not None:
            self._thread.join()
        if self._error is not None:
            raise self._error
        return self._found, self._refusal


# ---------------------------------------------------------------- video files

@dataclass
class VideoRecord:
    frames: int
    seconds: float
    output: Path
    table: Path
    notes: list
    flicker: dict


class FrameFolder:
    """A folder of numbered frames read as a video: the images in natural name order
    (frame2 before frame10), with what `_run` asks of a `cv2.VideoCapture` (read, set the
    position, release). Frames come as their files hold them (8/16-bit, gray or BGR), which
    `FusionStream.frame_array` takes as a camera's frames."""

    def __init__(self, folder: Path, role: str):
        from tf_irgan.images import images_by_stem

        self.folder, self.role = folder, role
        # One file per name (fused frames are named by the visible ones), in natural order.
        self.paths = sorted(images_by_stem(folder).values(), key=lambda p: _natural(p.stem))
        self.position, self.size = 0, None

    def read(self):
        import cv2

        if self.position >= len(self.paths):
            return False, None
        path = self.paths[self.position]
        self.position += 1
        from tf_irgan.images import check_pixels, header_size

        size = header_size(path)
        if size is not None:
            check_pixels(path, *size)
        frame = cv2.imdecode(np.fromfile(str(path), np.uint8), cv2.IMREAD_UNCHANGED)
        if frame is None:
            raise UserError(f"{path}: cannot be decoded as an image (corrupt or unsupported "
                            "format); re-save it, or move it out of the sequence")
        if self.size is None:
            self.size = frame.shape[:2]
        elif frame.shape[:2] != self.size:   # a video has one frame size
            raise UserError(f"{path}: {frame.shape[1]}x{frame.shape[0]}, where the sequence's "
                            f"frames are {self.size[1]}x{self.size[0]}; resize it or move it out")
        return True, frame

    def set(self, _property, position):
        self.position = int(position)

    def release(self):
        pass


def _natural(name: str) -> list:
    """A sort key that orders the numbers inside names by value: frame2 < frame10."""
    import re

    return [int(part) if part.isdecimal() else part for part in re.split(r"(\d+)", name)]


def _open(path: Path, role: str):
    import cv2

    if not path.exists():
        raise UserError(f"{path}: not found; check the path")
    if path.is_dir():
        frames = FrameFolder(path, role)
        if not frames.paths:
            raise UserError(f"{path}: holds no images; a sequence is a folder of numbered "
                            "frames (PNG, TIFF, JPEG, BMP)")
        return frames, 0.0, len(frames.paths)
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise UserError(f"{path}: cannot be read as a video (corrupt or an unsupported codec); "
                        "re-encode it, e.g. ffmpeg -i IN -c:v libx264 OUT.mp4")
    fps = capture.get(cv2.CAP_PROP_FPS) or 0.0
    count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    if count <= 0:
        capture.release()
        raise UserError(f"{path}: holds no frames; check the {role} recording")
    return capture, fps, count


def _check_streams(vis_path, ir_path, vis_info, ir_info, start, frames) -> int:
    """The number of frame pairs to fuse; refuses streams that would drift apart."""
    (_, vis_fps, vis_count), (_, ir_fps, ir_count) = vis_info, ir_info
    if vis_fps and ir_fps and abs(vis_fps - ir_fps) > RATE_TOLERANCE * max(vis_fps, ir_fps):
        raise UserError(f"{vis_path} runs at {vis_fps:g} frames/s and {ir_path} at {ir_fps:g} frames/s: "
                        f"frames paired by index would drift apart; pair them by time with "
                        f"--pair-by time, or resample one to the other's rate first, e.g. "
                        f"ffmpeg -i {ir_path} -r {vis_fps:g} ir-{vis_fps:g}fps{Path(ir_path).suffix}")
    available = min(vis_count, ir_count) - start
    if start < 0 or available <= 0:
        raise UserError(f"--start {start}: the videos hold {vis_count} and {ir_count} frames; "
                        "start within both")
    if frames is None:
        if vis_count != ir_count:
            raise UserError(f"{vis_path} holds {vis_count} frames and {ir_path} {ir_count}: "
                            f"pass --frames N (at most {available} from --start {start}) to fuse "
                            "the part both hold, or trim them to the same length")
        return available
    if frames < 1 or frames > available:
        raise UserError(f"--frames {frames}: from --start {start} both videos hold {available} "
                        f"frames; give 1 to {available}")
    return frames


def _frame_times(path, info) -> np.ndarray:
    """Each frame's time: a video's from its frame rate (seconds), a frame folder's from the
    last number in each file name (in the names' own unit: only differences matter)."""
    import re

    capture, fps, count = info
    if isinstance(capture, FrameFolder):
        times = []
        for frame in capture.paths:
            numbers = re.findall(r"\d+(?:\.\d+)?", frame.stem)
            if not numbers:
                raise UserError(f"{frame}: --pair-by time reads each frame's time from its file "
                                "name (e.g. 1650000000.125.png); this one holds no number")
            times.append(float(numbers[-1]))
        times = np.asarray(times)
        back = np.flatnonzero(np.diff(times) <= 0)
        if len(back):
            raise UserError(f"{capture.paths[back[0] + 1]}: its time {times[back[0] + 1]:g} is not "
                            f"after the frame before it ({capture.paths[back[0]].name}); --pair-by "
                            "time needs times that grow in name order")
        return times
    if not fps:
        raise UserError(f"{path}: carries no frame rate, so its frames have no times; pair by "
                        "index (--pair-by index)")
    return np.arange(count) / fps


def time_plan(vis_times, ir_times, start, frames, vis_path, ir_path) -> tuple[list, list]:
    """([(visible frame, IR frame)], notes): from visible frame `start` on, each visible frame
    with the IR frame nearest to it in time; visible frames with no IR frame within reach
    (`PAIR_REACH`: before the IR stream begins, after it ends, in its gaps) are left out and
    counted in the notes. `frames` limits the pairs."""
    vis_times, ir_times = np.asarray(vis_times, float), np.asarray(ir_times, float)
    if start >= len(vis_times):
        raise UserError(f"--start {start}: {vis_path} holds {len(vis_times)} frames; start within it")
    intervals = [np.median(np.diff(t)) for t in (vis_times, ir_times) if len(t) > 1]
    reach = PAIR_REACH * max(intervals) if intervals else np.inf
    wanted = vis_times[start:]
    following = np.searchsorted(ir_times, wanted)   # the first IR frame at or after each
    below = np.clip(following - 1, 0, len(ir_times) - 1)
    above = np.clip(following, 0, len(ir_times) - 1)
    nearest = np.where(np.abs(ir_times[below] - wanted) <= np.abs(ir_times[above] - wanted),
                       below, above)
    close = np.abs(ir_times[nearest] - wanted) <= reach
    if not close.any():
        raise UserError(f"{vis_path} and {ir_path}: no visible frame has an IR frame within "
                        f"{reach:g} of its time (visible {wanted[0]:g} to {wanted[-1]:g}, IR "
                        f"{ir_times[0]:g} to {ir_times[-1]:g}): the recordings do not overlap in "
                        "time; check the times, or pair by index (--pair-by index)")
    plan = [(start + k, int(nearest[k])) for k in np.flatnonzero(close)]
    if frames is not None:
        if frames > len(plan):
            raise UserError(f"--frames {frames}: from --start {start} only {len(plan)} visible "
                            "frames have an IR frame near them in time")
        plan = plan[:frames]
    used = len({i for _, i in plan})
    notes = [f"paired by time: {len(plan)} visible frames with {used} IR frames, each the nearest "
             f"in time (at most {reach:.3g} apart)"]
    left = np.flatnonzero(~close)
    if len(left):
        first, last = np.flatnonzero(close)[[0, -1]]
        before, beyond = int((left < first).sum()), int((left > last).sum())
        notes.append(f"visible frames left out, with no IR frame within reach: {len(left)} "
                     f"({before} before the IR stream begins, {beyond} after it ends, "
                     f"{len(left) - before - beyond} in its gaps)")
    return plan, notes


def fuse_videos(vis_path, ir_path, output, stream: FusionStream, start: int = 0,
                frames: int | None = None, side_by_side: bool = False, overwrite: bool = False,
                progress=None, fps: float | None = None, pair_by: str = "index") -> VideoRecord:
    """Fuse two streams frame by frame into `output`. A stream is a video file or a folder of
    numbered frames (`FrameFolder`); the output is a video (its suffix picks the container) or,
    for a path without a video suffix, a folder of PNG frames named as the visible frames (or
    numbered, from videos). A CSV of every frame (index, seconds, registration confidence,
    notes) is written beside a video as OUTPUT.csv, inside a frame folder as frames.csv.
    `fps`: the rate of frame folders, which carry none (default 25); the rate of videos is
    their own. `progress(done, total, frames_per_second)` is called after every frame.

    `pair_by` "index" pairs the n-th frames of the two streams (their rates and lengths must
    agree); "time" pairs each visible frame with the IR frame nearest to it in time (`time_plan`):
    streams at different rates (a 9 frames/s thermal core beside a 30 frames/s camera), or
    frame folders whose file names carry times (1650000000.125.png, ROS-style nanoseconds)."""
    import cv2

    from tf_irgan.files import check_outputs

    vis_path, ir_path, output = Path(vis_path), Path(ir_path), Path(output)
    suffix = output.suffix.lower()
    to_folder = not suffix
    if to_folder:
        import os
        output = Path(os.path.abspath(output))   # "." and ".." have no name to hide a partial under
        for source in (vis_path, ir_path):
            if output == Path(os.path.abspath(source)) or output in Path(os.path.abspath(source)).parents:
                raise UserError(f"{output}: holds the input frames ({source}); the fused frames "
                                "replace the whole folder, so write them to a folder of their own")
    if not to_folder and suffix not in CODECS:
        raise UserError(f"{output}: a fused video is written as {', '.join(CODECS)} (the suffix "
                        "picks the container), fused frames into a folder (a name without a "
                        "suffix)")
    table = output / "frames.csv" if to_folder else output.with_suffix(output.suffix + ".csv")
    check_outputs([output] if to_folder else [output, table], overwrite, folders=to_folder)
    vis_info, ir_info = _open(vis_path, "visible"), _open(ir_path, "IR")
    captures = [vis_info[0], ir_info[0]]
    try:
        if pair_by not in PAIRINGS:
            raise UserError(f"--pair-by {pair_by}: use {' or '.join(PAIRINGS)}")
        if pair_by == "index":
            total = _check_streams(vis_path, ir_path, vis_info, ir_info, start, frames)
            plan = [(start + k, start + k) for k in range(total)]
        else:
            plan, said = time_plan(_frame_times(vis_path, vis_info), _frame_times(ir_path, ir_info),
                                   start, frames, vis_path, ir_path)
            stream.notes.extend(said)
        for capture, first in zip(captures, plan[0]):
            capture.set(cv2.CAP_PROP_POS_FRAMES, first)
        rate = vis_info[1] or (ir_info[1] if pair_by == "index" else 0) or fps or DEFAULT_FPS
        names = ([captures[0].paths[v].stem for v, _ in plan]
                 if isinstance(captures[0], FrameFolder) else None)
        return _run(captures, plan, rate, output, table, stream, side_by_side, overwrite,
                    progress, vis_path, ir_path, names)
    finally:
        for capture in captures:
            capture.release()


class _FrameWriter:
    """Writes fused frames as PNG files into a folder, as `cv2.VideoWriter` writes a video."""

    def __init__(self, folder: Path, names: list):
        self.folder, self.names, self.count = folder, names, 0
        folder.mkdir(parents=True)

    def write(self, bgr):
        import cv2

        name = self.names[self.count] if self.names else f"{self.count:06d}"
        ok, encoded = cv2.imencode(".png", bgr)
        if not ok:
            raise UserError(f"{self.folder}: frame {self.count} could not be encoded as PNG")
        encoded.tofile(str(self.folder / f"{name}.png"))
        self.count += 1

    def isOpened(self):   # noqa: N802 (cv2.VideoWriter's name)
        return True

    def release(self):
        pass


def _run(captures, plan, fps, output, table, stream, side_by_side, overwrite, progress,
         vis_path, ir_path, names=None) -> VideoRecord:
    import cv2

    # FFmpeg's per-frame warnings (a full disk repeats one per frame) would bury the one-line
    # error this function raises instead.
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)

    from tf_irgan.files import write_text
    from tf_irgan.metrics.temporal import Flicker

    flicker = Flicker()
    pairs: queue.Queue = queue.Queue(QUEUE)
    done_frames: queue.Queue = queue.Queue(QUEUE)
    failure: list = []

    stopping = threading.Event()

    total = len(plan)

    def read():   # decodes ahead while the model runs
        # Each stream is read forward to the frame the plan names; an IR frame nearest to
        # several visible ones (a slower IR stream) is decoded once and given to each.
        at = [plan[0][0] - 1, plan[0][1] - 1]
        current = [None, None]
        try:
            for number, wanted in enumerate(plan):
                if stopping.is_set():
                    break
                for side, (capture, path) in enumerate(zip(captures, (vis_path, ir_path))):
                    while at[side] < wanted[side]:
                        ok, current[side] = capture.read()
                        at[side] += 1
                        if not ok:
                            raise UserError(
                                f"{path}: frame {at[side]} cannot be decoded (the file ends early "
                                f"or is damaged); fuse fewer frames with --frames {number}"
                                if number else f"{path}: no frame could be decoded")
                pairs.put((current[0], current[1]))
        except Exception as error:   # a frame file that cannot be read: said by the main loop
            failure.append(error)
        finally:
            pairs.put(None)

    rows = ["frame,seconds,ir_frame,registration_confidence,notes"]
    began = time.perf_counter()
    writer = None
    to_folder = not output.suffix
    hidden = output.with_name(f".{output.stem}.partial{output.suffix}")
    reader = threading.Thread(target=read, daemon=True)
    reader.start()

    def write_all(writer):   # converts, measures and encodes behind the fusion
        try:
            while (pending := done_frames.get()) is not None:
                frame = stream.finish(pending)
                writer.write(_frame_bgr(frame, side_by_side))
                flicker.add(frame.visible, frame.ir_on_frame, frame.image)   # in order: one thread
        except Exception as error:   # a full disk while writing frames: said by the main loop
            failure.append(error)
            while done_frames.get() is not None:   # let the main loop finish its puts
                pass

    encoder = None
    count = 0
    try:
        while (item := pairs.get()) is not None:
            if failure:   # the encoder met a full disk: stop now, not after every frame
                raise failure[0]
            vis, ir = item
            pending = stream.start(vis, ir)   # its color and steadying: in the encoder's thread
            if writer is None:
                remove(hidden)
                output.parent.mkdir(parents=True, exist_ok=True)
                height, width = pending.fused.shape[:2]
                size = (width * (3 if side_by_side else 1), height)
                writer = _FrameWriter(hidden, names) if to_folder else cv2.VideoWriter(str(hidden), cv2.VideoWriter_fourcc(*CODECS[output.suffix.lower()]),
                                         fps, size)
                if not writer.isOpened():
                    raise UserError(f"{output}: OpenCV cannot write this container here; use "
                                    f"{' or '.join(CODECS)}")
                encoder = threading.Thread(target=write_all, args=(writer,), daemon=True)
                encoder.start()
            done_frames.put(pending)
            count += 1
            vis_number, ir_number = plan[count - 1]
            seconds = vis_number / fps
            confidence = "" if pending.confidence is None else f"{pending.confidence:.3f}"
            notes = "; ".join(pending.notes).replace('"', "'")
            rows.append(f'{vis_number},{seconds:.3f},{ir_number},{confidence},"{notes}"')
            if progress is not None:
                progress(count, total, count / max(time.perf_counter() - began, 1e-9))
        if failure:
            raise failure[0]
        done_frames.put(None)
        if encoder is not None:
            encoder.join()
        if writer is not None:
            writer.release()
            writer = None
        if failure:
            raise failure[0]
        if count == 0:
            raise UserError(f"{vis_path}: no frame could be decoded")
        _check_written(hidden, output, count)
        if to_folder:   # the record goes inside, so the folder arrives whole
            write_text(hidden / table.name, "\n".join(rows) + "\n")
        _publish(hidden, output, overwrite)
    except BaseException as error:
        done_frames.put(None)
        if encoder is not None:
            encoder.join(timeout=30)
        if writer is not None:
            writer.release()
        with contextlib.suppress(OSError):   # the first error is the one to say
            remove(hidden)       # nothing under the final name, no half file kept
        _stop(reader, stopping, pairs)
        from tf_irgan.files import write_failure
        why = write_failure(error) if isinstance(error, Exception) else None
        if why and not isinstance(error, UserError):
            raise UserError(f"{output}: not written: {why}; nothing of it was left there") from None
        raise
    if not to_folder:
        write_text(table, "\n".join(rows) + "\n", overwrite=overwrite)
    return VideoRecord(count, time.perf_counter() - began, output, table, stream.notes,
                       flicker.means())


def _stop(reader: threading.Thread, stopping: threading.Event, pairs: queue.Queue) -> None:
    """Stop the decoding thread and wait for it: the captures it reads are released next, and
    releasing one in the middle of a read aborts the process. Its queue is emptied so that a
    `put` it waits in returns."""
    stopping.set()
    while reader.is_alive():
        try:
            pairs.get(timeout=0.05)
        except queue.Empty:
            pass
    reader.join()


def _check_written(hidden: Path, output: Path, count: int) -> None:
    """OpenCV's writer says nothing when the disk fills: read the frame count back."""
    import cv2

    if hidden.is_dir():
        written = sum(1 for p in hidden.iterdir() if p.suffix == ".png")
        if written != count:
            raise UserError(f"{output}: not written: {written} of {count} frames reached the "
                            "folder; nothing of it was left there")
        return
    capture = cv2.VideoCapture(str(hidden))
    written = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0) if capture.isOpened() else 0
    capture.release()
    written = min(max(written, 0), count)   # a damaged container reports nonsense
    if written != count:
        raise UserError(f"{output}: not written: {written} of {count} frames reached the file (a "
                        "full disk or a read-only place?); nothing of it was left there")


def _publish(hidden: Path, output: Path, overwrite: bool) -> None:
    """The finished video takes its final name (replacing an old one only with overwrite)."""
    import os

    if output.exists() and not overwrite:
        raise UserError(f"{output}: already exists; pass --overwrite or choose another name")
    if hidden.is_dir() and output.exists():
        # A folder cannot replace another in one step: the old one steps aside first, and goes
        # only once the new one has its name.
        aside = output.with_name(f".{output.name}.replaced")
        remove(aside)
        os.replace(output, aside)
        os.replace(hidden, output)
        remove(aside)
        return
    os.replace(hidden, output)


def _frame_bgr(frame: StreamFrame, side_by_side: bool) -> np.ndarray:
    """What the encoder takes for a fused frame: 8-bit BGR, with the inputs beside it when
    asked (visible | IR | fused)."""
    bgr = _to_bgr(frame.image)
    if side_by_side:
        bgr = np.hstack([_to_bgr(frame.visible), _to_bgr(frame.ir_on_frame), bgr])
    return bgr


def _to_bgr(image: np.ndarray) -> np.ndarray:
    """[0, 1] float RGB or gray -> 8-bit BGR, rounded and clipped as `images.quantized` (in
    OpenCV: numpy's copy of a channel-reversed view costs several ms a frame)."""
    import cv2

    image = np.ascontiguousarray(image, np.float32)
    levels = np.clip(image, 0.0, 1.0)
    levels *= 255.0
    levels = cv2.convertScaleAbs(levels)   # rounds to nearest (even on ties), as np.round
    return cv2.cvtColor(levels, cv2.COLOR_GRAY2BGR if image.ndim == 2 else cv2.COLOR_RGB2BGR)


def frames_per_second_text(done: int, total: int, rate: float) -> str:
    left = (total - done) / rate if rate > 0 else math.inf
    minutes, seconds = divmod(int(left), 60) if math.isfinite(left) else (0, 0)
    return f"frame {done}/{total}, {rate:.1f} frames/s, {minutes}:{seconds:02d} left"
