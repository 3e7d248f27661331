"""The fusion pipeline: whole images of any size through a trained generator (or a classical
baseline). `tf-irgan fuse`, `tf-irgan report` and `tf-irgan export` all go through it.

Steps, in order:
1. Checks on the arrays (numpy): luminance of color inputs, the one aspect rule, the size ratio
   and which preset serves it (`fuse_images`).
2. The graph part, in TensorFlow ops so that the SavedModel runs the very same code:
   `align_ir_tensor` puts the IR on the grid of the visible image padded to a multiple of the scale,
   `pad_to_multiple` reflect-pads the visible image, the generator runs, the result is cropped
   back (`fuse_tensor` for whole images, `run_generator` for overlapping tiles: same pixels,
   bounded memory).
3. Color (numpy): the fused luminance goes back under the colored input's chrominance, in the
   color space the preset names (YCbCr by default).

The visible image sets the output geometry; its content is never stretched.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from tf_irgan.color import COLOR_SPACES
from tf_irgan.errors import UserError
from tf_irgan.images import ImageRows, check_aspect, quantized
from tf_irgan.modalities import get_modality
from tf_irgan.presets import check_finite

SAME_SIZE_MODEL, X4_MODEL = "ddcgan-ir-vis", "ddcgan-ir-vis-x4"
# Same-size video: the finest level by the rule alone, averaged where neither source has a
# scene, so a stream's flat regions do not crawl with the noisier camera's noise
# (docs/training.md, "A video preset").
VIDEO_MODEL = "ddcgan-ir-vis-video"
# The default presets of each medical modality, by the scale they were trained at: a PET at
# the MRI's size or at 1/4, a SPECT or a CT at the MRI's size. The size ratio picks among them
# as it does between the IR/visible defaults.
MEDICAL_MODELS = {"mri-pet": {1: "ddcgan-mri-pet", 4: "ddcgan-mri-pet-x4"},
                  "mri-spect": {1: "ddcgan-mri-spect"}, "mri-ct": {1: "ddcgan-mri-ct"}}
MEDICAL_MODEL = MEDICAL_MODELS["mri-pet"][4]   # the paper's setting
# A model trained at scale s > 1 serves size ratios in [s / 2, 1.5 s]; a same-size model serves
# [1 / 1.5, 2]. Ratios between two models go to the nearer one (in octaves), whose IR input is
# then resampled to its scale.
SLACK = 1.5
# Tiles: the image is split into equal tiles of at most TILE pixels a side, each with MARGIN
# pixels of context, or the generator's own `context` where it is larger, so tiled and
# whole-image results agree. An image of at most WHOLE pixels (a full-HD video frame) is one
# tile: its tiles' context would be work done twice (a 1280x1024 frame in two tiles computes
# 1.4x its pixels), and it fits in memory whole.
TILE, MARGIN = 1024, 32
WHOLE = 1920 * 1088
# A border row or column of one value at most this bright carries no data (`framed`),
# when such rows or columns take at most FRAME_SHARE of the image on each side: a thin frame.
# Wider black bands are more likely scene clipped to black (a sky colder than --ir-range).
BLACK = 1.5 / 255
FRAME_SHARE = 0.05


@dataclass
class FuseResult:
    image: np.ndarray          # float32 [0, 1] (or the integers of `bit_depth`), (H, W) or (H, W, 3)
    method: str
    preset: str | None = None       # the name of the preset used (None for a baseline)
    notes: list = field(default_factory=list)
    ratio: float | None = None      # visible/IR size ratio per side
    # With `fuse_images(color_later=True)` on a color input: `image` is the fused intensity and
    # this puts the color back (a function of that intensity), so it can run elsewhere.
    colorize: Callable | None = None

    @property
    def checkpoint(self) -> str | None:
        """The old name of `preset`."""
        return self.preset


# ---------------------------------------------------------------- sizes and model choice

def size_ratio(vis_shape, ir_shape, vis_name="visible", ir_name="IR", notes=None) -> float:
    """Visible/IR size ratio per side, after the one aspect rule (`images.check_aspect`)."""
    check_aspect(ir_shape, vis_shape, ir_name, vis_name, notes)
    return (vis_shape[0] / ir_shape[0] + vis_shape[1] / ir_shape[1]) / 2


def default_preset(ratio: float, ir_name="IR", vis_name="visible", video: bool = False) -> str:
    """The IR/visible preset for this size ratio (`video`: of a stream's frames)."""
    if ratio < 1 / SLACK:
        raise UserError(f"{ir_name}: is {1 / ratio:.1f}x larger per side than {vis_name}; "
                        "pass the visible image first, then the IR image")
    if ratio < 2:
        return VIDEO_MODEL if video else SAME_SIZE_MODEL
    if ratio <= 4 * SLACK:
        return X4_MODEL
    raise UserError(f"{ir_name}: is {ratio:.2f}x smaller per side than {vis_name}; the shipped models "
                    f"serve ~1x ({SAME_SIZE_MODEL}) and ~4x ({X4_MODEL}); resize the IR image or pass "
                    "--preset with a model trained at that ratio")


default_checkpoint = default_preset  # the old name


def medical_preset(modality: str, vis_shape, ir_shape) -> str:
    """The modality's default preset for these sizes: the one trained at the scale nearest
    (in octaves) to the size ratio; `check_serves` then refuses a ratio it cannot serve."""
    ratio = (vis_shape[0] / ir_shape[0] + vis_shape[1] / ir_shape[1]) / 2
    presets = MEDICAL_MODELS[modality]
    scale = min(presets, key=lambda s: abs(math.log2(max(ratio, 1e-6) / s)))
    return presets[scale]


def check_serves(scale: int, ratio: float, checkpoint: str, ir_name="IR", labels=("visible", "IR"),
                 notes=None, same_size=False):
    """Refuse a size ratio the preset cannot serve. A second input of exactly the first one's
    size (`same_size`) given to a model trained at scale s > 1 is reduced s x (block means),
    what the model's setting records; a note says so."""
    if ratio < 1 / SLACK:  # no model fuses a larger IR image: the inputs are swapped
        raise UserError(f"{ir_name}: is {1 / ratio:.1f}x larger per side than the {labels[0]} image; "
                        f"pass the {labels[0]} image first, then the {labels[1]} image")
    if scale > 1 and same_size and notes is not None:
        notes.append(f"{ir_name}: at the {labels[0]} image's size; reduced {scale}x per side "
                     f"(block means) for {checkpoint}, which fuses a {labels[1]} image at 1/{scale}")
        return
    low, high = (1 / SLACK, 2.0) if scale == 1 else (scale / 2, scale * SLACK)
    if not low <= ratio <= high:
        raise UserError(f"{ir_name}: the {labels[0]}/{labels[1]} size ratio is {ratio:.2f}, but "
                        f"{checkpoint} was trained for {scale}x; use a preset trained near that ratio "
                        f"(see `tf-irgan presets`) or resize the {labels[1]} image")


def ir_grid(height: int, width: int, scale: int) -> tuple[tuple, tuple]:
    """The IR shapes taken as they are: ceil (the padded visible grid) and floor."""
    return (-(-height // scale), -(-width // scale)), (height // scale, width // scale)


# ---------------------------------------------------------------- the graph part (TF ops)

def pad_to_multiple(images, multiple: int):
    """Reflect-pad (B, H, W, C) at the bottom and right to multiples of `multiple`."""
    import tensorflow as tf

    if multiple == 1:
        return images
    height, width = tf.shape(images)[1], tf.shape(images)[2]
    return tf.pad(images, [[0, 0], [0, (-height) % multiple], [0, (-width) % multiple], [0, 0]],
                  mode="REFLECT")


def reduce_to_scale(images, scale: int):
    """(B, H, W, C) at full resolution -> 1/scale per side: reflect-pad to a multiple of scale,
    then block means, which is what a sensor with `scale`-times larger pixels records."""
    import tensorflow as tf

    if scale == 1:
        return images
    return tf.nn.avg_pool2d(pad_to_multiple(images, scale), scale, scale, "VALID")


def align_ir_tensor(vis_hw, ir, scale: int):
    """The IR image (B, h, w, 1) on the grid of the visible image padded to a multiple of scale,
    i.e. (B, ceil(H/s), ceil(W/s), 1).

    Taken as they are: that grid, and floor(H/s) x floor(W/s) (an IR covering the whole
    multiples of s; its missing last row/column repeats the edge). Anything else is resampled
    onto the visible frame (bicubic) and reduced to the grid, so the geometry stays exact.
    Works eagerly and in a traced SavedModel function alike.
    """
    import tensorflow as tf

    height, width = vis_hw[0], vis_hw[1]
    ceil_h, ceil_w = -(-height // scale), -(-width // scale)
    ir_h, ir_w = tf.shape(ir)[1], tf.shape(ir)[2]
    is_ceil = tf.logical_and(tf.equal(ir_h, ceil_h), tf.equal(ir_w, ceil_w))
    is_floor = tf.logical_and(tf.equal(ir_h, height // scale), tf.equal(ir_w, width // scale))

    def edge_padded():
        # At most one row and column are missing: SYMMETRIC repeats the edge for those.
        return tf.pad(ir, [[0, 0], [0, ceil_h - ir_h], [0, ceil_w - ir_w], [0, 0]], mode="SYMMETRIC")

    def resampled():
        full = tf.image.resize(ir, tf.stack([height, width]), method="bicubic")
        return tf.clip_by_value(reduce_to_scale(full, scale), 0.0, 1.0)

    return tf.cond(is_ceil, lambda: tf.identity(ir),
                   lambda: tf.cond(is_floor, edge_padded, resampled))


def fuse_tensor(model, vis, ir, scale: int):
    """Whole-image fusion in TF ops: vis (B, H, W, 1), ir (B, h, w, 1) float32 [0, 1] ->
    (B, H, W, 1). What the SavedModel serves."""
    import tensorflow as tf

    height, width = tf.shape(vis)[1], tf.shape(vis)[2]
    aligned = align_ir_tensor((height, width), ir, scale)
    fused = model({"detail": pad_to_multiple(vis, scale), "intensity": aligned}, training=False)
    return tf.clip_by_value(fused[:, :height, :width, :], 0.0, 1.0)


def serving_graph(preset):
    """The SavedModel's part of this pipeline: ({input role: channels}, function of those
    tensors in role order -> the output).

    IR/visible: both gray, the fused luminance out. MRI/PET: the gray MRI and the color PET (at
    the MRI's size or at 1/scale), the color result out, as `fuse_images` gives it.
    """
    model, scale = preset.model, preset.scale
    kind = get_modality(preset.metadata.get("modality", "ir-vis"))
    first, second = kind.roles
    if kind.color_role != second:
        return {first: 1, second: 1}, lambda vis, ir: fuse_tensor(model, vis, ir, scale)
    space = color_space_of(preset, kind)

    def fuse_in_color(detail, colored):
        import tensorflow as tf

        fused = fuse_tensor(model, detail, space.luminance_tensor(colored), scale)
        size = (tf.shape(detail)[1], tf.shape(detail)[2])
        return space.restore_color_tensor(fused, align_color_tensor(size, colored, scale))
    return {first: 1, second: 3}, fuse_in_color


def color_space_of(preset, kind):
    """The color space a preset's metadata names (its modality's otherwise)."""
    name = preset.metadata.get("color_space", kind.color_space)
    if name not in COLOR_SPACES:
        raise UserError(f"{preset.path}: metadata.json names color space '{name}'; this version "
                        f"knows {', '.join(COLOR_SPACES)} (update tf-irgan or fix the file)")
    return COLOR_SPACES[name]


def align_color_tensor(vis_hw, colored, scale: int):
    """A color image (B, h, w, 3) on the detail image's frame (B, H, W, 3), as `align_ir_tensor`
    places the same image's intensity: at (H, W) as is; on the grid of 1/scale (ceil or floor of
    H/scale) enlarged exactly scale x (bicubic), then cropped or edge-padded to (H, W), so the
    color lands where the intensity did; any other size resized onto the frame."""
    import tensorflow as tf

    height, width = vis_hw[0], vis_hw[1]
    h, w = tf.shape(colored)[1], tf.shape(colored)[2]
    same = tf.logical_and(tf.equal(h, height), tf.equal(w, width))
    on_grid = tf.logical_and(
        tf.logical_or(tf.equal(h, -(-height // scale)), tf.equal(h, height // scale)),
        tf.logical_or(tf.equal(w, -(-width // scale)), tf.equal(w, width // scale)))

    def enlarged():
        big = tf.image.resize(colored, tf.stack([h * scale, w * scale]), method="bicubic")[:, :height, :width]
        return tf.pad(big, [[0, 0], [0, height - tf.shape(big)[1]], [0, width - tf.shape(big)[2]],
                            [0, 0]], mode="SYMMETRIC")

    return tf.cond(same, lambda: tf.identity(colored),
                   lambda: tf.cond(tf.logical_and(on_grid, scale > 1), enlarged,
                                   lambda: tf.image.resize(colored, tf.stack([height, width]),
                                                           method="bicubic")))


def _tiles(length: int, tile: int, scale: int) -> list[int]:
    """Start offsets of equal tiles (multiples of scale) covering `length`."""
    count = max(1, math.ceil(length / tile))
    size = -(-math.ceil(length / count) // scale) * scale
    return list(range(0, length, size)), size


def run_generator(model, vis, ir, scale: int, tile: int | None = None, margin: int | None = None,
                  sink=None) -> np.ndarray | None:
    """Generator output for a visible luminance (H, W) and an IR image already on the padded grid
    (ceil(H/s), ceil(W/s)), in overlapping tiles; equals `fuse_tensor` on the whole image.
    `margin` (default: MARGIN or the generator's `context`, the larger) is each tile's context.

    Either image may be an array or anything with `shape` and `rows(top, bottom)` (float32 rows,
    `GrayRows`): the tiles are taken a band of rows at a time, and only that band is held as
    float. Each band's result goes to `sink(top, rows)` when given (None is returned), else
    into the returned array."""
    vis, ir = _rows_of(vis), _rows_of(ir)
    height, width = vis.shape
    # `pad_to_multiple` in numpy (numpy's "reflect" is TF's REFLECT), and each tile becomes a
    # tensor on its own: whole-image tensors would be two more copies of a large image.
    full_h, full_w = height + (-height) % scale, width + (-width) % scale
    if tile is None:
        tile = max(full_h, full_w) if full_h * full_w <= WHOLE else TILE
    # Tiles start on the generator's own grid (a pyramid's coarsest level) as well as the IR's,
    # so a tile decimates where the whole image would; a farther-seeing one gets more context.
    # Both optional for a fusion generator (a registered model's may not declare them): `grid`
    # defaults to any offset, `context` to MARGIN.
    unit = math.lcm(scale, getattr(model, "grid", 1))
    margin = max(MARGIN, getattr(model, "context", MARGIN)) if margin is None else margin
    margin = margin + (-margin % unit)
    starts_y, tile_h = _tiles(full_h, max(unit, tile), unit)
    starts_x, tile_w = _tiles(full_w, max(unit, tile), unit)
    out = None
    if sink is None:
        out = np.empty((height, width), np.float32)

        def sink(top, rows):
            out[top:top + len(rows)] = rows
    for y in starts_y:
        y0, y1 = max(0, y - margin), min(full_h, y + tile_h + margin)
        band = np.asarray(vis.rows(y0, min(y1, height)), np.float32)
        # The padding rows and columns reflect the image's last ones, as on the whole image: the
        # band reaches them with its margin.
        band = np.pad(band, ((0, y1 - min(y1, height)), (0, full_w - width)), mode="reflect")
        ir_band = np.asarray(ir.rows(y0 // scale, y1 // scale), np.float32)
        fused_band = np.empty((min(tile_h, full_h - y), full_w), np.float32)
        for x in starts_x:
            x0, x1 = max(0, x - margin), min(full_w, x + tile_w + margin)
            fused = _inference(model)(band[:, x0:x1], ir_band[:, x0 // scale:x1 // scale])
            fused_band[:, x:x + tile_w] = fused[y - y0:y - y0 + tile_h, x - x0:x - x0 + tile_w]
        if y < height:
            sink(y, fused_band[:height - y, :width])
    return out


def run_by_bands(function, first, second, unit: int, margin: int, sink) -> None:
    """`function(first_rows, second_rows)` on full-width bands of rows of two same-size images
    (`GrayRows` or arrays), each band starting on a multiple of `unit` with `margin` rows of
    context above and below; each band's own rows of the result go to `sink(top, rows)`."""
    from tf_irgan.rows import band_rows

    first, second = _rows_of(first), _rows_of(second)
    height, width = first.shape
    step = max(unit, band_rows(width) // unit * unit)
    margin += -margin % unit
    for top in range(0, height, step):
        y0, y1 = max(0, top - margin), min(height, top + step + margin)
        rows = function(first.rows(y0, y1), second.rows(y0, y1))
        sink(top, rows[top - y0:min(height, top + step) - y0])


def _rows_of(image):
    return image if hasattr(image, "rows") else ImageRows.of(image)


def _sub_bands(top, bottom, width):
    """(start, end) row ranges of `rows.band_rows` rows covering top..bottom-1."""
    from tf_irgan.rows import band_rows

    step = band_rows(width)
    return [(start, min(bottom, start + step)) for start in range(top, bottom, step)]


class GrayRows:
    """The single channel a model fuses, of an image given as `images.ImageRows`: its rows
    (float32) on demand, the color space's intensity of a color image. The last band asked for
    is kept: the frame search and the generator ask for the same one on images of one band."""

    def __init__(self, image, space):
        self.image, self.space = image, space
        self.shape = image.shape[:2]
        self._last = (None, None)

    def rows(self, top, bottom):
        if self._last[0] != (top, bottom):
            if self.image.ndim == 2:
                gray = self.image.rows(top, bottom)
            else:   # float RGB a few rows at a time: a band of it would cost 3x the gray band
                gray = np.empty((bottom - top, self.shape[1]), np.float32)
                for start, end in _sub_bands(top, bottom, self.shape[1]):
                    gray[start - top:end - top] = self.space.luminance(self.image.rows(start, end))
            self._last = ((top, bottom), gray)
        return self._last[1]

    def whole(self) -> np.ndarray:
        return self.rows(0, self.shape[0])


def _inference(model):
    """The generator as a function of a visible and an IR array (H, W) -> the fused (H, W):
    the `pyramid` generator's fixed filters in OpenCV (`models.pyramid_opencv`, the same numbers
    in a fraction of the time), any other generator as one TensorFlow graph."""
    if model not in _ENGINES:
        from tf_irgan.models.pyramid import PyramidGenerator

        if isinstance(model, PyramidGenerator):
            from tf_irgan.models.pyramid_opencv import OpenCVPyramid
            _ENGINES[model] = OpenCVPyramid(model)
        else:
            import tensorflow as tf

            graph = _compiled(model)
            _ENGINES[model] = lambda vis, ir: graph(
                {"detail": tf.constant(vis[None, :, :, None]),
                 "intensity": tf.constant(ir[None, :, :, None])}).numpy()[0, :, :, 0]
    return _ENGINES[model]


_ENGINES = weakref.WeakKeyDictionary()


def _compiled(model):
    """The generator's inference call as one graph, traced once per model for any size: run
    eagerly, Keras dispatches each of its layers from Python, a quarter of the time of a
    640x480 fusion with the `fast` generator (docs/benchmarks.md)."""
    import tensorflow as tf

    # Kept beside the model, not on it: a tf.function attribute would become part of what the
    # model tracks, and a later export would save it too.
    if model not in _INFERENCE:
        spec = tf.TensorSpec([None, None, None, 1], tf.float32)
        _INFERENCE[model] = tf.function(
            lambda batch: tf.cast(model(batch, training=False), tf.float32),
            input_signature=[{"detail": spec, "intensity": spec}])
    return _INFERENCE[model]


_INFERENCE = weakref.WeakKeyDictionary()


def align_ir(vis_shape, ir: np.ndarray, scale: int, notes: list, ir_name="IR",
             labels=("visible", "IR")) -> np.ndarray:
    """`align_ir_tensor` for numpy arrays (H, W): the same array when it is already on the grid; a note
    when the IR had to be resampled."""
    ceil_shape, floor_shape = ir_grid(vis_shape[0], vis_shape[1], scale)
    if ir.shape == ceil_shape:
        return ir
    if ir.shape not in (floor_shape, tuple(vis_shape[:2])):  # same size: check_serves said so
        notes.append(f"{ir_name}: {ir.shape[1]}x{ir.shape[0]} is not 1/{scale} of the {labels[0]} "
                     f"{vis_shape[1]}x{vis_shape[0]}; resampled onto the {labels[0]} frame")
    import tensorflow as tf
    out = align_ir_tensor(vis_shape, tf.constant(ir[None, :, :, None], tf.float32), scale)
    return out.numpy()[0, :, :, 0]


# ---------------------------------------------------------------- whole images

def fuse_images(vis: np.ndarray, ir: np.ndarray, preset=None, method: str = "ddcgan",
                gray: bool = False, vis_name: str = "visible", ir_name: str = "IR",
                checkpoint=None, color_space: str | None = None,
                modality: str | None = None, stretch: bool = False,
                precision: str = "auto", bit_depth: int | None = None,
                rows_out=None, video: bool = False, color_later: bool = False) -> FuseResult:
    """Fuse a detail image (visible, MRI) with an intensity image (IR, PET); arrays float in [0, 1],
    gray or RGB.

    Both are fused on their intensity in the color space (the preset's unless `color_space`:
    YCbCr for IR/visible, IHS for MRI/PET), and the result gets back the color of the input the
    modality names (the visible image's, the PET's) unless `gray`. `method` is "ddcgan" (a
    preset; chosen by the size ratio when None) or one of the classical baselines, which fuse in
    `modality` (default IR/visible). `stretch` min-max stretches the fused intensity to [0, 1]
    as the official DDcGAN release saves its outputs (off by default: it inflates SD and EN).
    `precision` is the generator's: "fp32", "bf16", or "auto" (bf16 where the hardware computes
    it). `checkpoint` is the old name of `preset`.

    `vis` and `ir` may also be `images.ImageRows` (the file's integers, as `tf-irgan fuse` reads
    them): the generator, the color and `bit_depth`'s quantization then run a band of rows at
    a time, so a large image is never held whole as float. `bit_depth` 8 or 16 gives the result
    as integers of that depth; None, float32 in [0, 1]. `rows_out(shape, dtype)`, when given,
    may return an object that takes those integers' rows in order (`rowfiles.PngRows`, a file
    encoded as it goes): the result is then that object, and never held whole. `video`: the
    frames of a stream, for which the size ratio picks the video presets (`VIDEO_MODEL`).
    `color_later`: a color result comes back as its fused intensity with `colorize` (a video
    stream puts the color back in another thread while the next frame is fused).
    """
    vis, ir = ImageRows.of(vis), ImageRows.of(ir)
    preset_name = preset or checkpoint
    notes = []
    loaded = None
    if method == "ddcgan" and (preset_name or modality in MEDICAL_MODELS):
        loaded = _load_fusion_preset(preset_name or medical_preset(modality, vis.shape, ir.shape),
                                     precision)
        own = loaded.metadata.get("modality", "ir-vis")
        if modality not in (None, own):
            raise UserError(f"--modality {modality}: {loaded.name} fuses {own}; pass a preset "
                            f"trained for {modality} (see `tf-irgan presets`), or leave "
                            "--modality out")
        modality = own
    kind = get_modality(modality or "ir-vis")
    if loaded is not None and kind.name in ("mri-pet", "mri-spect"):
        trained = loaded.metadata.get("data") or f"{'/'.join(kind.labels)} pairs"
        functional = kind.labels[1]
        if ir.ndim == 2:
            notes.append(f"{ir_name}: a gray image; {loaded.name} was trained on color "
                         f"{functional} ({trained}): a gray CT is not what it learned (the "
                         "skull's bright ring can fade); say what it is with --modality mri-ct")
    if color_space is not None and color_space not in COLOR_SPACES:
        raise UserError(f"--color-space {color_space}: use {' or '.join(COLOR_SPACES)}")
    space = (COLOR_SPACES[color_space] if color_space else
             color_space_of(loaded, kind) if loaded is not None else COLOR_SPACES[kind.color_space])
    detail_role, intensity_role = kind.roles
    names = {detail_role: vis_name, intensity_role: ir_name}
    images = {detail_role: vis, intensity_role: ir}
    gray_of = {}
    for role, image in images.items():
        gray_of[role] = GrayRows(image, space)
        if image.ndim == 3 and role != kind.color_role:
            channel = "luminance" if space.name == "ycbcr" else f"{space.name.upper()} intensity"
            notes.append(f"{names[role]}: color {kind.labels[kind.roles.index(role)]} image "
                         f"reduced to its {channel}")
    if (kind.name == "ir-vis" and ir.ndim == 3 and vis.ndim == 2
            and ir.shape[:2] == vis.shape[:2]):
        # Thermal cameras give gray frames and visible ones color: the reverse is a user's slip.
        notes.append(f"{ir_name}: a color image given as the IR, and {vis_name} a gray one as "
                     "the visible: the arguments look swapped (visible first, then IR)")
    vis_y, ir_g = gray_of[detail_role], gray_of[intensity_role]
    ratio = size_ratio(vis_y.shape, ir_g.shape, vis_name, ir_name, notes)
    if kind.name == "ir-vis":
        vis_y, ir_g = framed(vis_y, notes, vis_name), framed(ir_g, notes, ir_name)
    colored = images[kind.color_role]
    in_color = not gray and colored.ndim == 3
    colorize = None
    if in_color and color_later and bit_depth is None and rows_out is None:
        def colorize(intensity):   # `loaded` as it is when called: chosen below
            return restore_color(intensity, colored.whole(), space,
                                 loaded.scale if loaded else round(ratio))
        in_color = False
    gray_note = (not gray and colored.ndim == 2 and kind.color_role != detail_role
                 and kind.name != "mri-ct")   # CT is gray: no note

    def result(image, used):
        if gray_note:
            notes.append(f"{names[kind.color_role]}: gray {kind.labels[1]} image, so the result "
                         "is gray")
        return FuseResult(image, method, used, notes, ratio, colorize)
    if method == "ddcgan":
        if loaded is None:
            loaded = _load_fusion_preset(default_preset(ratio, ir_name, vis_name, video), precision)
        check_serves(loaded.scale, ratio, loaded.name, ir_name, kind.labels, notes,
                     same_size=ir_g.shape == vis_y.shape)
    banded = not in_color or colored.shape[:2] == vis_y.shape
    if banded:
        # A band of rows at a time from the fusion to the output's integers.
        shape = colored.shape if in_color else vis_y.shape
        dtype = np.float32 if bit_depth is None else _INTEGERS[bit_depth]
        out = rows_out(shape, dtype) if rows_out is not None and bit_depth is not None else None
        out = np.empty(shape, dtype) if out is None else out
        extremes = [np.inf, -np.inf]   # --stretch: the fused intensity's, from a first pass

        def measure(top, rows):
            if loaded is not None:
                check_finite(rows, loaded, vis_name)
            part = np.clip(rows, 0.0, 1.0)
            extremes[:] = min(extremes[0], float(part.min())), max(extremes[1], float(part.max()))

        def finish(top, rows):
            if loaded is not None:
                check_finite(rows, loaded, vis_name)
            low, high = extremes
            for start, end in _sub_bands(top, top + len(rows), rows.shape[1]):
                part = np.clip(rows[start - top:end - top], 0.0, 1.0)
                if stretch and high > low:
                    part = (part - low) / (high - low)
                if in_color:
                    part = space.restore_color(part, colored.rows(start, end))
                out[start:end] = part if bit_depth is None else quantized(part, bit_depth)

        def banded_result(run, used):
            """`run(sink)` fuses band by band; with --stretch it runs twice (the first pass
            finds the extremes), so the fused intensity is never held whole."""
            if stretch:
                run(measure)
                notes.append(f"output min-max stretched from [{extremes[0]:.3f}, "
                             f"{extremes[1]:.3f}] to [0, 1] (--stretch)")
            run(finish)
            return result(out, used)
    if method == "ddcgan":
        small = ir_g
        if ir_g.shape != ir_grid(*vis_y.shape, loaded.scale)[0]:   # small: resampled whole
            small = align_ir(vis_y.shape, ir_g.whole(), loaded.scale, notes, ir_name, kind.labels)
        if banded:
            return banded_result(lambda sink: run_generator(loaded.model, vis_y, small,
                                                            loaded.scale, sink=sink), loaded.name)
        fused, used = run_generator(loaded.model, vis_y, small, loaded.scale), loaded.name
        check_finite(fused, loaded, vis_name)
    else:
        from tf_irgan.baselines import BANDED, METHODS
        if method not in METHODS:
            raise UserError(f"--method {method}: use ddcgan or one of {', '.join(METHODS)}")
        if preset_name:
            raise UserError(f"--preset applies to --method ddcgan, not {method} (--checkpoint is "
                            "its old name)")
        if banded and method in BANDED and ir_g.shape == vis_y.shape:
            return banded_result(lambda sink: run_by_bands(METHODS[method], vis_y, ir_g,
                                                           *BANDED[method], sink=sink), None)
        vis_y, ir_g = vis_y.whole(), ir_g.whole()
        if ir_g.shape != vis_y.shape:
            import cv2
            ir_g = np.clip(cv2.resize(ir_g, vis_y.shape[::-1], interpolation=cv2.INTER_CUBIC), 0, 1)
            notes.append(f"{ir_name}: resized to the {kind.labels[0]} size for the {method} baseline")
        fused, used = METHODS[method](vis_y, ir_g), None
    fused = np.clip(np.asarray(fused, np.float32), 0.0, 1.0)
    if stretch:
        low, high = float(fused.min()), float(fused.max())
        fused = (fused - low) / (high - low) if high > low else fused
        notes.append(f"output min-max stretched from [{low:.3f}, {high:.3f}] to [0, 1] (--stretch)")
    if in_color:
        fused = restore_color(fused, colored.whole(), space, loaded.scale if loaded else round(ratio))
    return result(fused if bit_depth is None else quantized(fused, bit_depth), used)


# The integer type of each output bit depth.
_INTEGERS = {8: np.uint8, 16: np.uint16}


def framed(gray, notes: list, name: str):
    """A gray image's border rows and columns without data (one black value only: a thermal
    core's frame, `images.flat_border`) repeat its nearest rows and columns with data. The
    frame's edge would otherwise be the strongest detail there and print a dark band into the
    result; a repeated edge has no detail, so the other image's details fill in over a smooth base.
    `gray` has `shape` and `rows(top, bottom)`; the filled image is given the same way
    (`_Framed`), or `gray` itself where nothing is filled."""
    from tf_irgan.images import flat_border

    border = flat_border(gray)
    if border is None or not any(border[:4]):   # nothing there at all, or nothing missing
        return gray
    top, bottom, left, right, brightest = border
    # A flat border that is not black (an overexposed sky's white rows) is scene; a wide black
    # band is more likely scene clipped to black than a frame.
    if brightest > BLACK or max(top, bottom) > FRAME_SHARE * gray.shape[0] or \
            max(left, right) > FRAME_SHARE * gray.shape[1]:
        return gray
    notes.append(f"{name}: {top + bottom} border row(s) and {left + right} column(s) hold one "
                 "black value only (no data); their nearest data is repeated there, and the "
                 "other image's details fill in")
    return _Framed(gray, top, bottom, left, right)


class _Framed:
    """`framed`'s result: rows of `gray` with its frame replaced by the nearest data."""

    def __init__(self, gray, top, bottom, left, right):
        self.gray, self.shape = gray, gray.shape
        self.sides = top, bottom, left, right

    def rows(self, top, bottom):
        import cv2

        height, width = self.shape
        first, after = self.sides[0], height - self.sides[1]   # the rows with data
        if first <= top and bottom <= after:
            part = self.gray.rows(top, bottom)
        else:
            wanted = np.clip(np.arange(top, bottom), first, after - 1)
            part = self.gray.rows(int(wanted[0]), int(wanted[-1]) + 1)[wanted - wanted[0]]
        left, right = self.sides[2], self.sides[3]
        if left or right:
            inside = np.ascontiguousarray(part[:, left:width - right])
            part = cv2.copyMakeBorder(inside, 0, 0, left, right, cv2.BORDER_REPLICATE)
        return part

    def whole(self) -> np.ndarray:
        return self.rows(0, self.shape[0])


def _load_fusion_preset(name, precision="fp32"):
    from tf_irgan.presets import load_preset

    preset = load_preset(name, precision)
    if preset.task != "fusion":
        raise UserError(f"{name}: is a {preset.task} model; fuse needs a fusion preset "
                        "(see `tf-irgan presets`)")
    return preset


def restore_color(fused: np.ndarray, colored: np.ndarray, space, scale: int = 1) -> np.ndarray:
    """The fused intensity (H, W) under the color of `colored` (h, w, 3). A smaller `colored` (a
    PET at 1/4) goes through the TF ops the SavedModel runs (`serving_graph`), for the same
    bicubic upsampling; one of the same size needs no TensorFlow (the baselines)."""
    if colored.shape[:2] == fused.shape:
        return space.restore_color(fused, colored)
    import tensorflow as tf

    aligned = align_color_tensor(fused.shape, tf.constant(colored[None], tf.float32), max(1, scale))
    out = space.restore_color_tensor(tf.constant(fused[None, :, :, None], tf.float32), aligned)
    return out.numpy()[0]
