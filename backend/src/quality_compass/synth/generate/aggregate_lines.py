"""Lines 2..N of an aggregate node file: one entity result per line (§5.3).

Lines are built from precomputed string pieces (a few orjson calls per block of entities,
then one f-string per line): this is the generator's hot path.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from quality_compass.needle.formulas import tier_indices
from quality_compass.needle.methods import (
    METHOD_CONTRACTS,
    METHOD_ROBUST_ZSCORE,
    METHOD_SIMPLE_ZSCORE,
    TEMPLATE_PREFIX_BY_METHOD,
)
from quality_compass.needle.vocabulary import NO_SCORE, TIER_LABELS
from quality_compass.synth.generate.entities import EntitySet
from quality_compass.synth.generate.graph import NodeSpec
from quality_compass.synth.generate.json_text import four_decimals, json_numbers, json_string
from quality_compass.synth.generate.peer_stats import AggregateStats
from quality_compass.synth.generate.plan import COMPARISON_GROUP
from quality_compass.synth.generate.texts import RENDER_TEXTS

#: Labels by tier index; index -1 (a NaN statistic) is ``no_score``.
LABELS = (*TIER_LABELS, NO_SCORE)
#: The runtime block of an aggregate method, up to its peer count.
_RUNTIME = (
    '"runtime":{"status":"ok","summary":{"has_issues":false,"highest_severity":"ok",'
    '"severity_counts":{}},"issues":[],"anomaly_statistics":{"peer_count":'
)


def _method_head(method: str, statistic: str) -> str:
    return f'{{"statistical_method":"{method}","statistics":{{"{statistic}":'


def _anomaly_head(method: str) -> str:
    profile, anomaly_methods = METHOD_CONTRACTS[method]
    return (
        f'"anomalies":[{{"anomaly_profile":"{profile}","methods":[{{'
        f'"anomaly_method":"{anomaly_methods[0]}","anomaly":"'
    )


_SIMPLE_HEAD = _method_head(METHOD_SIMPLE_ZSCORE, "simple_zscore")
_SIMPLE_ANOMALY = _anomaly_head(METHOD_SIMPLE_ZSCORE)
_SIMPLE_TEMPLATE = TEMPLATE_PREFIX_BY_METHOD[METHOD_SIMPLE_ZSCORE]["simple_zscore"]
_SIMPLE_TEXTS = RENDER_TEXTS[(METHOD_SIMPLE_ZSCORE, "simple_zscore")]
_ROBUST_HEAD = _method_head(METHOD_ROBUST_ZSCORE, "robust_zscore")
_ROBUST_ANOMALY = _anomaly_head(METHOD_ROBUST_ZSCORE)
_ROBUST_TEMPLATE = TEMPLATE_PREFIX_BY_METHOD[METHOD_ROBUST_ZSCORE]["robust_zscore"]
_ROBUST_TEXTS = RENDER_TEXTS[(METHOD_ROBUST_ZSCORE, "robust_zscore")]


def aggregate_metadata(entities: EntitySet) -> list[str]:
    """Per entity: the ``metadata`` object's members (sums and encounter-weighted means)."""
    encounters = entities.encounters.sum(axis=1)
    total = json_numbers(encounters.astype(np.float64))
    outliers = json_numbers(entities.los_outliers.sum(axis=1).astype(np.float64))
    unique = json_numbers(entities.unique_patients.sum(axis=1).astype(np.float64))
    with np.errstate(invalid="ignore"):
        weighted = entities.observed_days * entities.encounters
        observed = json_numbers(np.nansum(weighted, axis=1) / encounters)
        expected = json_numbers(
            np.nansum(entities.expected_days * entities.encounters, axis=1) / encounters
        )
        variance = json_numbers(
            np.nansum(
                (entities.observed_days - entities.expected_days) * entities.encounters, axis=1
            )
        )
    return [
        f'"encounters":{total[i]},{entities.facility_meta[i]},"losOutliers":{outliers[i]},'
        f'"uniquePatients":{unique[i]},"losMeanObservedDays":{observed[i]},'
        f'"losMeanExpectedDays":{expected[i]},"losVarianceDays":{variance[i]}'
        for i in range(entities.size)
    ]


def aggregate_lines(
    node: NodeSpec, entities: EntitySet, aggregate: AggregateStats
) -> Iterator[str]:
    """The entity lines of one block of an aggregate node."""
    simple_labels = [LABELS[i] for i in tier_indices(aggregate.simple).tolist()]
    robust_labels = [LABELS[i] for i in tier_indices(aggregate.robust).tolist()]
    value = json_numbers(aggregate.value)
    simple = json_numbers(aggregate.simple)
    robust = json_numbers(aggregate.robust)
    simple_floats = aggregate.simple.tolist()
    robust_floats = aggregate.robust.tolist()
    peer_mean = json_numbers(aggregate.peer_mean)
    peer_std = json_numbers(aggregate.peer_std)
    percentile = json_numbers(aggregate.percentile)
    suppressed = ["true" if s else "false" for s in aggregate.suppressed.tolist()]
    peers = [str(p) for p in aggregate.peer_count.tolist()]
    metadata = aggregate_metadata(entities)
    group = COMPARISON_GROUP
    head_metric = f'"metric":[{{"metadata":{{"metric_id":"{node.metric_id}"}},"values":'
    for i in range(entities.size):
        label = entities.labels[i]
        simple_label, robust_label = simple_labels[i], robust_labels[i]
        simple_text = _SIMPLE_TEXTS[simple_label].format(
            e=label, g=group, v=four_decimals(simple_floats[i])
        )
        robust_text = _ROBUST_TEXTS[robust_label].format(
            e=label, g=group, v=four_decimals(robust_floats[i])
        )
        yield (
            f'{{"entity":{entities.entity_json[i]},{head_metric}{value[i]}}}],"metadata":{{'
            f"{metadata[i]}}},"
            f'"statistical_methods":[{_SIMPLE_HEAD}{simple[i]},"peer_mean":{peer_mean[i]},'
            f'"peer_std":{peer_std[i]},"percentile_rank":{percentile[i]},"suppressed":{suppressed[i]}}},'
            f'{_SIMPLE_ANOMALY}{simple_label}","statistic_value":{simple[i]},"applies_to":"simple_zscore",'
            f'"interpretation":{{"template_id":"{_SIMPLE_TEMPLATE}{simple_label}","rendered":'
            f"{json_string(simple_text)}}}}}]}}],"
            f"{_RUNTIME}{peers[i]}}}}}}},{_ROBUST_HEAD}{robust[i]},"
            f'"suppressed":{suppressed[i]}}},{_ROBUST_ANOMALY}{robust_label}","statistic_value":{robust[i]},'
            f'"applies_to":"robust_zscore","interpretation":{{"template_id":"{_ROBUST_TEMPLATE}{robust_label}",'
            f'"rendered":{json_string(robust_text)}}}}}]}}],'
            f"{_RUNTIME}{peers[i]}}}}}}}]}}\n"
        )
