"""Training patches: cutting, area downsampling, both HDF5 layouts, bad files, real RoadScene pairs."""

import json

import h5py
import numpy as np
import pytest

from tf_irgan.data.datasets import PatchBatches, load_training_patches
from tf_irgan.data.patches import (PatchSet, downsample_area, extract_patches, holdout_split,
                                   patches_from_folders, read_patches, write_official_layout,
                                   write_patches)
from tf_irgan.errors import UserError
from tf_irgan.images import pair_folders, read_image, to_gray

RNG = np.random.default_rng(11)


def _patch_set(n=5, patch=16, scale=4):
    vis = RNG.random((n, patch, patch), dtype=np.float32)
    ir = RNG.random((n, patch // scale, patch // scale), dtype=np.float32)
    return PatchSet(vis, ir, scale, np.arange(n, dtype=np.int32) % 2,
                    {"layout": "tf-irgan-patches-v1", "patch": patch, "note": "hello",
                     "pairs": json.dumps(["a", "b"])})


# ---------------------------------------------------------------- cutting

def test_downsample_area_is_block_mean():
    image = np.arange(24, dtype=np.float32).reshape(4, 6)
    out = downsample_area(image, 2)
    np.testing.assert_allclose(out, [[(0 + 1 + 6 + 7) / 4, (2 + 3 + 8 + 9) / 4, (4 + 5 + 10 + 11) / 4],
                                     [(12 + 13 + 18 + 19) / 4, (14 + 15 + 20 + 21) / 4,
                                      (16 + 17 + 22 + 23) / 4]])
    assert downsample_area(image, 1) is image
    # Leading axes are kept; a ragged edge is dropped.
    stack = RNG.random((3, 9, 10)).astype(np.float32)
    out = downsample_area(stack, 4)
    assert out.shape == (3, 2, 2) and out.dtype == np.float32
    np.testing.assert_allclose(out[2, 1, 0], stack[2, 4:8, 0:4].mean(), rtol=1e-6)


def test_extract_patches_shapes_positions_and_area_downsampling():
    vis = RNG.random((10, 12)).astype(np.float32)
    ir = RNG.random((10, 12)).astype(np.float32)
    v, i = extract_patches(vis, ir, patch=4, stride=2, scale=2)
    # (10-4)/2+1 = 4 rows x (12-4)/2+1 = 5 columns of windows, row-major.
    assert v.shape == (20, 4, 4) and i.shape == (20, 2, 2)
    assert v.dtype == np.float32 and i.dtype == np.float32
    k = 1 * 5 + 3  # window row 1, column 3 -> top-left (2, 6)
    np.testing.assert_array_equal(v[k], vis[2:6, 6:10])
    np.testing.assert_allclose(i[k], [[ir[2:4, 6:8].mean(), ir[2:4, 8:10].mean()],
                                      [ir[4:6, 6:8].mean(), ir[4:6, 8:10].mean()]], rtol=1e-6)


def test_extract_patches_small_image_and_bad_patch():
    v, i = extract_patches(np.zeros((8, 40), np.float32), np.zeros((8, 40), np.float32), 16, 4, 4)
    assert v.shape == (0, 16, 16) and i.shape == (0, 4, 4)
    with pytest.raises(UserError, match="multiple"):
        extract_patches(np.zeros((20, 20), np.float32), np.zeros((20, 20), np.float32), 10, 5, 4)


def test_holdout_split_keeps_every_kth_out():
    items = list(range(10))
    train, held = holdout_split(items, 3)
    assert held == [2, 5, 8] and train == [0, 1, 3, 4, 6, 7, 9]
    assert holdout_split(items, 0) == (items, [])


# ---------------------------------------------------------------- HDF5: project layout

def test_project_layout_round_trip_with_attributes(tmp_path):
    patches = _patch_set()
    path = write_patches(tmp_path / "p.h5", patches)
    back = read_patches(path)
    np.testing.assert_array_equal(back.detail, patches.detail)
    np.testing.assert_array_equal(back.intensity, patches.intensity)
    np.testing.assert_array_equal(back.source, patches.source)
    assert back.scale == 4 and len(back) == 5
    assert back.attrs["note"] == "hello" and back.attrs["layout"] == "tf-irgan-patches-v1"
    assert back.attrs["patch"] == 16 and type(back.attrs["patch"]) is int  # JSON-serialisable
    json.dumps(back.attrs)
    assert json.loads(back.attrs["pairs"]) == ["a", "b"]
    assert read_patches(path, scale=4).scale == 4
    assert not (tmp_path / ".p.h5.partial").exists()


def test_write_patches_refuses_to_overwrite(tmp_path):
    path = write_patches(tmp_path / "p.h5", _patch_set())
    before = path.read_bytes()
    with pytest.raises(UserError) as err:
        write_patches(path, _patch_set(3))
    assert str(path) in str(err.value)
    assert path.read_bytes() == before
    write_patches(path, _patch_set(3), overwrite=True)
    assert len(read_patches(path)) == 3


# ---------------------------------------------------------------- HDF5: official MATLAB layout

def test_official_layout_round_trip(tmp_path):
    vis = RNG.random((3, 16, 16)).astype(np.float32)
    ir_full = RNG.random((3, 16, 16)).astype(np.float32)
    path = tmp_path / "official.h5"
    write_official_layout(path, vis, ir_full)
    with h5py.File(path, "r") as f:
        assert list(f.keys()) == ["data"]
        assert f["data"].shape == (3, 2, 16, 16)
        # MATLAB order: h5py sees (N, C, W, H), i.e. every patch transposed.
        np.testing.assert_array_equal(f["data"][1, 0], vis[1].T)
    back = read_patches(path, scale=4)
    assert back.attrs["layout"] == "official-matlab" and back.scale == 4
    np.testing.assert_array_equal(back.detail, vis)
    np.testing.assert_allclose(back.intensity, downsample_area(ir_full, 4), rtol=1e-6)
    assert back.intensity.shape == (3, 4, 4)
    # The same arrays in the project layout read back identically.
    project = write_patches(tmp_path / "project.h5", PatchSet(vis, downsample_area(ir_full, 4), 4))
    again = read_patches(project, scale=4)
    np.testing.assert_array_equal(again.detail, back.detail)
    np.testing.assert_allclose(again.intensity, back.intensity, rtol=1e-6)
    # Scale 1 keeps the IR at full resolution; no scale means the official 4.
    np.testing.assert_array_equal(read_patches(path, scale=1).intensity, ir_full)
    assert read_patches(path).scale == 4


def test_official_layout_bad_shapes(tmp_path):
    path = tmp_path / "odd.h5"
    write_official_layout(path, np.zeros((2, 18, 18), np.float32), np.zeros((2, 18, 18), np.float32))
    with pytest.raises(UserError) as err:
        read_patches(path, scale=4)
    assert str(path) in str(err.value)
    path = tmp_path / "three.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("data", data=np.zeros((2, 3, 8, 8), np.float32))
    with pytest.raises(UserError) as err:
        read_patches(path)
    assert str(path) in str(err.value) and "(2, 3, 8, 8)" in str(err.value)


# ---------------------------------------------------------------- HDF5: bad files

def test_corrupt_hdf5_names_the_file(tmp_path):
    path = tmp_path / "corrupt.h5"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 8192, dtype=np.uint8).tobytes())
    with pytest.raises(UserError) as err:
        read_patches(path)
    assert str(path) in str(err.value) and "HDF5" in str(err.value)


def test_missing_hdf5_names_the_file(tmp_path):
    with pytest.raises(UserError) as err:
        read_patches(tmp_path / "absent.h5")
    assert str(tmp_path / "absent.h5") in str(err.value)


def test_hdf5_with_wrong_datasets_names_the_file_and_what_it_holds(tmp_path):
    path = tmp_path / "wrong.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("images", data=np.zeros((2, 8, 8)))
        f.create_dataset("labels", data=np.zeros(2))
    with pytest.raises(UserError) as err:
        read_patches(path)
    assert str(path) in str(err.value) and "images" in str(err.value)


def test_hdf5_with_mismatched_stacks(tmp_path):
    path = tmp_path / "mismatch.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("vis", data=np.zeros((4, 16, 16), np.float32))
        f.create_dataset("ir", data=np.zeros((3, 4, 4), np.float32))
    with pytest.raises(UserError, match="mismatch.h5"):
        read_patches(path)
    path = tmp_path / "ragged.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("detail", data=np.zeros((4, 16, 16), np.float32))
        f.create_dataset("intensity", data=np.zeros((4, 5, 5), np.float32))
    with pytest.raises(UserError, match="ragged.h5"):
        read_patches(path)


def test_patch_files_of_the_former_layout_still_read(tmp_path):
    # Files prepared before the inputs were named detail and intensity hold "vis" and "ir".
    patches = _patch_set(scale=4)
    path = tmp_path / "former.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("vis", data=patches.detail)
        f.create_dataset("ir", data=patches.intensity)
    back = read_patches(path, scale=4)
    np.testing.assert_array_equal(back.detail, patches.detail)
    np.testing.assert_array_equal(back.intensity, patches.intensity)


def test_scale_mismatch_names_the_file(tmp_path):
    path = write_patches(tmp_path / "x4.h5", _patch_set(scale=4))
    with pytest.raises(UserError) as err:
        read_patches(path, scale=1)
    assert str(path) in str(err.value) and "--scale 4" in str(err.value)


def test_patch_size_mismatch_names_the_file(tmp_path):
    path = write_patches(tmp_path / "p16.h5", _patch_set(patch=16))
    with pytest.raises(UserError) as err:
        load_training_patches(path, scale=4, patch=32)
    assert str(path) in str(err.value) and "--patch 16" in str(err.value)
    assert len(load_training_patches(path, scale=4, patch=16)) == 5


# ---------------------------------------------------------------- batches

def test_patch_batches_are_a_resumable_permutation():
    patches = _patch_set(n=10)
    batches = PatchBatches(patches, batch_size=3, seed=5)
    assert batches.steps_per_epoch == 3
    stream = batches.iterate()
    first = [next(stream) for _ in range(7)]
    assert first[0]["detail"].shape == (3, 16, 16, 1) and first[0]["intensity"].shape == (3, 4, 4, 1)
    # One epoch covers 9 distinct patches.
    seen = np.concatenate([b["detail"][:, 0, 0, 0] for b in first[:3]])
    assert len(set(seen.tolist())) == 9
    # Starting at batch 4 gives exactly what the uninterrupted stream gave there.
    resumed = batches.iterate(start_batch=4)
    for expected in first[4:]:
        got = next(resumed)
        np.testing.assert_array_equal(got["detail"], expected["detail"])
        np.testing.assert_array_equal(got["intensity"], expected["intensity"])
    with pytest.raises(UserError, match="batch"):
        PatchBatches(patches, batch_size=11)


# ---------------------------------------------------------------- real pairs

def test_patches_from_real_roadscene_pairs(tmp_path, copy_roadscene):
    vi_dir, ir_dir, names = copy_roadscene(tmp_path, 3)
    patch, stride, scale = 64, 96, 4
    patches = patches_from_folders(vi_dir, ir_dir, patch=patch, stride=stride, scale=scale,
                                   holdout_every=3)
    attrs = patches.attrs
    assert json.loads(attrs["pairs"]) == names[:2]
    assert json.loads(attrs["held_out"]) == [names[2]]
    assert attrs["patch"] == patch and attrs["stride"] == stride and attrs["scale"] == scale

    pairs = pair_folders(vi_dir, ir_dir)
    counts = []
    for pair in pairs[:2]:
        h, w = read_image(pair.vis).shape[:2]
        counts.append(((h - patch) // stride + 1) * ((w - patch) // stride + 1))
    assert len(patches) == sum(counts)
    assert patches.detail.shape == (sum(counts), patch, patch)
    assert patches.intensity.shape == (sum(counts), patch // scale, patch // scale)
    np.testing.assert_array_equal(np.bincount(patches.source), counts)
    assert 0.0 <= patches.detail.min() and patches.detail.max() <= 1.0

    # The first patch of the second pair: the visible luminance and the block-mean IR.
    vis = to_gray(read_image(pairs[1].vis))
    ir = to_gray(read_image(pairs[1].ir))
    first = counts[0]
    np.testing.assert_allclose(patches.detail[first], vis[:patch, :patch], atol=1e-6)
    np.testing.assert_allclose(patches.intensity[first], downsample_area(ir[:patch, :patch], scale), atol=1e-6)

    # Through an HDF5 file and back, attributes included.
    back = read_patches(write_patches(tmp_path / "rs.h5", patches), scale=scale)
    np.testing.assert_array_equal(back.detail, patches.detail)
    assert json.loads(back.attrs["held_out"]) == [names[2]]


def test_patches_from_folders_errors(tmp_path, copy_roadscene):
    vi_dir, ir_dir, _ = copy_roadscene(tmp_path, 1)
    with pytest.raises(UserError, match="smaller than"):
        patches_from_folders(vi_dir, ir_dir, patch=2048, stride=14, scale=4)
    # An image smaller than the patch among larger ones contributes nothing (and breaks nothing).
    import cv2
    cv2.imwrite(str(vi_dir / "small.png"), np.zeros((20, 40), np.uint8))
    cv2.imwrite(str(ir_dir / "small.png"), np.zeros((20, 40), np.uint8))
    mixed = patches_from_folders(vi_dir, ir_dir, patch=32, stride=64, scale=4)
    assert mixed.intensity.shape[1:] == (8, 8) and len(mixed) > 0
    assert np.bincount(mixed.source, minlength=2)[1] == 0  # "small" sorts after FLIR_*
    with pytest.raises(UserError, match="--stride"):
        patches_from_folders(vi_dir, ir_dir, patch=32, stride=0, scale=4)
    with pytest.raises(UserError) as err:
        load_training_patches(tmp_path / "vi", scale=4)  # a folder without vi/ and ir/ inside
    assert str(tmp_path / "vi") in str(err.value)
    # A folder with vi/ and ir/ inside is cut on the fly.
    assert len(load_training_patches(tmp_path, scale=4, patch=32, stride=200)) > 0
