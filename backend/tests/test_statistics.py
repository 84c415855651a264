"""The generator's and the validator's statistics, each against numpy/scipy.

The generator writes runs with ``quality_compass.needle.formulas``; the validator checks
them with its own ``quality_compass.synth.validate.statistics`` (different code on
purpose). Both are compared here with well-kept references - scipy.stats and numpy's own
reductions - on random data with ties, gaps (NaN) and edge sizes, so a bug in either cannot
hide behind the other. The spec constants both sides share are read back from the format
specification's text. And the validator may take nothing but constants from the
generator's module.
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as scipy_stats

from quality_compass.needle import formulas
from quality_compass.needle.vocabulary import NO_SCORE, TIER_LABELS
from quality_compass.synth.validate import statistics as validator

REPO = Path(__file__).resolve().parents[2]
SPEC = REPO / "docs" / "reference" / "needle_run_format.md"
VALIDATE_PACKAGE = REPO / "backend" / "src" / "quality_compass" / "synth" / "validate"
RNG_SEEDS = range(12)


def samples(seed: int) -> list[np.ndarray]:
    """1-D samples: normal, with ties (rounded), tiny, constant, with NaN gaps."""
    rng = np.random.default_rng(seed)
    size = int(rng.integers(1, 60))
    normal = rng.normal(1.1, 0.2, size)
    ties = np.round(rng.normal(50, 10, size), 0)
    with_gaps = rng.normal(0, 1, size + 3)
    with_gaps[rng.random(size + 3) < 0.25] = np.nan
    return [normal, ties, np.array([3.5]), np.full(4, 2.0), with_gaps]


def matrices(seed: int) -> list[np.ndarray]:
    """entities x periods: complete, with gaps, with an all-NaN column, with ties."""
    rng = np.random.default_rng(100 + seed)
    rows, cols = int(rng.integers(2, 40)), int(rng.integers(4, 14))
    complete = rng.normal(1.0, 0.3, (rows, cols)) + np.arange(cols) * rng.normal(0, 0.02)
    gappy = complete.copy()
    gappy[rng.random((rows, cols)) < 0.2] = np.nan
    empty_column = gappy.copy()
    empty_column[:, 0] = np.nan
    ties = np.round(complete * 4) / 4
    return [complete, gappy, empty_column, ties]


def present(values: np.ndarray) -> np.ndarray:
    return values[~np.isnan(values)]


def assert_close(got: float, want: float) -> None:
    if math.isnan(want):
        assert math.isnan(got), (got, want)
    else:
        assert math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-12), (got, want)


def assert_all_close(got: np.ndarray, want: np.ndarray) -> None:
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12, equal_nan=True)


# -- the spec's constants -----------------------------------------------------------------------


def _spec_list(pattern: str) -> tuple[float, ...]:
    match = re.search(pattern + r"\s*`\[([^\]]+)\]`", SPEC.read_text(encoding="utf-8"))
    assert match, pattern
    return tuple(float(part) for part in match.group(1).split(","))


def test_the_shared_constants_are_the_specs() -> None:
    """Format spec 3.2 (tier bounds), 5.3 (MAD scale, floors, minimum peer count)."""
    text = SPEC.read_text(encoding="utf-8")
    assert _spec_list(r"- z-score statistics:") == formulas.Z_BOUNDS
    assert _spec_list(r"- `slope_percentile` \(0–100\):") == formulas.PERCENTILE_BOUNDS
    assert "global_mad` is already multiplied by 1.4826" in text
    assert formulas.MAD_SCALE == 1.4826
    observed = re.search(
        r"aggregate `std_floor=([\d.]+)`, `min_peer_count=(\d+)`; trending `std_floor=([\d.]+)`,"
        r" `min_peer_count=(\d+)`; `mad_floor=([\d.]+)`",
        text,
    )
    assert observed, "the spec's floors"
    assert (
        float(observed[1]),
        int(observed[2]),
        float(observed[3]),
        int(observed[4]),
        float(observed[5]),
    ) == (
        formulas.AGGREGATE_STD_FLOOR,
        formulas.AGGREGATE_MIN_PEER_COUNT,
        formulas.TRENDING_STD_FLOOR,
        formulas.TRENDING_MIN_PEER_COUNT,
        formulas.MAD_FLOOR,
    )
    assert "fewer than 6 observed periods" in text and formulas.MIN_SLOPE_PERIODS == 6
    assert len(TIER_LABELS) == len(formulas.Z_BOUNDS) + 1


def test_the_validator_takes_only_constants_from_the_generator_formulas() -> None:
    """No module of synth/validate imports a function of needle.formulas (or the generator)."""
    offending: list[str] = []
    for path in sorted(VALIDATE_PACKAGE.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                if node.module.startswith("quality_compass.synth.generate"):
                    offending.append(f"{path.name}: {node.module}")
                if node.module == "quality_compass.needle.formulas":
                    offending += [
                        f"{path.name}: {alias.name}"
                        for alias in node.names
                        if not alias.name.isupper() and alias.name != "FloatArray"
                    ]
                if node.module == "quality_compass.needle" and any(
                    alias.name == "formulas" for alias in node.names
                ):
                    offending.append(f"{path.name}: needle.formulas module")
    assert offending == []


# -- tiers --------------------------------------------------------------------------------------


def reference_tier(value: float, bounds: tuple[float, ...]) -> str:
    """Spec 3.2 read literally: the first tier whose bound b has value <= b."""
    for label, bound in zip(TIER_LABELS, bounds, strict=False):
        if value <= bound:
            return label
    return TIER_LABELS[-1]


@pytest.mark.parametrize("bounds", [formulas.Z_BOUNDS, formulas.PERCENTILE_BOUNDS])
@pytest.mark.parametrize(
    "tier", [formulas.tier_label, validator.tier_label], ids=["generator", "validator"]
)
def test_tiers_are_upper_inclusive(
    tier: Callable[[float | None, tuple[float, ...]], str], bounds: tuple[float, ...]
) -> None:
    points = [b + delta for b in bounds for delta in (-1e-9, 0.0, 1e-9)]
    points += [bounds[0] - 100, bounds[-1] + 100, 0.0, 50.0]
    for value in points:
        assert tier(value, bounds) == reference_tier(value, bounds), value
    assert tier(None, bounds) == tier(math.nan, bounds) == NO_SCORE
    indices = formulas.tier_indices(np.array([*points, math.nan]), bounds)
    assert [TIER_LABELS[i] for i in indices[:-1]] == [reference_tier(v, bounds) for v in points]
    assert indices[-1] == -1


# -- one group's statistics ----------------------------------------------------------------


@pytest.mark.parametrize("seed", RNG_SEEDS)
def test_group_statistics_equal_numpy_and_scipy(seed: int) -> None:
    for sample in samples(seed):
        values = present(sample)
        std_want = float(np.std(values, ddof=0))
        mad_want = float(scipy_stats.median_abs_deviation(values, scale=1 / 1.4826))
        assert_close(formulas.population_std(values), std_want)
        assert_close(validator.population_std(sample), std_want)
        assert_close(validator.mean(sample), float(np.mean(values)))
        assert_close(validator.median(sample), float(np.median(values)))
        assert_close(formulas.scaled_mad(values), mad_want)
        assert_close(validator.scaled_mad(sample), mad_want)
    assert math.isnan(validator.population_std([])) and math.isnan(
        formulas.scaled_mad(np.array([]))
    )


@pytest.mark.parametrize("seed", RNG_SEEDS)
def test_midpoint_percentiles_equal_scipy(seed: int) -> None:
    """100 (#{x < v} + 0.5 #{x = v}) / n is scipy's percentileofscore(kind='mean')."""
    for sample in samples(seed):
        values = present(sample)
        want = np.array(
            [
                scipy_stats.percentileofscore(values, v, kind="mean")
                if not math.isnan(v)
                else np.nan
                for v in sample
            ]
        )
        assert_all_close(formulas.midpoint_percentiles(sample), want)
        assert_all_close(validator.midpoint_percentiles(sample), want)


# -- per-period columns and trends --------------------------------------------------------


def _reference_columns(matrix: np.ndarray) -> dict[str, np.ndarray]:
    """Column by column with numpy/scipy on the non-null cells."""
    columns = [present(matrix[:, t]) for t in range(matrix.shape[1])]

    def each(function: Callable[[np.ndarray], float]) -> np.ndarray:
        return np.array([function(c) if c.size else np.nan for c in columns])

    return {
        "counts": np.array([c.size for c in columns]),
        "means": each(lambda c: float(np.mean(c))),
        "stds": each(lambda c: float(np.std(c))),
        "medians": each(lambda c: float(np.median(c))),
        "mads": each(lambda c: float(scipy_stats.median_abs_deviation(c, scale=1 / 1.4826))),
        "percentiles": np.array(
            [
                np.percentile(c, [10, 25, 50, 75, 90]) if c.size else np.full(5, np.nan)
                for c in columns
            ]
        ).T,
    }


@pytest.mark.parametrize("seed", RNG_SEEDS)
def test_column_statistics_equal_numpy_and_scipy(seed: int) -> None:
    for matrix in matrices(seed):
        want = _reference_columns(matrix)
        for implementation in (formulas, validator):
            counts, means, stds = implementation.column_moments(matrix)
            assert list(counts) == list(want["counts"])
            assert_all_close(means, want["means"])
            assert_all_close(stds, want["stds"])
            medians, mads = implementation.column_median_mad(matrix)
            assert_all_close(medians, want["medians"])
            assert_all_close(mads, want["mads"])
        assert_all_close(
            formulas.numpy_percentiles(matrix, [10, 25, 50, 75, 90]), want["percentiles"]
        )
        assert_all_close(
            validator.column_percentiles(matrix, [10, 25, 50, 75, 90]), want["percentiles"]
        )


def _reference_slope(row: np.ndarray, index: np.ndarray) -> float:
    keep = ~np.isnan(row)
    if keep.sum() < 2 or np.ptp(index[keep]) == 0:
        return math.nan
    return float(scipy_stats.linregress(index[keep], row[keep]).slope)


@pytest.mark.parametrize("seed", RNG_SEEDS)
def test_slopes_and_accelerations_equal_scipy_linregress(seed: int) -> None:
    for matrix in matrices(seed):
        periods = matrix.shape[1]
        index = np.arange(periods, dtype=np.float64)
        half = periods // 2
        slopes = np.array([_reference_slope(row, index) for row in matrix])
        accelerations = np.array(
            [
                _reference_slope(row[half:], index[half:])
                - _reference_slope(row[:half], index[:half])
                if not np.isnan(row).any()
                else np.nan
                for row in matrix
            ]
        )
        assert_all_close(formulas.ols_slopes(matrix), slopes)
        assert_all_close(validator.ols_slopes(matrix), slopes)
        assert_all_close(formulas.accelerations(matrix), accelerations)
        assert_all_close(validator.accelerations(matrix), accelerations)
    single = np.array([[np.nan, 2.0, np.nan, np.nan]])
    assert np.isnan(formulas.ols_slopes(single)[0]) and np.isnan(validator.ols_slopes(single)[0])
