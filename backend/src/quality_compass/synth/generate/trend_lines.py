"""Lines 2..N of a temporal (monthly) node file: one entity result per line (§5.3).

A line is the entity's timeline and metadata, then three method blocks (trending simple
z, trending robust z, slope percentile). Each part is built for a whole block of entities
from precomputed string columns, then the parts are joined line by line.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from quality_compass.needle.formulas import PERCENTILE_BOUNDS, Z_BOUNDS, tier_indices
from quality_compass.needle.methods import (
    METHOD_CONTRACTS,
    METHOD_SLOPE_PERCENTILE,
    METHOD_TRENDING_ROBUST_ZSCORE,
    METHOD_TRENDING_SIMPLE_ZSCORE,
    TEMPLATE_PREFIX_BY_METHOD,
)
from quality_compass.synth.generate.aggregate_lines import LABELS
from quality_compass.synth.generate.entities import EntitySet
from quality_compass.synth.generate.graph import NodeSpec
from quality_compass.synth.generate.json_text import (
    four_decimals,
    json_number_rows,
    json_numbers,
    json_string,
)
from quality_compass.synth.generate.peer_stats import TrendStats
from quality_compass.synth.generate.plan import COMPARISON_GROUP, RunPlan
from quality_compass.synth.generate.texts import RENDER_TEXTS
from quality_compass.synth.generate.universe import FloatArray

_RUNTIME = (
    '"runtime":{"status":"ok","summary":{"has_issues":false,"highest_severity":"ok",'
    '"severity_counts":{}},"issues":[]}'
)
#: Metadata columns whose per-period values are counts: a missing month is ``null``.
_COUNT_COLUMNS = frozenset({"encounters", "losOutliers", "uniquePatients"})


def _method_head(method: str, statistic: str) -> str:
    return f'{{"statistical_method":"{method}","statistics":{{"{statistic}":'


def _anomalies_head(method: str) -> str:
    return f'"anomalies":[{{"anomaly_profile":"{METHOD_CONTRACTS[method][0]}","methods":['


def _anomaly_item(
    anomaly_method: str, label: str, value: str, applies: str, prefix: str, text: str
) -> str:
    return (
        f'{{"anomaly_method":"{anomaly_method}","anomaly":"{label}","statistic_value":{value},'
        f'"applies_to":"{applies}","interpretation":{{"template_id":"{prefix}{label}",'
        f'"rendered":{json_string(text)}}}}}'
    )


def _labels(values: FloatArray, bounds: Sequence[float] = Z_BOUNDS) -> list[str]:
    return [LABELS[i] for i in tier_indices(values, bounds).tolist()]


def _flags(values: npt.NDArray[np.bool_]) -> list[str]:
    return ["true" if s else "false" for s in values.tolist()]


_SIMPLE = METHOD_TRENDING_SIMPLE_ZSCORE
_ROBUST = METHOD_TRENDING_ROBUST_ZSCORE
_SLOPE = METHOD_SLOPE_PERCENTILE
_SIMPLE_HEAD = _method_head(_SIMPLE, "mean_simple_zscore")
_ROBUST_HEAD = _method_head(_ROBUST, "mean_robust_zscore")
_SLOPE_HEAD = _method_head(_SLOPE, "slope")
_TEMPLATES = {**TEMPLATE_PREFIX_BY_METHOD[_SIMPLE], **TEMPLATE_PREFIX_BY_METHOD[_ROBUST]}
_SLOPE_TEMPLATE = TEMPLATE_PREFIX_BY_METHOD[_SLOPE]["slope_percentile"]


class TrendLines:
    """The entity lines of one temporal node, block by block."""

    def __init__(self, plan: RunPlan, node: NodeSpec) -> None:
        self.months = plan.months
        self.latest_period = plan.dash_periods[-1]
        self.metric_label = plan.metric_label(node.metric_id)
        self.timeline_format = ",".join(f'{{"period":"{p}","value":%s}}' for p in plan.periods)
        self.period_format = ",".join(f'{{"period":"{p}","value":%s}}' for p in plan.dash_periods)
        self.head_metric = (
            f'"metric":[{{"metadata":{{"metric_id":"{node.metric_id}"}},"values":{{"timeline":['
        )

    def lines(self, entities: EntitySet, values: FloatArray, trends: TrendStats) -> Iterator[str]:
        heads = self._heads(entities, values, trends)
        simple = self._simple_blocks(entities, trends)
        robust = self._robust_blocks(entities, trends)
        slope = self._slope_blocks(entities, trends)
        for i in range(entities.size):
            yield f'{heads[i]},"statistical_methods":[{simple[i]},{robust[i]},{slope[i]}]}}\n'

    # -- entity, timeline, metadata ------------------------------------------------------

    def _heads(self, entities: EntitySet, values: FloatArray, trends: TrendStats) -> list[str]:
        months = self.months
        value_rows = json_number_rows(values)
        observations = trends.observations.tolist()
        coverage = json_numbers(trends.observations / float(months))
        per_period, totals = self._per_period_strings(entities)
        timeline_format = self.timeline_format
        return [
            f'{{"entity":{entities.entity_json[i]},{self.head_metric}'
            f"{timeline_format % tuple(value_rows[i].split(','))}]}},"
            f'"temporal_runtime":{{"observed_count":{observations[i]},'
            f'"missing_count":{months - observations[i]},'
            f'"coverage_ratio":{coverage[i]},"fill_strategy":"null"}}}}],'
            f'"metadata":{{"encounters":{totals["encounters"][i]},{entities.facility_meta[i]},'
            f'"losOutliers":{totals["losOutliers"][i]},"uniquePatients":{totals["uniquePatients"][i]},'
            f'"losMeanObservedDays":{totals["losMeanObservedDays"][i]},'
            f'"losMeanExpectedDays":{totals["losMeanExpectedDays"][i]},'
            f'"losVarianceDays":{totals["losVarianceDays"][i]},'
            f'"per_period":{{"encounters":[{per_period["encounters"][i]}],'
            f'"losOutliers":[{per_period["losOutliers"][i]}],'
            f'"uniquePatients":[{per_period["uniquePatients"][i]}],'
            f'"losMeanObservedDays":[{per_period["losMeanObservedDays"][i]}],'
            f'"losMeanExpectedDays":[{per_period["losMeanExpectedDays"][i]}],'
            f'"losVarianceDays":[{per_period["losVarianceDays"][i]}]}}}}'
            for i in range(entities.size)
        ]

    def _per_period_strings(
        self, entities: EntitySet
    ) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
        """Per entity: the metadata ``per_period`` arrays and top-level sums, as JSON text."""
        gappy = np.logical_not(entities.observed.all(axis=1)).astype(bool).tolist()
        observed = entities.observed
        matrices: dict[str, npt.NDArray[Any]] = {
            "encounters": entities.encounters,
            "losOutliers": entities.los_outliers,
            "uniquePatients": entities.unique_patients,
            "losMeanObservedDays": entities.observed_days,
            "losMeanExpectedDays": entities.expected_days,
            "losVarianceDays": (entities.observed_days - entities.expected_days)
            * entities.encounters,
        }
        per_period: dict[str, list[str]] = {}
        totals: dict[str, list[str]] = {}
        for column, matrix in matrices.items():
            rows = json_number_rows(matrix)
            if column in _COUNT_COLUMNS:
                # Count columns: missing months are 0 in the matrix and null in the file.
                totals[column] = [str(v) for v in matrix.sum(axis=1).tolist()]
                formatted = []
                for i, row in enumerate(rows):
                    cells = row.split(",")
                    if gappy[i]:
                        flags = observed[i].tolist()
                        cells = [c if ok else "null" for c, ok in zip(cells, flags, strict=True)]
                    formatted.append(self.period_format % tuple(cells))
                per_period[column] = formatted
            else:
                totals[column] = json_numbers(np.nansum(matrix, axis=1))
                per_period[column] = [self.period_format % tuple(row.split(",")) for row in rows]
        return per_period, totals

    # -- the three methods ------------------------------------------------------------------

    def _simple_blocks(self, entities: EntitySet, trends: TrendStats) -> list[str]:
        latest_labels, mean_labels = _labels(trends.latest_simple_z), _labels(trends.mean_simple_z)
        latest, mean = json_numbers(trends.latest_simple_z), json_numbers(trends.mean_simple_z)
        latest_floats, mean_floats = trends.latest_simple_z.tolist(), trends.mean_simple_z.tolist()
        percentile = json_numbers(trends.simple_percentile)
        suppressed = _flags(trends.suppressed)
        z_rows = json_number_rows(trends.simple_z)
        observations = trends.observations.tolist()
        latest_texts = RENDER_TEXTS[(_SIMPLE, "latest_simple_zscore")]
        mean_texts = RENDER_TEXTS[(_SIMPLE, "mean_simple_zscore")]
        latest_method, mean_method = METHOD_CONTRACTS[_SIMPLE][1]
        anomalies_head = _anomalies_head(_SIMPLE)
        out = []
        for i in range(entities.size):
            label = entities.labels[i]
            items = (
                _anomaly_item(
                    latest_method, latest_labels[i], latest[i], "latest_simple_zscore",
                    _TEMPLATES["latest_simple_zscore"],
                    latest_texts[latest_labels[i]].format(
                        e=label, g=COMPARISON_GROUP, v=four_decimals(latest_floats[i])
                    ),
                )
                + ","
                + _anomaly_item(
                    mean_method, mean_labels[i], mean[i], "mean_simple_zscore",
                    _TEMPLATES["mean_simple_zscore"],
                    mean_texts[mean_labels[i]].format(
                        e=label, g=COMPARISON_GROUP, v=four_decimals(mean_floats[i])
                    ),
                )
            )  # fmt: skip
            out.append(
                f'{_SIMPLE_HEAD}{mean[i]},"observations":{observations[i]},"periods":{self.months},'
                f'"latest_simple_zscore":{latest[i]},"latest_period":"{self.latest_period}",'
                f'"percentile_rank":{percentile[i]},"suppressed":{suppressed[i]},'
                f'"per_period_simple_zscores":[{z_rows[i]}]}},{anomalies_head}{items}]}}],{_RUNTIME}}}'
            )
        return out

    def _robust_blocks(self, entities: EntitySet, trends: TrendStats) -> list[str]:
        latest_labels, mean_labels = _labels(trends.latest_robust_z), _labels(trends.mean_robust_z)
        latest, mean = json_numbers(trends.latest_robust_z), json_numbers(trends.mean_robust_z)
        latest_floats, mean_floats = trends.latest_robust_z.tolist(), trends.mean_robust_z.tolist()
        percentile = json_numbers(trends.robust_percentile)
        peer_median, peer_mad = json_numbers(trends.peer_median), json_numbers(trends.peer_mad)
        median_text = [four_decimals(x) for x in trends.peer_median.tolist()]
        suppressed = _flags(trends.suppressed)
        z_rows = json_number_rows(trends.robust_z)
        observations = trends.observations.tolist()
        latest_texts = RENDER_TEXTS[(_ROBUST, "latest_robust_zscore")]
        mean_texts = RENDER_TEXTS[(_ROBUST, "mean_robust_zscore")]
        latest_method, mean_method = METHOD_CONTRACTS[_ROBUST][1]
        anomalies_head = _anomalies_head(_ROBUST)
        group, metric, period = COMPARISON_GROUP, self.metric_label, self.latest_period
        out = []
        for i in range(entities.size):
            label, median = entities.labels[i], median_text[i]
            latest_value, mean_value = (
                four_decimals(latest_floats[i]),
                four_decimals(mean_floats[i]),
            )
            items = (
                _anomaly_item(
                    latest_method, latest_labels[i], latest[i], "latest_robust_zscore",
                    _TEMPLATES["latest_robust_zscore"],
                    latest_texts[latest_labels[i]].format(
                        e=label, g=group, v=latest_value, med=median, mean=mean_value,
                        ml=metric, p=period,
                    ),
                )
                + ","
                + _anomaly_item(
                    mean_method, mean_labels[i], mean[i], "mean_robust_zscore",
                    _TEMPLATES["mean_robust_zscore"],
                    mean_texts[mean_labels[i]].format(
                        e=label, g=group, v=mean_value, med=median, lat=latest_value, ml=metric
                    ),
                )
            )  # fmt: skip
            out.append(
                f'{_ROBUST_HEAD}{mean[i]},"observations":{observations[i]},"periods":{self.months},'
                f'"latest_robust_zscore":{latest[i]},"latest_period":"{period}",'
                f'"percentile_rank":{percentile[i]},"peer_median":{peer_median[i]},'
                f'"peer_mad":{peer_mad[i]},"winsor_applied":false,"suppressed":{suppressed[i]},'
                f'"per_period_robust_zscores":[{z_rows[i]}]}},{anomalies_head}{items}]}}],{_RUNTIME}}}'
            )
        return out

    def _slope_blocks(self, entities: EntitySet, trends: TrendStats) -> list[str]:
        labels = _labels(trends.slope_percentile, PERCENTILE_BOUNDS)
        slope, acceleration = json_numbers(trends.slope), json_numbers(trends.acceleration)
        delta = json_numbers(trends.end_start_delta)
        percentile = json_numbers(trends.slope_percentile)
        percentile_floats = trends.slope_percentile.tolist()
        suppressed = _flags(trends.slope_suppressed)
        observations = trends.observations.tolist()
        direction = [
            "null" if math.isnan(s) else ('"increasing"' if s > 0 else '"decreasing"')
            for s in trends.slope.tolist()
        ]
        momentum = [
            "null" if math.isnan(s) else ('"gaining"' if a > 0 else '"slowing"')
            for s, a in zip(trends.slope.tolist(), trends.acceleration.tolist(), strict=True)
        ]
        texts = RENDER_TEXTS[(_SLOPE, "slope_percentile")]
        anomaly_method = METHOD_CONTRACTS[_SLOPE][1][0]
        anomalies_head = _anomalies_head(_SLOPE)
        out = []
        for i in range(entities.size):
            item = _anomaly_item(
                anomaly_method, labels[i], percentile[i], "slope_percentile", _SLOPE_TEMPLATE,
                texts[labels[i]].format(
                    e=entities.labels[i], g=COMPARISON_GROUP, v=four_decimals(percentile_floats[i])
                ),
            )  # fmt: skip
            out.append(
                f'{_SLOPE_HEAD}{slope[i]},"slope_weighted":{slope[i]},"acceleration":{acceleration[i]},'
                f'"end_start_delta":{delta[i]},"period_count":{observations[i]},'
                f'"trend_direction":{direction[i]},"percentile_rank":{percentile[i]},'
                f'"momentum":{momentum[i]},"suppressed":{suppressed[i]},"slope_percentile":{percentile[i]}}},'
                f"{anomalies_head}{item}]}}],{_RUNTIME}}}"
            )
        return out
