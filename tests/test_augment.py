"""Data augmentation: NumPy reference vs torch twin, known answers, statistics, bad input."""

import math

import numpy as np
import pytest
import torch
from helpers import assert_close, assert_refused, to_numpy
from scipy import ndimage

from tipslib.augment import numpy_impl as A
from tipslib.augment import torch_impl as TA


def chw(img):
    """HWC NumPy image -> CHW tensor."""
    return torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)


def nchw(batch):
    return torch.from_numpy(np.ascontiguousarray(batch)).permute(0, 3, 1, 2)


def hwc(t):
    return to_numpy(t.permute(1, 2, 0) if t.ndim == 3 else t.permute(0, 2, 3, 1))


@pytest.fixture
def img(rng):
    return rng.random((13, 17, 3))  # odd and even sizes, not square: catches swapped axes


# ----------------------------------------------------------------------------- deterministic parity
DETERMINISTIC = [
    ("hflip", (), {}),
    ("vflip", (), {}),
    ("rotate", (23.5,), {}),
    ("rotate", (-170.0,), {"fill": 0.4}),
    ("rotate", (0.0,), {}),
    ("crop_resize", (1.5, 2.25, 7.5, 11.0), {}),
    ("crop_resize", (0, 0, 13, 17), {}),
    ("crop_resize", (3, 0, 10, 17), {}),
    ("color_shift", ([0.2, -0.3, 0.05],), {}),
    ("erase", (2, 3, 5, 7), {"value": 0.5}),
    ("erase", (0, 0, 0, 4), {}),
    ("adjust_contrast_brightness", (1.7, -0.1), {}),
    ("adjust_contrast_brightness", (0.3, 0.2), {}),
]


@pytest.mark.parametrize("name,args,kwargs", DETERMINISTIC, ids=lambda v: str(v) if not isinstance(v, dict) else "")
def test_deterministic_twins_agree_float64(name, args, kwargs, img):
    ours = getattr(A, name)(img, *args, **kwargs)
    twin = getattr(TA, name)(chw(img), *args, **kwargs)
    assert ours.dtype == np.float64 and twin.dtype == torch.float64
    assert_close(hwc(twin), ours, rtol=1e-12, atol=1e-13)


def test_noise_and_drop_pixels_twins_agree(img, rng):
    noise = 0.1 * rng.standard_normal(img.shape)
    assert_close(hwc(TA.add_noise(chw(img), chw(noise))), A.add_noise(img, noise), rtol=0, atol=1e-15)
    mask = rng.random(img.shape[:2]) < 0.3
    assert_close(hwc(TA.drop_pixels(chw(img), torch.from_numpy(mask), 0.7)), A.drop_pixels(img, mask, 0.7))


@pytest.mark.parametrize("name,args,kwargs", DETERMINISTIC, ids=lambda v: str(v) if not isinstance(v, dict) else "")
def test_deterministic_twins_agree_uint8(name, args, kwargs, img):
    u8 = np.round(img * 255).astype(np.uint8)
    ours = getattr(A, name)(u8, *args, **kwargs)
    twin = hwc(getattr(TA, name)(chw(u8), *args, **kwargs))
    assert ours.dtype == np.uint8 and twin.dtype == np.uint8
    # torch computes uint8 in float32, NumPy in float64: a value on a .5 boundary may round apart.
    diff = np.abs(ours.astype(int) - twin.astype(int))
    assert diff.max() <= 1 and (diff > 0).mean() < 0.1


def test_batch_with_per_image_parameters_matches_numpy_loop(rng):
    batch = rng.random((5, 9, 12, 3))
    angles = np.array([-20.0, -3.5, 0.0, 11.0, 44.0])
    out = TA.rotate(nchw(batch), torch.tensor(angles), fill=0.25)
    for k in range(5):
        assert_close(hwc(out[k]), A.rotate(batch[k], angles[k], fill=0.25), rtol=1e-12, atol=1e-13)
    tops, lefts = np.array([0.0, 1.0, 2.5, 0.2, 3.0]), np.array([0.0, 2.0, 0.5, 4.0, 1.0])
    heights, widths = np.array([9.0, 6.0, 5.0, 8.5, 4.0]), np.array([12.0, 9.0, 7.5, 8.0, 3.0])
    out = TA.crop_resize(nchw(batch), *(torch.tensor(v) for v in (tops, lefts, heights, widths)))
    for k in range(5):
        assert_close(hwc(out[k]), A.crop_resize(batch[k], tops[k], lefts[k], heights[k], widths[k]),
                     rtol=1e-12, atol=1e-13)
    shifts = rng.uniform(-0.3, 0.3, size=(5, 3))
    out = TA.color_shift(nchw(batch), torch.tensor(shifts))
    for k in range(5):
        assert_close(hwc(out[k]), A.color_shift(batch[k], shifts[k]))
    c, b = rng.uniform(0.5, 1.5, 5), rng.uniform(-0.2, 0.2, 5)
    out = TA.adjust_contrast_brightness(nchw(batch), torch.tensor(c), torch.tensor(b))
    for k in range(5):
        assert_close(hwc(out[k]), A.adjust_contrast_brightness(batch[k], c[k], b[k]), rtol=1e-12, atol=1e-13)
    box = [torch.tensor(v) for v in ([0, 1, 2, 8, 0], [0, 3, 1, 11, 5], [9, 2, 0, 1, 4], [3, 5, 4, 1, 7])]
    out = TA.erase(nchw(batch), *box, value=1.0)
    for k in range(5):
        assert_close(hwc(out[k]), A.erase(batch[k], *(int(v[k]) for v in box), value=1.0))


# ----------------------------------------------------------------------------- known answers
def _builtin_affine(batch, theta, padding_mode):
    """torch's own route: affine_grid in normalised coordinates, then grid_sample."""
    grid = torch.nn.functional.affine_grid(theta, list(batch.shape), align_corners=False)
    return torch.nn.functional.grid_sample(batch, grid, mode="bilinear", padding_mode=padding_mode,
                                           align_corners=False)


def test_rotate_and_crop_match_affine_grid_built_in(rng):
    """Our pixel-space maps, written as affine_grid matrices (aspect ratio included), agree."""
    batch = nchw(rng.random((4, 9, 14, 3)))
    h, w = 9, 14
    angles = torch.tensor([-30.0, 5.0, 60.0, 170.0], dtype=torch.float64)
    t = torch.deg2rad(angles)
    cos, sin = torch.cos(t), torch.sin(t)
    theta = torch.stack([torch.stack([cos, -sin * h / w, torch.zeros(4, dtype=torch.float64)], 1),
                         torch.stack([sin * w / h, cos, torch.zeros(4, dtype=torch.float64)], 1)], 1)
    assert_close(TA.rotate(batch, angles), _builtin_affine(batch, theta, "zeros"), rtol=1e-12, atol=1e-13)
    top, left = torch.tensor([0.0, 1.0, 2.5, 3.0], dtype=torch.float64), torch.tensor([0.0, 2.0, 0.5, 4.0], dtype=torch.float64)
    height, width = torch.tensor([9.0, 6.0, 5.0, 4.5], dtype=torch.float64), torch.tensor([14.0, 9.0, 7.5, 8.0], dtype=torch.float64)
    zeros = torch.zeros(4, dtype=torch.float64)
    theta = torch.stack([torch.stack([width / w, zeros, (2 * left + width) / w - 1], 1),
                         torch.stack([zeros, height / h, (2 * top + height) / h - 1], 1)], 1)
    assert_close(TA.crop_resize(batch, top, left, height, width), _builtin_affine(batch, theta, "border"),
                 rtol=1e-12, atol=1e-13)


def test_flips_are_mirror_images(img):
    assert_close(A.hflip(img), img[:, ::-1])
    assert_close(A.vflip(img), img[::-1])
    assert_close(A.hflip(A.hflip(img)), img)
    assert A.hflip(img).flags.c_contiguous and not np.shares_memory(A.hflip(img), img)


@pytest.mark.parametrize("n", [7, 8])
def test_right_angle_rotations_are_exact_permutations(n, rng):
    square = rng.random((n, n, 2))
    # +90 degrees turns the picture counter-clockwise as displayed, like np.rot90.
    assert_close(A.rotate(square, 90.0), np.rot90(square, 1), rtol=0, atol=1e-12)
    assert_close(A.rotate(square, -90.0), np.rot90(square, -1), rtol=0, atol=1e-12)
    assert_close(A.rotate(square, 180.0), square[::-1, ::-1], rtol=0, atol=1e-12)
    assert_close(A.rotate(square, 0.0), square, rtol=0, atol=1e-12)


@pytest.mark.parametrize("angle", [-25.0, -4.0, 7.0, 13.0, 30.0])
def test_rotate_matches_scipy_on_the_interior(angle, rng):
    img = rng.random((31, 37, 2))
    ours = A.rotate(img, angle)
    ref = ndimage.rotate(img, angle, axes=(1, 0), reshape=False, order=1, mode="constant", cval=0.0)
    # Only where the source point is well inside the image: the edge handling of the two differs.
    i, j = np.mgrid[:31, :37]
    inside = np.hypot(i - 15, j - 18) < 13
    assert_close(ours[inside], ref[inside], rtol=1e-10, atol=1e-12)
    assert np.abs(ours - img)[inside].max() > 0.1  # the rotation did something


def test_rotate_turns_a_marker_about_the_centre():
    img = np.zeros((21, 21, 1))
    img[10, 18] = 1.0  # 8 pixels right of the centre (10, 10)
    out = A.rotate(img, 90.0)  # counter-clockwise: right of centre goes to above it
    assert out[2, 10, 0] == pytest.approx(1.0)
    assert out.sum() == pytest.approx(1.0)


def test_crop_resize_of_a_linear_ramp_is_the_ramp_at_the_source_points():
    h, w = 10, 14
    i, j = np.mgrid[:h, :w].astype(float)
    ramp = (0.02 * i + 0.03 * j + 0.1)[..., None]  # bilinear interpolation is exact on it
    top, left, height, width = 2.0, 3.5, 5.0, 7.0
    ys = top + (np.arange(h) + 0.5) * height / h - 0.5
    xs = left + (np.arange(w) + 0.5) * width / w - 0.5
    expected = (0.02 * ys[:, None] + 0.03 * xs[None, :] + 0.1)[..., None]
    assert_close(A.crop_resize(ramp, top, left, height, width), expected, rtol=1e-12, atol=1e-14)
    assert_close(hwc(TA.crop_resize(chw(ramp), top, left, height, width)), expected, rtol=1e-12, atol=1e-14)


def test_crop_resize_clamps_to_the_border_when_upscaling_a_corner(rng):
    img = rng.random((8, 8, 3))
    out = A.crop_resize(img, 0, 0, 2, 2)  # x4 zoom on the top-left 2x2 pixels
    assert_close(out[0, 0], img[0, 0])  # source point (-0.375, -0.375) clamps to pixel (0, 0)
    assert out.min() >= img[:2, :2].min() - 1e-12 and out.max() <= img[:2, :2].max() + 1e-12


def test_crop_resize_matches_interpolate_for_a_full_box_resize(rng):
    # Not a crop but a consistency check of the align_corners=False convention:
    # the full box is the identity, and F.interpolate agrees on the same points.
    img = rng.random((6, 10, 2))
    assert_close(A.crop_resize(img, 0, 0, 6, 10), img, rtol=0, atol=1e-14)
    half = A.crop_resize(img, 0, 0, 3, 5)
    up = torch.nn.functional.interpolate(chw(img[:3, :5])[None], size=(6, 10), mode="bilinear",
                                         align_corners=False)[0]
    # The last row/column read a little beyond the box (the image goes on there);
    # interpolate, which only has the 3x5 crop, clamps to its edge instead.
    assert_close(half[:-1, :-1], hwc(up)[:-1, :-1], rtol=1e-12, atol=1e-13)
    assert np.abs(half[-1] - hwc(up)[-1]).max() > 1e-3


def test_intensity_functions_known_answers(img):
    out = A.color_shift(img, [0.1, 0.0, -0.1])
    assert_close(out[..., 1], img[..., 1])
    assert_close(out[..., 0], np.clip(img[..., 0] + 0.1, 0, 1))
    flat = A.adjust_contrast_brightness(img, 0.0, 0.0)
    assert_close(flat, np.full_like(img, img.mean()))
    same = A.adjust_contrast_brightness(img, 1.0, 0.0)
    assert_close(same, img)
    erased = A.erase(img, 1, 2, 3, 4, value=1.0)
    assert (erased[1:4, 2:6] == 1.0).all()
    erased[1:4, 2:6] = img[1:4, 2:6]
    assert_close(erased, img)


# ----------------------------------------------------------------------------- dtype and range
def _numpy_pipeline(rng=None, image_shape=None):
    return A.Compose([A.RandomFlip(p=0.5, vertical=True), A.RandomRotation(20), A.RandomCrop((0.4, 1.0)),
                      A.ColorShift(0.3), A.GaussianNoise(0.3), A.RandomErasing(p=0.7), A.PixelDropout(0.1),
                      A.ContrastBrightness(0.5, 0.3)], rng=rng, image_shape=image_shape)


def _torch_pipeline(generator=None, image_shape=None):
    return TA.Compose([TA.RandomFlip(p=0.5, vertical=True), TA.RandomRotation(20), TA.RandomCrop((0.4, 1.0)),
                       TA.ColorShift(0.3), TA.GaussianNoise(0.3), TA.RandomErasing(p=0.7), TA.PixelDropout(0.1),
                       TA.ContrastBrightness(0.5, 0.3)], generator=generator, image_shape=image_shape)


@pytest.mark.parametrize("dtype", [np.uint8, np.float32, np.float64])
def test_numpy_pipeline_keeps_dtype_and_range(dtype, rng):
    batch = rng.random((6, 10, 12, 3))
    batch = (batch * 255).round().astype(np.uint8) if dtype == np.uint8 else batch.astype(dtype)
    out = _numpy_pipeline(rng)(batch)
    assert out.dtype == dtype and out.shape == batch.shape
    peak = 255 if dtype == np.uint8 else 1.0
    assert out.min() >= 0 and out.max() <= peak
    assert not np.array_equal(out[0], out[1]) or not np.array_equal(batch[0], batch[1])


@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32, torch.float64])
def test_torch_pipeline_keeps_dtype_range_and_device(dtype, device, generator):
    batch = torch.rand(6, 3, 10, 12, generator=generator)
    batch = (batch * 255).round().to(torch.uint8) if dtype == torch.uint8 else batch.to(dtype)
    batch = batch.to(device)
    gen = torch.Generator(device=device).manual_seed(1)
    out = _torch_pipeline(gen)(batch)
    assert out.dtype == dtype and out.shape == batch.shape and out.device == batch.device
    peak = 255 if dtype == torch.uint8 else 1.0
    assert float(out.min()) >= 0 and float(out.max()) <= peak


def test_uint8_noise_and_shift_are_in_units_of_the_full_range():
    """On uint8 a noise or shift of 0.2 means 0.2 * 255 = 51 levels, as on [0, 1] it means 0.2."""
    im = np.full((4, 5, 3), 100, dtype=np.uint8)
    np.testing.assert_array_equal(A.add_noise(im, np.full(im.shape, 0.2)), np.full(im.shape, 151, np.uint8))
    np.testing.assert_array_equal(A.color_shift(im, [0.2, -0.2, 0.0])[0, 0], [151, 49, 100])
    np.testing.assert_array_equal(A.drop_pixels(im, np.ones((4, 5), bool), 0.2), np.full(im.shape, 51, np.uint8))
    f = im / 255.0
    assert_close(A.add_noise(f, np.full(im.shape, 0.2)), f + 0.2)


def test_erase_and_flips_return_a_new_image_and_leave_their_input_alone():
    im = np.full((4, 5, 3), 0.5)
    out = A.erase(im, 0, 0, 2, 2, 0.0)
    assert (out[:2, :2] == 0).all() and (im == 0.5).all()
    for flip in (A.hflip, A.vflip):  # a flip is a new array too, not a view a caller could write through
        assert not np.shares_memory(flip(im), im)


def test_every_function_keeps_uint8_and_float32(rng):
    for dtype in (np.uint8, np.float32):
        base = rng.random((8, 9, 3))
        im = (base * 255).round().astype(np.uint8) if dtype == np.uint8 else base.astype(dtype)
        outs = [A.hflip(im), A.vflip(im), A.rotate(im, 10.0, fill=1.0), A.crop_resize(im, 1, 1, 5, 6),
                A.color_shift(im, [0.5, -0.5, 0.0]), A.add_noise(im, rng.normal(size=im.shape)),
                A.erase(im, 0, 0, 2, 2, 0.3), A.drop_pixels(im, rng.random((8, 9)) < 0.5, 1.0),
                A.adjust_contrast_brightness(im, 3.0, 0.5)]
        for out in outs:
            assert out.dtype == dtype and out.shape == im.shape
            assert out.min() >= 0 and out.max() <= (255 if dtype == np.uint8 else 1)


# ----------------------------------------------------------------------------- random transforms
NUMPY_TRANSFORMS = [A.RandomFlip(0.5, True, True), A.RandomRotation(30.0, 0.2), A.RandomCrop((0.3, 0.9)),
                    A.ColorShift(0.2), A.GaussianNoise(0.1), A.RandomErasing(0.8), A.PixelDropout(0.2),
                    A.ContrastBrightness(0.4, 0.2)]


def _to_numpy_params(params, k):
    out = {}
    for key, v in params.items():
        v = to_numpy(v[k])
        out[key] = v.item() if v.ndim == 0 else (v.astype(np.float64) if v.dtype.kind == "f" else v)
        if isinstance(out[key], float) and key in ("top", "left", "height", "width") and params[key].dtype == torch.int64:
            out[key] = int(out[key])
    if "noise" in out:
        out["noise"] = np.moveaxis(out["noise"], 0, -1)  # CHW -> HWC
    return out


@pytest.mark.parametrize("t_np", NUMPY_TRANSFORMS, ids=lambda t: type(t).__name__)
def test_random_transforms_apply_the_same_parameters_identically(t_np, rng, generator):
    """Parameters drawn once by the torch twin, then applied by both twins, image by image."""
    t_th = getattr(TA, type(t_np).__name__)(**vars(t_np))
    batch = rng.random((7, 11, 13, 3))
    tb = nchw(batch)
    kwargs = {"dtype": torch.float64} if isinstance(t_th, TA.GaussianNoise) else {}
    params = t_th.draw(tuple(tb.shape), generator, **kwargs)
    out = t_th.apply(tb, params)
    for k in range(7):
        expected = t_np.apply(batch[k], _to_numpy_params(params, k))
        assert_close(hwc(out[k]), expected, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("t_np", NUMPY_TRANSFORMS, ids=lambda t: type(t).__name__)
def test_call_is_apply_of_draw(t_np, rng):
    """Within one backend: the same seed gives the same draw, and __call__ = apply(draw)."""
    img = rng.random((9, 10, 3))
    expected = t_np.apply(img, t_np.draw(img.shape, np.random.default_rng(5)))
    assert_close(t_np(img, np.random.default_rng(5)), expected)
    t_th = getattr(TA, type(t_np).__name__)(**vars(t_np))
    batch = nchw(rng.random((4, 9, 10, 3)))
    params = t_th.draw(tuple(batch.shape), torch.Generator().manual_seed(5),
                       **({"dtype": torch.float64} if isinstance(t_th, TA.GaussianNoise) else {}))
    assert_close(t_th(batch, torch.Generator().manual_seed(5)), t_th.apply(batch, params))


N_DRAWS = 4000


def _torch_draws(t, shape=(N_DRAWS, 3, 20, 30)):
    return {k: to_numpy(v).astype(float) for k, v in t.draw(shape, torch.Generator().manual_seed(11)).items()}


def _numpy_draws(t, shape=(20, 30, 3)):
    rng = np.random.default_rng(11)
    draws = [t.draw(shape, rng) for _ in range(N_DRAWS)]
    return {k: np.array([d[k] for d in draws], dtype=float) for k in draws[0]}


BOTH = [("numpy", _numpy_draws, A), ("torch", _torch_draws, TA)]
SE = 5 / math.sqrt(N_DRAWS)  # five standard errors of a mean of unit-variance draws


@pytest.mark.parametrize("backend,draws,mod", BOTH, ids=[b[0] for b in BOTH])
def test_rotation_angles_are_uniform(backend, draws, mod):
    a = draws(mod.RandomRotation(12.0))["angle"]
    assert a.min() >= -12 and a.max() <= 12
    assert abs(a.mean()) < 12 * SE / math.sqrt(3)
    assert a.var() == pytest.approx(12 ** 2 / 3, rel=0.06)
    assert np.histogram(a, bins=4, range=(-12, 12))[0].min() > N_DRAWS / 4 * 0.9


@pytest.mark.parametrize("backend,draws,mod", BOTH, ids=[b[0] for b in BOTH])
def test_crop_boxes_fit_and_have_the_area_asked(backend, draws, mod):
    d = draws(mod.RandomCrop((0.25, 0.64)))
    area = d["height"] * d["width"] / (20 * 30)
    assert area.min() >= 0.25 - 1e-9 and area.max() <= 0.64 + 1e-9
    assert area.mean() == pytest.approx((0.25 + 0.64) / 2, abs=0.39 * SE)
    assert_close(d["height"] / 20, d["width"] / 30)  # the aspect ratio is kept
    assert (d["top"] >= 0).all() and (d["top"] + d["height"] <= 20 + 1e-9).all()
    assert (d["left"] >= 0).all() and (d["left"] + d["width"] <= 30 + 1e-9).all()
    # the box position is uniform over the free room
    assert (d["top"] / (20 - d["height"])).mean() == pytest.approx(0.5, abs=0.3 * SE)


@pytest.mark.parametrize("backend,draws,mod", BOTH, ids=[b[0] for b in BOTH])
def test_flip_frequencies_and_independence(backend, draws, mod):
    d = draws(mod.RandomFlip(0.3, True, True))
    h, v = d["horizontal"], d["vertical"]
    assert h.mean() == pytest.approx(0.3, abs=0.46 * SE)
    assert v.mean() == pytest.approx(0.3, abs=0.46 * SE)
    assert (h * v).mean() == pytest.approx(0.09, abs=0.3 * SE)
    assert draws(mod.RandomFlip(0.3, True, False))["vertical"].sum() == 0


@pytest.mark.parametrize("backend,draws,mod", BOTH, ids=[b[0] for b in BOTH])
def test_color_shift_and_contrast_ranges(backend, draws, mod):
    s = draws(mod.ColorShift(0.2))["shift"]
    assert s.shape == (N_DRAWS, 3) and np.abs(s).max() <= 0.2
    assert np.abs(s.mean(axis=0)).max() < 0.2 * SE
    assert abs(np.corrcoef(s[:, 0], s[:, 1])[0, 1]) < SE  # channels shift independently
    d = draws(mod.ContrastBrightness(0.4, 0.1))
    assert d["contrast"].min() >= 0.6 and d["contrast"].max() <= 1.4
    assert d["contrast"].mean() == pytest.approx(1.0, abs=0.4 * SE)
    assert np.abs(d["brightness"]).max() <= 0.1


@pytest.mark.parametrize("backend,draws,mod", BOTH, ids=[b[0] for b in BOTH])
def test_erasing_probability_and_box_sizes(backend, draws, mod):
    d = draws(mod.RandomErasing(p=0.6, scale=(0.05, 0.2), ratio=(0.5, 2.0)))
    erased = d["height"] > 0
    assert erased.mean() == pytest.approx(0.6, abs=0.5 * SE)
    assert ((d["height"] > 0) == (d["width"] > 0)).all()
    area = (d["height"] * d["width"])[erased] / 600
    assert area.min() > 0.02 and area.max() < 0.3  # the scale range, give or take the rounding
    assert area.mean() == pytest.approx(0.125, abs=0.02)
    assert (d["top"] + d["height"] <= 20).all() and (d["left"] + d["width"] <= 30).all()
    assert (d["top"] >= 0).all() and (d["left"] >= 0).all()


def test_noise_and_pixel_dropout_statistics(rng, generator):
    noise = A.GaussianNoise(0.07).draw((50, 60, 3), rng)["noise"]
    assert noise.std() == pytest.approx(0.07, rel=0.03) and abs(noise.mean()) < 0.002
    tnoise = TA.GaussianNoise(0.07).draw((10, 3, 50, 60), generator)["noise"]
    assert float(tnoise.std()) == pytest.approx(0.07, rel=0.03)
    mask = A.PixelDropout(0.15).draw((100, 100, 3), rng)["mask"]
    assert mask.shape == (100, 100) and mask.mean() == pytest.approx(0.15, abs=0.015)
    tmask = TA.PixelDropout(0.15).draw((8, 3, 100, 100), generator)["mask"]
    assert tmask.shape == (8, 100, 100) and float(tmask.float().mean()) == pytest.approx(0.15, abs=0.01)
    img = np.full((100, 100, 3), 0.5)
    out = A.PixelDropout(0.15, value=1.0)(img, rng)
    assert ((out == 1.0).all(axis=2) == (out != 0.5).any(axis=2)).all()  # whole pixels, all channels


def test_torch_draws_are_independent_across_images_of_a_batch():
    gen = torch.Generator().manual_seed(0)
    angles = torch.stack([TA.RandomRotation(10.0).draw((64, 3, 8, 8), gen)["angle"] for _ in range(300)])
    corr = np.corrcoef(to_numpy(angles).T)  # 64 x 64 correlations between image slots
    off = corr[~np.eye(64, dtype=bool)]
    assert np.abs(off).max() < 0.3 and abs(off.mean()) < 0.02
    batch = torch.full((16, 3, 12, 12), 0.5, dtype=torch.float64)
    out = _torch_pipeline(torch.Generator().manual_seed(1))(batch)
    flat = out.reshape(16, -1)
    assert len({tuple(r.tolist()) for r in flat}) == 16  # identical inputs, 16 different outputs


def test_numpy_compose_draws_new_parameters_per_image_and_per_call(rng):
    batch = np.full((8, 12, 12, 3), 0.5)
    pipe = A.Compose([A.RandomRotation(30.0, fill=1.0), A.ColorShift(0.2)], rng=rng)
    out1, out2 = pipe(batch), pipe(batch)
    assert len({o.tobytes() for o in out1}) == 8
    assert not np.array_equal(out1, out2)


def test_compose_on_flattened_digits_and_in_fit():
    from tipslib.data import load_digits
    from tipslib.layers import numpy_impl as L
    from tipslib.losses import numpy_impl as LS
    from tipslib.optim import numpy_impl as O
    from tipslib.training import numpy_impl as T

    x, y = load_digits()
    x, y = x[:64], y[:64]
    pipe = A.Compose([A.RandomRotation(10.0), A.RandomCrop((0.8, 1.0)), A.GaussianNoise(0.05)],
                     rng=np.random.default_rng(0), image_shape=(8, 8, 1))
    out = pipe(x)
    assert out.shape == x.shape and out.dtype == x.dtype and not np.array_equal(out, x)
    seen = []

    def spy(xb):
        seen.append(xb)
        return pipe(xb)

    rng = np.random.default_rng(0)
    model = L.Sequential(L.Linear(64, 10, rng=rng))
    T.fit(model, LS.CrossEntropyLoss(), O.SGD(model.params, lr=0.1), x, y, epochs=2, batch_size=16,
          rng=rng, transform=spy, progress=False)
    assert len(seen) == 8

    tpipe = TA.Compose([TA.RandomRotation(10.0), TA.GaussianNoise(0.05)],
                       generator=torch.Generator().manual_seed(0), image_shape=(1, 8, 8))
    tx = torch.tensor(x)
    tout = tpipe(tx)
    assert tout.shape == tx.shape and not torch.equal(tout, tx)


def test_torch_single_image_and_3d_calls(rng):
    im = chw(rng.random((8, 9, 3)))
    assert TA.RandomRotation(10.0)(im, torch.Generator().manual_seed(0)).shape == im.shape
    assert TA.rotate(im, 5.0).shape == im.shape
    assert _torch_pipeline(torch.Generator().manual_seed(0))(im).shape == im.shape
    assert _numpy_pipeline(rng)(rng.random((8, 9, 3))).shape == (8, 9, 3)


# ----------------------------------------------------------------------------- bad input
IMG = np.zeros((8, 10, 3))
TIMG = torch.zeros(2, 3, 8, 10)

BAD = [
    ("crop taller than the image", lambda: A.crop_resize(IMG, 0, 0, 9, 5), ValueError, "'height'"),
    ("crop wider than the image (torch)", lambda: TA.crop_resize(TIMG, 0, 2, 4, 9), ValueError, "'width'"),
    ("crop box per image too big (torch)",
     lambda: TA.crop_resize(TIMG, torch.tensor([0.0, 5.0]), 0.0, torch.tensor([4.0, 4.0]), 5.0), ValueError, "'height'"),
    ("crop negative top", lambda: A.crop_resize(IMG, -1, 0, 4, 4), ValueError, "'top'"),
    ("crop height 0", lambda: A.crop_resize(IMG, 0, 0, 0, 4), ValueError, "'height'"),
    ("crop top not a number", lambda: A.crop_resize(IMG, "0", 0, 4, 4), TypeError, "'top'"),
    ("erase box outside", lambda: A.erase(IMG, 5, 0, 4, 2), ValueError, "'height'"),
    ("erase float box", lambda: A.erase(IMG, 1.5, 0, 2, 2), TypeError, "'top'"),
    ("erase value 2", lambda: TA.erase(TIMG, 0, 0, 2, 2, value=2.0), ValueError, "'value'"),
    ("shift for 4 channels on RGB", lambda: A.color_shift(IMG, [0.1, 0.1, 0.1, 0.1]), ValueError, "'shift'"),
    ("shift for 2 channels (torch)", lambda: TA.color_shift(TIMG, [0.1, 0.1]), ValueError, "'shift'"),
    ("shift out of range", lambda: A.color_shift(IMG, [1.5, 0, 0]), ValueError, "'shift'"),
    ("shift of strings", lambda: A.color_shift(IMG, ["a", "b", "c"]), TypeError, "'shift'"),
    ("shift None (torch)", lambda: TA.color_shift(TIMG, None), TypeError, "'shift'"),
    ("angle 200", lambda: A.rotate(IMG, 200.0), ValueError, "'angle'"),
    ("angle nan (torch)", lambda: TA.rotate(TIMG, float("nan")), ValueError, "'angle'"),
    ("angle tensor out of range", lambda: TA.rotate(TIMG, torch.tensor([0.0, 181.0])), ValueError, "'angle'"),
    ("angle tensor wrong length", lambda: TA.rotate(TIMG, torch.zeros(3)), ValueError, "'angle'"),
    ("fill 1.5", lambda: A.rotate(IMG, 10.0, fill=1.5), ValueError, "'fill'"),
    ("max_angle 181", lambda: A.RandomRotation(181.0), ValueError, "'max_angle'"),
    ("max_angle negative (torch)", lambda: TA.RandomRotation(-1.0), ValueError, "'max_angle'"),
    ("noise std 2", lambda: A.GaussianNoise(2.0), ValueError, "'std'"),
    ("noise std negative (torch)", lambda: TA.GaussianNoise(-0.1), ValueError, "'std'"),
    ("noise wrong shape", lambda: A.add_noise(IMG, np.zeros((8, 10, 1))), ValueError, "'noise'"),
    ("noise nan", lambda: A.add_noise(IMG, np.full(IMG.shape, np.nan)), ValueError, "'noise'"),
    ("noise integer (torch)", lambda: TA.add_noise(TIMG, torch.zeros(2, 3, 8, 10, dtype=torch.long)), TypeError, "'noise'"),
    ("contrast -1", lambda: A.adjust_contrast_brightness(IMG, -1.0, 0.0), ValueError, "'contrast'"),
    ("contrast 11 (torch)", lambda: TA.adjust_contrast_brightness(TIMG, 11.0, 0.0), ValueError, "'contrast'"),
    ("brightness 2", lambda: A.adjust_contrast_brightness(IMG, 1.0, 2.0), ValueError, "'brightness'"),
    ("ContrastBrightness contrast 1.5", lambda: A.ContrastBrightness(contrast=1.5), ValueError, "'contrast'"),
    ("max_shift 2", lambda: TA.ColorShift(2.0), ValueError, "'max_shift'"),
    ("flip p 1.5", lambda: A.RandomFlip(p=1.5), ValueError, "'p'"),
    ("flip horizontal not bool", lambda: TA.RandomFlip(horizontal=1), TypeError, "'horizontal'"),
    ("crop scale reversed", lambda: A.RandomCrop((0.9, 0.5)), ValueError, "'scale'"),
    ("crop scale 0", lambda: TA.RandomCrop((0.0, 0.5)), ValueError, "'scale'"),
    ("crop scale not a pair", lambda: A.RandomCrop(0.5), TypeError, "'scale'"),
    ("erasing ratio 0", lambda: A.RandomErasing(ratio=(0.0, 1.0)), ValueError, "'ratio'"),
    ("dropout p -0.1", lambda: TA.PixelDropout(-0.1), ValueError, "'p'"),
    ("2-D image", lambda: A.hflip(np.zeros((8, 10))), ValueError, "'img'"),
    ("int64 image", lambda: A.rotate(np.zeros((8, 10, 3), dtype=np.int64), 5.0), TypeError, "'img'"),
    ("list image", lambda: A.vflip([[0.0]]), TypeError, "'img'"),
    ("5-D batch (torch)", lambda: TA.hflip(torch.zeros(1, 2, 3, 8, 10)), ValueError, "'img'"),
    ("int32 batch (torch)", lambda: TA.rotate(torch.zeros(2, 3, 8, 10, dtype=torch.int32), 1.0), TypeError, "'img'"),
    ("mask wrong shape", lambda: A.drop_pixels(IMG, np.zeros((8, 9), dtype=bool)), ValueError, "'mask'"),
    ("mask not bool (torch)", lambda: TA.drop_pixels(TIMG, torch.zeros(8, 10)), TypeError, "'mask'"),
    ("compose not callable", lambda: A.Compose([A.RandomFlip(), 3]), TypeError, "'transforms'"),
    ("compose rng wrong type", lambda: A.Compose([], rng=0), TypeError, "'rng'"),
    ("compose generator wrong type", lambda: TA.Compose([], generator=0), TypeError, "'generator'"),
    ("compose image_shape mismatch", lambda: A.Compose([], image_shape=(8, 8, 1))(np.zeros((4, 65))), ValueError, "'x'"),
    ("compose image_shape bad", lambda: TA.Compose([], image_shape=(8, 8)), ValueError, "'image_shape'"),
    ("compose 2-D without image_shape", lambda: A.Compose([])(np.zeros((4, 64))), ValueError, "'x'"),
    ("compose numpy on a tensor", lambda: A.Compose([])(TIMG), TypeError, "'x'"),
    ("transform rng wrong type", lambda: A.RandomRotation(5.0)(IMG, rng=1), TypeError, "'rng'"),
]


@pytest.mark.parametrize("case,fn,exc,fragment", BAD, ids=[b[0] for b in BAD])
def test_bad_input(case, fn, exc, fragment):
    assert_refused(fn, exc, fragment, "Got")


def test_cuda_pipeline_matches_cpu_for_the_same_parameters(rng):
    if not torch.cuda.is_available():
        pytest.skip("no GPU")
    batch = nchw(rng.random((4, 16, 16, 3)))
    angles = torch.tensor([1.0, -5.0, 12.0, 30.0], dtype=torch.float64)
    assert_close(TA.rotate(batch.cuda(), angles.cuda()), TA.rotate(batch, angles), rtol=1e-10, atol=1e-12)


# --- checks at the door: declared once, transforms call the bare functions ------------------------

FUNCTIONS = ["hflip", "vflip", "rotate", "crop_resize", "color_shift", "add_noise", "erase", "drop_pixels",
             "adjust_contrast_brightness"]
TRANSFORMS = ["RandomFlip", "RandomRotation", "RandomCrop", "ColorShift", "GaussianNoise", "RandomErasing",
              "PixelDropout", "ContrastBrightness"]


def test_both_twins_build_transforms_from_the_same_declared_constructor():
    from tipslib.augment import _shared as S

    for name in TRANSFORMS:
        base = getattr(S, name + "Params")
        assert issubclass(getattr(A, name), base) and issubclass(getattr(TA, name), base), name
        assert "__init__" not in vars(getattr(A, name)) and "__init__" not in vars(getattr(TA, name)), name


@pytest.mark.parametrize("mod", [A, TA], ids=["numpy", "torch"])
def test_every_function_is_checked_at_the_door_and_keeps_its_bare_math(mod):
    for name in FUNCTIONS:
        fn = getattr(mod, name)
        assert "img" in fn.constraints and callable(fn.__wrapped__), name


@pytest.mark.parametrize("twin", ["numpy", "torch"])
def test_a_transform_checks_the_image_once_and_calls_the_bare_function(twin, rng, monkeypatch):
    mod = A if twin == "numpy" else TA
    seen = []
    check = mod.rotate.constraints["img"]
    monkeypatch.setitem(mod.rotate.constraints, "img", lambda *args: seen.append(args) or check(*args))
    img = rng.random((6, 7, 3)) if twin == "numpy" else torch.rand(2, 3, 6, 7, dtype=torch.float64)
    randomness = rng if twin == "numpy" else torch.Generator().manual_seed(0)
    mod.RandomRotation(10.0)(img, randomness)
    assert not seen  # the transform went past the validated wrapper
    mod.rotate(img, 5.0)
    assert len(seen) == 1


@pytest.mark.parametrize("name", TRANSFORMS)
def test_transforms_still_refuse_a_bad_image(name, rng):
    with pytest.raises(TypeError, match="'img'"):
        getattr(A, name)()(np.zeros((4, 4, 3), dtype=np.int64), rng)
    with pytest.raises(TypeError, match="'img'"):
        getattr(TA, name)()(torch.zeros(2, 3, 4, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="'img'"):
        getattr(TA, name)()(torch.zeros(4, 4))
    with pytest.raises(TypeError, match="'generator'"):
        getattr(TA, name)()(torch.zeros(2, 3, 4, 4), generator=np.random.default_rng())


@pytest.mark.parametrize("call,exc,fragment", [
    (lambda img: TA.rotate(img, torch.tensor([True, False])), TypeError, "'angle'"),
    (lambda img: TA.rotate(img, torch.tensor([1.0, float("nan")])), ValueError, "'angle'"),
    (lambda img: TA.rotate(img, torch.tensor([1.0, 2.0, 3.0])), ValueError, "'angle'"),
    (lambda img: TA.adjust_contrast_brightness(img, torch.tensor([1.0, 20.0]), 0.0), ValueError, "'contrast'"),
    (lambda img: TA.crop_resize(img, torch.tensor([0.0, 1.0]), 0.0, 8.0, 8.0), ValueError, "'height'"),
    (lambda img: TA.erase(img, torch.tensor([0.0, 1.0]), 0, 2, 2), TypeError, "'top'"),
    (lambda img: TA.hflip(img > 0.5), TypeError, "'img'"),
], ids=["bool angles", "NaN angle", "one angle too many", "contrast 20", "crop box outside", "float erase box",
        "bool image"])
def test_torch_per_image_parameters_are_checked_at_the_door(call, exc, fragment):
    with pytest.raises(exc, match=fragment):
        call(torch.rand(2, 3, 8, 8, dtype=torch.float64))


def test_compose_refuses_a_one_shot_iterator_it_would_use_up():
    with pytest.raises(TypeError, match="'transforms'"):
        A.Compose(t for t in [A.RandomFlip()])


@pytest.mark.parametrize("shape", [(0, 4, 3), (4, 0, 3), (4, 4, 0)])
@pytest.mark.parametrize("name, args", [("rotate", (30.0,)), ("crop_resize", (0, 0, 1, 1)),
                                        ("adjust_contrast_brightness", (1.5, 0.0)), ("hflip", ())])
def test_an_image_without_pixels_is_refused_alike(shape, name, args):
    # NumPy's reshape, torch's grid_sample and a mean of nothing used to fail each in their own
    # way (ValueError, RuntimeError, a NaN warning); both twins now name 'img' at the door.
    assert_refused(lambda: getattr(A, name)(np.zeros(shape), *args), ValueError, "'img'", "at least one row")
    assert_refused(lambda: getattr(TA, name)(chw(np.zeros(shape)), *args), ValueError, "'img'", "at least one row")


@pytest.mark.parametrize("name, args", [("rotate", (30.0,)), ("crop_resize", (0, 0, 2, 2)), ("hflip", ())])
def test_a_torch_batch_of_no_images_is_still_fine(name, args):
    assert getattr(TA, name)(torch.zeros(0, 3, 4, 4), *args).shape == (0, 3, 4, 4)
