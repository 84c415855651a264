"""The contract between the loader and staging: every JSON field staging casts or relies on.

Staging (``backend/dbt/models/staging/``) turns the raw ``jsonb`` into typed columns with
casts (``::double precision``, ``::numeric::integer``, ``::numeric::bigint``,
``::boolean``), ``jsonb_to_record(set)`` typed columns, strict JSON paths, the period and
timestamp parsers of ``macros/parsing.sql``, and data tests of severity ``error`` (enums,
ranges, not-null keys). A value that breaks one of these breaks ``dbt build`` for every run,
so the loader checks each such field of each line here, once, and refuses the line with
``field path: reason``. The table below is the single place that says what staging needs;
``tests/test_contract.py`` parses the staging SQL and fails when a cast has no entry here.

Kinds (what the value must be when present and not null):

* ``number`` (double precision): a JSON number (not a string, not a boolean), finite, and
  either 0 or ``MIN_MAGNITUDE <= |x| <= MAX_MAGNITUDE``. The window keeps staging's
  arithmetic (sums over peer groups, products, z-score quotients) inside double precision:
  PostgreSQL raises an error on a float overflow or underflow instead of giving inf/0.
* ``integer`` / ``bigint`` (``::numeric::integer`` / ``::bigint``): a JSON number with an
  integral value (``48032.0`` is fine, the format writes counts both ways) within the
  type (and the field's own range).
* ``boolean``: JSON ``true`` or ``false``.
* ``period``: text staging parses with ``period_to_date``; a string it recognises must
  have a year >= 1 (``make_date`` rejects year 0). Other text is null in staging: allowed.
* ``timestamp``: text staging parses with ``parse_timestamptz``; a string that matches its
  pattern must be a valid ``timestamptz`` (month, day, hour, offset in range). Other text
  is null in staging: allowed.
* ``enum``: one of the format's values (a string).
* ``text``: a string (non-empty when required).

Containers: ``Fields`` (an object's keys), ``Items`` (every element of an array; with
``objects=True`` the elements must be objects, as ``jsonb_to_recordset`` and strict JSON
paths require), ``First`` (only element 0, as ``metric -> 0``), ``Either`` (a number or an
object, for ``metric[0].values``). A container that is not of its type is an error only
when it is ``strict``; otherwise staging reads it as null and it is tolerated.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from quality_compass.needle.vocabulary import NO_SCORE, SIGNAL_TYPES, TIER_LABELS

#: Magnitude window of double precision fields (see the module docstring).
MAX_MAGNITUDE = 1e100
MIN_MAGNITUDE = 1e-100
INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)

#: Anomaly labels staging accepts (the 9 tiers and no_score; dbt var anomaly_tiers).
ANOMALY_LABELS = frozenset((*TIER_LABELS, NO_SCORE))
#: statistical_method must name one of these (statistical_method_short_name, §3.3).
METHOD_SHORT_NAMES = ("slope_percentile", "robust_zscore", "simple_zscore")

# -- the specification language ------------------------------------------------------------


@dataclass(frozen=True)
class Leaf:
    """A scalar field."""

    kind: str  # number | integer | bigint | boolean | period | timestamp | enum | text | method
    required: bool = False
    minimum: float | None = None
    maximum: float | None = None
    values: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Fields:
    """An object and the fields of it that staging reads."""

    fields: Mapping[str, Spec]
    required: bool = False
    strict: bool = False


@dataclass(frozen=True)
class Items:
    """Every element of an array."""

    element: Spec | None = None
    objects: bool = False
    required: bool = False
    strict: bool = False
    unique: str | None = None  # an element field whose values must be unique in the array


@dataclass(frozen=True)
class First:
    """Element 0 of an array (``-> 0``); other elements are not read."""

    element: Spec
    required: bool = False


@dataclass(frozen=True)
class Either:
    """A number (checked as ``number``) or an object (checked as ``object_spec``)."""

    number: Leaf
    object_spec: Fields
    required: bool = False


Spec = Leaf | Fields | Items | First | Either


def number(minimum: float | None = None, maximum: float | None = None) -> Leaf:
    return Leaf("number", minimum=minimum, maximum=maximum)


def integer(minimum: int = INT32[0], maximum: int = INT32[1], required: bool = False) -> Leaf:
    return Leaf("integer", required=required, minimum=minimum, maximum=maximum)


def bigint(minimum: int = INT64[0], maximum: int = INT64[1]) -> Leaf:
    return Leaf("bigint", minimum=minimum, maximum=maximum)


def enum(values: tuple[str, ...] | frozenset[str], required: bool = False) -> Leaf:
    return Leaf("enum", required=required, values=frozenset(values))


BOOLEAN = Leaf("boolean")
PERIOD = Leaf("period")
TIMESTAMP = Leaf("timestamp")
TEXT = Leaf("text")
REQUIRED_TEXT = Leaf("text", required=True)
NUMBER = number()
COUNT = integer(minimum=0)
PERCENT = number(0, 100)


# -- the contract, per record kind ---------------------------------------------------------

#: statistics of an entity's method (stg_statistical_methods; §3.3).
_STATISTICS = Fields(
    {
        **{
            name: NUMBER
            for name in (
                "simple_zscore",
                "robust_zscore",
                "peer_mean",
                "peer_std",
                "mean_simple_zscore",
                "latest_simple_zscore",
                "mean_robust_zscore",
                "latest_robust_zscore",
                "peer_median",
                "peer_mad",
                "slope",
                "slope_weighted",
                "acceleration",
                "end_start_delta",
            )
        },
        "percentile_rank": PERCENT,
        "slope_percentile": PERCENT,
        # read by index too (``->> -1``): a scalar there would be read as its element
        "per_period_simple_zscores": Items(NUMBER, strict=True),
        "per_period_robust_zscores": Items(NUMBER, strict=True),
        "winsor_applied": BOOLEAN,
        "suppressed": BOOLEAN,
        "observations": COUNT,
        "periods": COUNT,
        "period_count": COUNT,
        "latest_period": PERIOD,
    },
    required=True,
    strict=True,
)

#: An anomaly judgement (stg_anomalies; §5.3).
_ANOMALY_METHOD = Fields(
    {
        "anomaly": enum(ANOMALY_LABELS, required=True),
        "applies_to": REQUIRED_TEXT,
        "statistic_value": NUMBER,
    }
)

#: A method of an entity line (stg_statistical_methods, stg_anomalies).
_ENTITY_METHOD = Fields(
    {
        "statistical_method": Leaf("method", required=True),
        "statistics": _STATISTICS,
        # strict '$.anomalies[*]' and '$.methods[*]': arrays, of objects
        "anomalies": Items(
            Fields({"methods": Items(_ANOMALY_METHOD, objects=True, required=True, strict=True)}),
            objects=True,
            required=True,
            strict=True,
        ),
        "runtime": Fields(
            {
                "anomaly_statistics": Fields({"peer_count": COUNT}),
                "summary": Fields({"has_issues": BOOLEAN}),
            }
        ),
    }
)

#: Lines 2..N of results/nodes/<id>.jsonl (stg_entity_results, stg_statistical_methods,
#: stg_anomalies; §5.3).
ENTITY_RESULT = Fields(
    {
        "encounters": bigint(minimum=0),
        "metadata": Fields({"encounters": bigint(minimum=0)}, strict=True),
        "metric": First(
            Fields(
                {
                    "values": Either(
                        NUMBER,
                        Fields(
                            {
                                "timeline": Items(
                                    Fields({"period": PERIOD, "value": NUMBER}), objects=True
                                )
                            }
                        ),
                    ),
                    "temporal_runtime": Fields(
                        {
                            "observed_count": COUNT,
                            "missing_count": COUNT,
                            "coverage_ratio": number(0, 1),
                        }
                    ),
                }
            ),
            required=True,
        ),
        "statistical_methods": Items(
            _ENTITY_METHOD,
            objects=True,
            required=True,
            strict=True,
            unique="statistical_method",
        ),
    }
)

#: A facet of a header method (stg_node_facets; §5.2).
_FACET = Fields(
    {
        "facet_counts": Fields(
            {"record_count": COUNT, "entity_count": COUNT, "entity_with_statistics_count": COUNT}
        ),
        "method_statistics": Fields(
            {
                "global_metric_mean": NUMBER,
                "global_metric_std": number(minimum=0),
                "std_floor": NUMBER,
                "std_floor_applied": BOOLEAN,
                "global_metric_median": NUMBER,
                "global_mad": number(minimum=0),
                "mad_floor": NUMBER,
                "mad_floor_applied": BOOLEAN,
                "winsor_percentile": NUMBER,
                "winsor_applied": BOOLEAN,
                "min_peer_count": COUNT,
            }
        ),
    }
)

_PERCENTILE_BANDS = ("p10", "p25", "p50", "p75", "p90")

#: A header method's summary (stg_node_facets, stg_node_percentile_trends).
_GLOBAL_STATISTICS = Fields(
    {
        "aggregate_statistics": Fields({"global_record_count": COUNT}),
        "facets": Items(_FACET),
        "percentile_trends": Fields(
            {
                # read by index (``-> 'p10' ->> t``): PostgreSQL reads a scalar as its own
                # element 0, so each must be an array, not only hold the right values
                "periods": Items(PERIOD, strict=True),
                **{band: Items(NUMBER, strict=True) for band in _PERCENTILE_BANDS},
                "sample_sizes": Items(COUNT, strict=True),
                "suppression_applied": Fields(
                    {band: Items(BOOLEAN, strict=True) for band in _PERCENTILE_BANDS}
                ),
            }
        ),
    }
)

#: Header edge lists (stg_node_header_edges; jsonb_to_recordset needs objects).
_HEADER_EDGES = Items(Fields({"edge_type": REQUIRED_TEXT}), objects=True)

#: Line 1 of results/nodes/<id>.jsonl (stg_nodes, stg_node_facets,
#: stg_node_percentile_trends, stg_node_header_edges; §5.2).
NODE_HEADER = Fields(
    {
        "entity_results_count": integer(minimum=0, required=True),
        "summary": Fields(
            {
                "temporal_context": Fields(
                    {"start_period": PERIOD, "end_period": PERIOD, "period_count": COUNT}
                )
            }
        ),
        "statistical_methods": Items(
            Fields(
                {
                    "statistical_method": Leaf("method", required=True),
                    "summary": Fields({"global_statistics": _GLOBAL_STATISTICS}),
                }
            ),
            unique="statistical_method",
            strict=True,
        ),
        "canonical_child_node_ids": _HEADER_EDGES,
        "canonical_parent_node_ids": _HEADER_EDGES,
    }
)

#: A line of analysis/contribution/<child>.<metric>.jsonl (stg_contributions; §6.3).
CONTRIBUTION = Fields(
    {
        **{
            name: NUMBER
            for name in (
                "child_value",
                "parent_value",
                "weighted_child_value",
                "contribution_value",
                "raw_component",
                "excess_over_parent",
            )
        },
        "weight_value": number(minimum=0),
        "weight_share": number(0, 1),
        "timestamp": TIMESTAMP,
    }
)

_SEVERITY = integer(0, 100)

#: A classification (stg_classifications; §7.4; the CSV summary is mapped to this shape).
CLASSIFICATION = Fields(
    {
        "signal_type": enum(SIGNAL_TYPES, required=True),
        "severity": integer(0, 100, required=True),
        "severity_range": Items(_SEVERITY, strict=True),
        "inputs": Fields(
            {
                name: NUMBER
                for name in (
                    "aggregate_zscore",
                    "slope_percentile",
                    "acceleration",
                    "zscore_std",
                    "max_abs_deviation",
                )
            }
        ),
        "derived_indicators": Fields({"has_spike": BOOLEAN}),
        "severity_calculation": Fields(
            {name: NUMBER for name in ("base_severity", "base", "final_severity", "final")}
        ),
        "suppressed": BOOLEAN,
        "period_count": COUNT,
        "coefficient_of_variation": NUMBER,
        "timestamp": TIMESTAMP,
    }
)

#: graph.json (stg_graph_nodes, stg_node_edges; §4.4).
GRAPH = Fields(
    {
        "nodes": Items(
            Fields(
                {
                    "id": Leaf("node_id", required=True),
                    "metric_id": REQUIRED_TEXT,
                    "graph_entry_point": BOOLEAN,
                    "group_bys": Items(),
                }
            ),
            objects=True,
            unique="id",
        ),
        "edges": Items(
            Fields({"source": REQUIRED_TEXT, "target": REQUIRED_TEXT, "type": REQUIRED_TEXT}),
            objects=True,
        ),
    }
)

#: metadata_bundle.json (stg_taxonomy_*; §4.3).
METADATA_BUNDLE = Fields(
    {
        "group_by_types": Items(
            Fields(
                {
                    "id": REQUIRED_TEXT,
                    "allowed_values": Items(Fields({"code": REQUIRED_TEXT}), unique="code"),
                }
            ),
            objects=True,
            unique="id",
        ),
        "edge_types": Items(Fields({"id": REQUIRED_TEXT}), objects=True, unique="id"),
        "metrics": Items(
            Fields({"metric_id": REQUIRED_TEXT, "null_fill_value": NUMBER}),
            objects=True,
            unique="metric_id",
        ),
        "group_by_sets": Items(
            Fields(
                {"id": REQUIRED_TEXT, "allowed_dimensions": Items(Items(REQUIRED_TEXT))},
            ),
            objects=True,
            unique="id",
        ),
    }
)

#: document_type -> contract of the documents staging reads field by field.
DOCUMENT_CONTRACTS: dict[str, Fields] = {"graph": GRAPH, "metadata_bundle": METADATA_BUNDLE}
