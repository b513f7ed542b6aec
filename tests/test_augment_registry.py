"""The augmentation registry: the seven built-ins in the original's order, their draw ranges pinned to the original's
definitions (docs/original-behaviour.md, Augmentations, with literal numbers, not the constants under test), the
errors, and plugins (defined here, in a test module, or as one new in-tree module) working through
augment-at-loading and the SimCLR views without any other edit."""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
import scipy.sparse as sp

import tcbench.augment as augment_pkg
from tcbench.augment import (
    augment_at_loading,
    augmentation_names,
    copies_per_sample,
    draw_parameters,
    get_augmentation,
    register_augmentation,
    unregister_augmentation,
)
from tcbench.augment import series as series_mod
from tcbench.augment.base import ImageAugmentation, SeriesAugmentation, per_packet
from tcbench.augment.views import ViewSource, check_view_augmentations, needs_series, view_input_cutoff
from tcbench.features.flowpic import PacketSeries, flowpic, flowpic_matrix

ROOT = Path(__file__).resolve().parents[1]
T = 15.0
ORIGINAL = ("noaug", "rotate", "horizontalflip", "colorjitter", "packetloss", "changertt", "timeshift")
MANY = 200_000  # draws per parameter: the extremes of U(a, b) land within (b - a) * 1e-4 of the bounds


def _flows(n: int = 6, seed: int = 0) -> PacketSeries:
    rng = np.random.default_rng(seed)
    times = [np.sort(rng.uniform(0, 40.0, rng.integers(1, 400))) for _ in range(n)]
    for t in times:
        t -= t[0]
    return PacketSeries.from_lists(times, [rng.integers(0, 1501, len(t)).astype(np.int16) for t in times])


def _flow(series: PacketSeries, i: int) -> tuple[np.ndarray, np.ndarray]:
    lo, hi = series.offsets[i], series.offsets[i + 1]
    return series.times[lo:hi], series.sizes[lo:hi]


def _assert_uniform_sample(values: np.ndarray, lo: float, hi: float) -> None:
    """Inside [lo, hi) and reaching both ends: pins the range from both sides (a narrower or shifted range fails)."""
    tol = (hi - lo) * 1e-3
    assert values.min() >= lo and values.max() < hi
    assert values.min() < lo + tol and values.max() > hi - tol
    assert abs(values.mean() - (lo + hi) / 2) < (hi - lo) * 0.01


# ----------------------------------------------------------------------------------------------------- registry
def test_the_seven_originals_are_registered_in_the_original_order():
    assert augmentation_names()[:7] == ORIGINAL
    assert augment_pkg.AUGMENTATIONS[:7] == ORIGINAL
    assert augmentation_names("none")[:1] == ("noaug",)
    assert augment_pkg.IMAGE_AUGMENTATIONS[:3] == ("rotate", "horizontalflip", "colorjitter")
    assert augment_pkg.SERIES_AUGMENTATIONS[:3] == ("packetloss", "changertt", "timeshift")
    kinds = {name: get_augmentation(name).operates_on for name in ORIGINAL}
    assert kinds == {"noaug": "none", "rotate": "flowpic", "horizontalflip": "flowpic", "colorjitter": "flowpic",
                     "packetloss": "packets", "changertt": "packets", "timeshift": "packets"}
    assert [copies_per_sample(a) for a in ORIGINAL] == [0, 9, 1, 9, 9, 9, 9]
    assert [copies_per_sample(a, 2) for a in ORIGINAL] == [0, 1, 1, 1, 1, 1, 1]


def test_every_augmentation_documents_itself():
    for name in augmentation_names():
        doc = type(get_augmentation(name)).__doc__
        assert doc and name in doc


@pytest.mark.parametrize("call", [
    lambda: get_augmentation("mixup"),
    lambda: copies_per_sample("mixup"),
    lambda: draw_parameters("mixup", np.random.default_rng(0), 1, 1),
    lambda: augment_at_loading("mixup", sp.csr_matrix((1, 1024), dtype=np.uint8), None, 32, T, 0),
    lambda: series_mod.input_cutoff("rotate", T),
])
def test_an_unknown_name_errors_with_the_valid_names(call):
    with pytest.raises(ValueError, match="unknown") as err:
        call()
    message = str(err.value)
    expected = ("packetloss", "changertt", "timeshift") if "series" in message else ORIGINAL
    for name in expected:
        assert repr(name) in message


def test_a_different_class_under_a_taken_name_is_an_error_naming_both():
    class OtherRotate(ImageAugmentation):
        """Not the original's rotate."""

        name: ClassVar[str] = "rotate"

        def draw(self, rng, copies, n, last_time=None):
            return {}

        def transform(self, images, params, dim):
            return images

    with pytest.raises(ValueError, match="taken") as err:
        register_augmentation(OtherRotate)
    assert "tcbench.augment.original.Rotate" in str(err.value) and "OtherRotate" in str(err.value)
    assert get_augmentation("rotate").__class__.__name__ == "Rotate"


def test_registering_the_same_class_again_is_harmless():
    before = augmentation_names()
    rotate = type(get_augmentation("rotate"))
    assert register_augmentation(rotate) is rotate
    assert augmentation_names() == before


def test_registration_rejects_incomplete_classes():
    class NoTransform(ImageAugmentation):
        """Forgot its operation."""

        name: ClassVar[str] = "notransform"

        def draw(self, rng, copies, n, last_time=None):
            return {}

    class BadName(NoTransform):
        """Name not usable in a comma list."""

        name: ClassVar[str] = "Bad Name"

        def transform(self, images, params, dim):
            return images

    class NoIdentity(SeriesAugmentation):
        """Views could not leave flows unchanged."""

        name: ClassVar[str] = "noidentity"
        parameter: ClassVar[str] = "x"

        def draw(self, rng, copies, n, last_time=None):
            return {"x": np.zeros((copies, n))}

        def transform(self, series, values):
            return series

        def input_cutoff(self, block_duration):
            return block_duration

    with pytest.raises(TypeError, match="transform"):
        register_augmentation(NoTransform)
    with pytest.raises(ValueError, match="name"):
        register_augmentation(BadName)
    with pytest.raises(ValueError, match="identity"):
        register_augmentation(NoIdentity)
    with pytest.raises(TypeError, match="Augmentation"):
        register_augmentation(dict)  # type: ignore[type-var]
    assert not {"notransform", "Bad Name", "noidentity"} & set(augmentation_names())


def test_importing_the_package_imports_no_torch():
    """A run imports tcbench.augment (and discovers its modules) on a side thread while torch loads."""
    code = ("import sys, tcbench.augment, tcbench.augment.views, tcbench.augment.series; "
            "from tcbench.augment import augment_at_loading, get_augmentation; "
            "assert 'torch' not in sys.modules, 'torch imported'; import json; "
            "print(json.dumps(tcbench.augment.AUGMENTATIONS))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)[:7] == list(ORIGINAL)


# ------------------------------------------------------------------------------------------- draw ranges pinned
def test_declared_ranges_are_the_originals():
    """As docs/original-behaviour.md (The seven augmentations) gives them: rotate U(-10, 10) degrees; colorjitter
    b, sat, c ~ U(0.2, 1.8), hue ~ U(-0.2, 0.2); packetloss centre ~ U(0, t_last) with a +-0.1 s window; changertt
    U(0.5, 1.5); timeshift U(-1, 1) s."""
    ranges = {name: dict(get_augmentation(name).ranges) for name in ORIGINAL}
    assert ranges == {
        "noaug": {}, "horizontalflip": {},
        "rotate": {"angle": (-10.0, 10.0)},
        "colorjitter": {"brightness": (0.2, 1.8), "saturation": (0.2, 1.8), "contrast": (0.2, 1.8), "hue": (-0.2, 0.2)},
        "packetloss": {"centre": (0.0, 1.0)},  # fractions of t_last
        "changertt": {"alpha": (0.5, 1.5)},
        "timeshift": {"shift": (-1.0, 1.0)},
    }
    assert get_augmentation("packetloss").delta == 0.1  # type: ignore[attr-defined]
    assert [get_augmentation(a).needs_last_time for a in ORIGINAL] == [False, False, False, False, True, False, False]
    identity = {a: get_augmentation(a).identity for a in ("packetloss", "changertt", "timeshift")}  # type: ignore[attr-defined]
    assert identity == {"packetloss": -np.inf, "changertt": 1.0, "timeshift": 0.0}
    cutoffs = {a: series_mod.input_cutoff(a, 15.0) for a in ("packetloss", "changertt", "timeshift")}
    assert cutoffs == {"packetloss": 15.0, "changertt": 30.0, "timeshift": 16.0}
    assert view_input_cutoff(("changertt", "timeshift"), 15.0) == 32.0  # (15 + 1) / 0.5
    assert view_input_cutoff(("timeshift", "packetloss"), 15.0) == 16.0
    assert view_input_cutoff(("rotate",), 15.0) == 15.0


@pytest.mark.parametrize("aug, key, lo, hi", [
    ("rotate", "angle", -10.0, 10.0),
    ("colorjitter", "brightness", 0.2, 1.8),
    ("colorjitter", "saturation", 0.2, 1.8),
    ("colorjitter", "contrast", 0.2, 1.8),
    ("colorjitter", "hue", -0.2, 0.2),
    ("changertt", "alpha", 0.5, 1.5),
    ("timeshift", "shift", -1.0, 1.0),
])
def test_many_draws_fill_exactly_the_original_range(aug, key, lo, hi):
    params = draw_parameters(aug, np.random.default_rng(1), 4, MANY // 4)
    assert params[key].shape == (4, MANY // 4) and params[key].dtype == np.float64
    _assert_uniform_sample(params[key], lo, hi)


def test_packetloss_centre_is_uniform_between_zero_and_each_flows_last_time():
    last = np.array([0.0, 1.0, 37.5, 200.0])
    centre = draw_parameters("packetloss", np.random.default_rng(2), MANY // 4, 4, last)["centre"]
    assert centre.shape == (MANY // 4, 4)
    assert (centre[:, 0] == 0).all()  # a flow ending at t = 0: the window is centred on 0
    for i in range(1, 4):
        _assert_uniform_sample(centre[:, i], 0.0, last[i])
    with pytest.raises(ValueError, match="last packet time"):
        draw_parameters("packetloss", np.random.default_rng(2), 2, 4)


def test_packetloss_window_is_closed_and_0_2_s_wide():
    t = np.array([0.4, np.nextafter(0.4, 0), 0.5, 0.6, np.nextafter(0.6, 1), 2.0])
    t.sort()
    one = PacketSeries.from_lists([t], [np.full(len(t), 100, np.int16)])
    out = series_mod.augmented_series("packetloss", one, np.array([[0.5]]))
    np.testing.assert_array_equal(out.times, [np.nextafter(0.4, 0), np.nextafter(0.6, 1), 2.0])


def test_colorjitter_order_is_a_uniform_permutation_of_the_four_operations():
    params = draw_parameters("colorjitter", np.random.default_rng(3), 100, 240)
    order = params["order"].reshape(-1, 4)
    assert (np.sort(order, axis=1) == np.arange(4)).all()
    counts = {p: 0 for p in itertools.permutations(range(4))}
    for row in map(tuple, order):
        counts[row] += 1
    assert len(counts) == 24 and min(counts.values()) > 0.8 * len(order) / 24
    bfirst = np.argmax(order == 0, axis=1) < np.argmax(order == 2, axis=1)  # 0 brightness, 2 contrast
    np.testing.assert_array_equal(params["brightness_first"].ravel(), bfirst)


@pytest.mark.parametrize("seed", [0, 12345])
def test_draws_are_the_same_generator_calls_in_the_same_order(seed):
    """The random stream is part of the published results: pin each draw to explicit numpy calls."""
    c, n = 3, 5
    last = np.linspace(0.0, 30.0, n)

    def rng():
        return np.random.default_rng(seed)

    expected = {
        "noaug": {}, "horizontalflip": {},
        "rotate": {"angle": rng().uniform(-10.0, 10.0, size=(c, n))},
        "packetloss": {"centre": rng().uniform(0.0, np.broadcast_to(last, (c, n)))},
        "changertt": {"alpha": rng().uniform(0.5, 1.5, size=(c, n))},
        "timeshift": {"shift": rng().uniform(-1.0, 1.0, size=(c, n))},
    }
    g = rng()
    order = g.permuted(np.broadcast_to(np.arange(4), (c * n, 4)), axis=1)
    expected["colorjitter"] = {"order": order.reshape(c, n, 4), "brightness": g.uniform(0.2, 1.8, (c, n)),
                               "saturation": g.uniform(0.2, 1.8, (c, n)), "contrast": g.uniform(0.2, 1.8, (c, n)),
                               "hue": g.uniform(-0.2, 0.2, (c, n))}
    for aug in ORIGINAL:
        got = draw_parameters(aug, rng(), c, n, last)
        for key, value in expected[aug].items():
            np.testing.assert_array_equal(got[key], value, err_msg=f"{aug}.{key}")
        assert set(got) - set(expected[aug]) <= {"brightness_first"}


# ------------------------------------------------------------------------------------------------------ plugins
class ScaleSizes(SeriesAugmentation):
    """``scalesizes`` (test plugin): every packet size times ``f ~ U(0.5, 2)``, truncated to an integer."""

    name: ClassVar[str] = "scalesizes"
    parameter: ClassVar[str] = "factor"
    identity: ClassVar[float] = 1.0
    ranges: ClassVar[Mapping[str, tuple[float, float]]] = {"factor": (0.5, 2.0)}

    def draw(self, rng, copies, n, last_time=None):
        return {"factor": rng.uniform(0.5, 2.0, size=(copies, n))}

    def transform(self, series, values):
        sizes = (series.sizes * per_packet(series, values)).astype(series.sizes.dtype)
        return PacketSeries(series.times, sizes, series.offsets)

    def input_cutoff(self, block_duration):
        return block_duration  # moves no packet


class SizeFlip(ImageAugmentation):
    """``sizeflip`` (test plugin): the size axis of the flowpic reversed; deterministic, so one copy."""

    name: ClassVar[str] = "sizeflip"

    def copies(self, aug_samples):
        return 1

    def draw(self, rng, copies, n, last_time=None):
        return {}

    def transform(self, images, params, dim):
        dense = images.toarray().reshape(-1, dim, dim)[:, ::-1, :]
        return sp.csr_matrix(dense.reshape(-1, dim * dim))


@pytest.fixture
def plugins() -> Iterator[None]:
    register_augmentation(ScaleSizes)
    register_augmentation(SizeFlip)
    yield
    unregister_augmentation("scalesizes")
    unregister_augmentation("sizeflip")


def test_plugins_are_listed_after_the_builtins_and_leave_with_unregistration(plugins):
    assert augmentation_names()[:7] == ORIGINAL and augmentation_names()[-2:] == ("scalesizes", "sizeflip")
    assert "scalesizes" in augment_pkg.SERIES_AUGMENTATIONS and "sizeflip" in augment_pkg.IMAGE_AUGMENTATIONS
    assert augment_pkg.AUGMENTATIONS == augmentation_names()
    assert copies_per_sample("scalesizes", 4) == 3 and copies_per_sample("sizeflip", 4) == 1
    assert needs_series(("sizeflip", "scalesizes")) and not needs_series(("sizeflip",))
    assert check_view_augmentations(["scalesizes", "changertt"]) == ("scalesizes", "changertt")


def test_plugins_are_gone_after_the_fixture():
    assert not {"scalesizes", "sizeflip"} & set(augment_pkg.AUGMENTATIONS)
    with pytest.raises(ValueError, match="unknown"):
        copies_per_sample("scalesizes")


def test_a_series_plugin_works_through_augment_at_loading(plugins):
    series = _flows()
    n, dim = series.n_flows, 32
    out = augment_at_loading("scalesizes", flowpic_matrix(series, dim), series, dim, T, seed=9, aug_samples=4)
    assert out.shape == (3 * n, dim * dim) and out.dtype == np.uint8
    factor = np.random.default_rng(9).uniform(0.5, 2.0, size=(3, n))
    for k in range(3):
        for i in range(n):
            t, s = _flow(series, i)
            expected = flowpic(t, (s * factor[k, i]).astype(np.int16), dim, T).ravel()
            np.testing.assert_array_equal(out[k * n + i].toarray().ravel(), expected)


def test_an_image_plugin_works_through_augment_at_loading(plugins):
    series = _flows()
    dim = 64
    fp = flowpic_matrix(series, dim)
    out = augment_at_loading("sizeflip", fp, None, dim, T, seed=0, aug_samples=10)
    expected = fp.toarray().reshape(-1, dim, dim)[:, ::-1, :].reshape(-1, dim * dim)
    np.testing.assert_array_equal(out.toarray(), expected)


def test_plugins_compose_into_views(plugins):
    series = _flows(5)
    last = series_mod.last_packet_times(series)

    def source(augs):
        return ViewSource(augs, 32, T, np.random.default_rng(4), flowpics=flowpic_matrix(series, 32), series=series,
                          last_time=last)

    views = source(("scalesizes", "sizeflip", "changertt")).draw()
    assert views.shape == (10, 1024) and (views != source(("scalesizes", "sizeflip", "changertt")).draw()).nnz == 0
    # sizeflip alone: both views are the flipped flowpics (drawn orders do not matter for one augmentation)
    flipped = flowpic_matrix(series, 32).toarray().reshape(-1, 32, 32)[:, ::-1, :].reshape(-1, 1024)
    np.testing.assert_array_equal(source(("sizeflip",)).draw().toarray(), np.tile(flipped, (2, 1)))
    # scalesizes moves no packet: the window bound is the changertt one alone
    assert view_input_cutoff(("scalesizes", "changertt"), T) == 2 * T


def test_a_new_in_tree_module_is_discovered_with_no_other_edit(tmp_path):
    """One new module under tcbench/augment/ (here in a copy of the package) is imported and registered after the
    built-ins, without importing torch."""
    pkg = tmp_path / "tcbench"
    (pkg / "features").mkdir(parents=True)
    shutil.copy(ROOT / "tcbench" / "__init__.py", pkg / "__init__.py")
    shutil.copy(ROOT / "tcbench" / "plugins.py", pkg / "plugins.py")
    shutil.copy(ROOT / "tcbench" / "features" / "__init__.py", pkg / "features" / "__init__.py")
    shutil.copy(ROOT / "tcbench" / "features" / "flowpic.py", pkg / "features" / "flowpic.py")
    shutil.copytree(ROOT / "tcbench" / "augment", pkg / "augment", ignore=shutil.ignore_patterns("__pycache__"))
    (pkg / "augment" / "reverse.py").write_text('''
"""Test augmentation: time axis of the packet series reversed around the flow's last packet."""
import numpy as np
from tcbench.augment.base import SeriesAugmentation, keep_packets, per_packet
from tcbench.augment.registry import register_augmentation


@register_augmentation
class Reverse(SeriesAugmentation):
    """``reverse``: t' = t_last - t (the parameter is t_last, drawn as is)."""
    name = "reverse"
    parameter = "last"
    identity = np.nan
    needs_last_time = True

    def draw(self, rng, copies, n, last_time=None):
        return {"last": np.broadcast_to(np.asarray(last_time, dtype=np.float64), (copies, n)).copy()}

    def transform(self, series, values):
        return series

    def input_cutoff(self, block_duration):
        return np.inf
''')
    code = ("import json, sys, tcbench.augment as a; assert 'torch' not in sys.modules; "
            "print(json.dumps([a.AUGMENTATIONS, a.SERIES_AUGMENTATIONS, a.AUGMENTATION_MODULES, "
            "a.copies_per_sample('reverse', 3), a.__file__]))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=False,
                          env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    names, series_names, modules, copies, where = json.loads(proc.stdout)
    assert names == [*ORIGINAL, "reverse"] and series_names == ["packetloss", "changertt", "timeshift", "reverse"]
    assert modules == ["reverse"] and copies == 2 and where.startswith(str(tmp_path))
