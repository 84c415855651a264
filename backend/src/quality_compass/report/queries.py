"""The report's SQL. It reads the marts and the semantic layer only (``public_marts``,
``public_semantic``), never raw, staging or intermediate tables, so the report shows what
every other consumer of the marts sees.

Every query is scoped to one run and bounded (a limit, or an aggregate over the run), so
its cost follows the run's size, not the history kept in the database. Big facts are read
in few passes: one aggregate for all overview counts, one ordered pass for the top
signals, one pass for the facility views, one for the details and one for the
contributions.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import psycopg
from psycopg import sql

MARTS_SCHEMA = "public_marts"
SEMANTIC_SCHEMA = "public_semantic"
#: Schemas the report may read. Nothing else is ever queried.
REPORT_SCHEMAS = (MARTS_SCHEMA, SEMANTIC_SCHEMA)

#: The history mart (change of each signal since the previous run of its graph). Its
#: section is shown only when the relation exists.
HISTORY_RELATION = f"{MARTS_SCHEMA}.fct_signal_history"
HISTORY_STATUSES = ("new", "escalated", "type_changed", "deescalated", "persisting", "resolved")
#: Change statuses the report lists signal by signal (the others are counted only).
HISTORY_LISTED = ("new", "escalated", "type_changed", "resolved")

#: The 4-level severity of the primary anomaly label, most severe first; null = no label
#: (normal or not scored).
SEVERITY_LEVELS = ("Critical", "High", "Moderate", "Watch")
NO_SEVERITY = "none"
#: Bands of the classification severity (0-100): 0-19, 20-39, 40-59, 60-79, 80-100.
SEVERITY_BAND_WIDTH = 20
SEVERITY_BANDS = ("80-100", "60-79", "40-59", "20-39", "0-19")
NO_BAND = "unscored"

#: The order of the top-signals list: classification severity, then the size of the
#: deviation, then the id (a stable order for ties).
TOP_SIGNAL_ORDER = "signal_severity desc nulls last, abs(simple_zscore) desc nulls last, signal_id"

Row = dict[str, Any]


def plain(value: Any) -> Any:
    """A value as JSON can hold it: Decimal -> float, timestamps -> ISO text, NaN -> None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Decimal):
        return plain(float(value))
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    return value


def fetch_all(
    conn: psycopg.Connection,
    query: sql.Composed | str,
    params: Sequence[Any] | Mapping[str, Any] = (),
) -> list[Row]:
    """Rows as dicts of plain values."""
    statement = query if isinstance(query, sql.Composed) else sql.SQL(query)
    with conn.cursor() as cursor:
        cursor.execute(statement, params)
        if cursor.description is None:
            return []
        names = [column.name for column in cursor.description]
        return [dict(zip(names, (plain(v) for v in row), strict=True)) for row in cursor]


def relation_exists(conn: psycopg.Connection, relation: str) -> bool:
    row = conn.execute("select to_regclass(%s) is not null", (relation,)).fetchone()
    return bool(row and row[0])


def mart(name: str) -> sql.Composed:
    return sql.SQL("{}.{}").format(sql.Identifier(MARTS_SCHEMA), sql.Identifier(name))


# -- runs ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    graph_name: str | None
    detected_at: str | None
    started_at: str | None
    loaded_at: str | None
    taxonomy_hash: str | None


def list_runs(conn: psycopg.Connection) -> list[RunInfo]:
    """Every run of dim_runs, newest first (latest detected_at, then run_id)."""
    rows = fetch_all(
        conn,
        sql.SQL(
            """
            select run_id, graph_name, detected_at, started_at, loaded_at, taxonomy_hash
            from {dim_runs}
            order by detected_at desc nulls last, run_id desc
            """
        ).format(dim_runs=mart("dim_runs")),
    )
    return [RunInfo(**row) for row in rows]


# -- row counts ----------------------------------------------------------------------------


def relation_row_counts(conn: psycopg.Connection, run_id: str) -> list[Row]:
    """Rows of each table in the marts and semantic schemas: the run's rows where the
    relation has a run_id column, else all its rows (dimensions, the time spine)."""
    relations = fetch_all(
        conn,
        """
        select
            tables.table_schema as schema_name,
            tables.table_name,
            exists (
                select 1 from information_schema.columns as columns
                where columns.table_schema = tables.table_schema
                    and columns.table_name = tables.table_name
                    and columns.column_name = 'run_id'
            ) as has_run_id
        from information_schema.tables as tables
        where tables.table_schema = any(%s)
        order by tables.table_schema, tables.table_name
        """,
        (list(REPORT_SCHEMAS),),
    )
    counts: list[Row] = []
    for relation in relations:
        identifier = sql.SQL("{}.{}").format(
            sql.Identifier(relation["schema_name"]), sql.Identifier(relation["table_name"])
        )
        if relation["has_run_id"]:
            query = sql.SQL("select count(*) from {} where run_id = %s").format(identifier)
            params: tuple[Any, ...] = (run_id,)
        else:
            query = sql.SQL("select count(*) from {}").format(identifier)
            params = ()
        row = conn.execute(query, params).fetchone()
        counts.append(
            {
                "relation": f"{relation['schema_name']}.{relation['table_name']}",
                "rows": int(row[0]) if row else 0,
                "scope": "run" if relation["has_run_id"] else "all runs",
            }
        )
    return counts


# -- overview ------------------------------------------------------------------------------


def signal_counts(conn: psycopg.Connection, run_id: str) -> list[Row]:
    """The run's signals counted by type, 4-level severity, classification severity band
    and domain, in one pass; the overview's matrices are sums over these rows."""
    return fetch_all(
        conn,
        sql.SQL(
            """
            select
                coalesce(signal_type, '(unclassified)') as signal_type,
                coalesce(severity, %(no_severity)s) as severity,
                case
                    when signal_severity is null then %(no_band)s
                    else least(floor(signal_severity / %(width)s::numeric), 4)::int::text
                end as severity_band,
                coalesce(domain, '(none)') as domain,
                count(*) as signals
            from {fct_signals}
            where run_id = %(run_id)s
            group by 1, 2, 3, 4
            """
        ).format(fct_signals=mart("fct_signals")),
        {
            "run_id": run_id,
            "no_severity": NO_SEVERITY,
            "no_band": NO_BAND,
            "width": SEVERITY_BAND_WIDTH,
        },
    )


def band_label(band: str) -> str:
    """'3' -> '60-79' (the SQL's band index to its label)."""
    if band == NO_BAND:
        return NO_BAND
    index = int(band)
    low = index * SEVERITY_BAND_WIDTH
    high = 100 if index == len(SEVERITY_BANDS) - 1 else low + SEVERITY_BAND_WIDTH - 1
    return f"{low}-{high}"


# -- signals -------------------------------------------------------------------------------

#: The columns of a signal row in the table, the facility views and the details' headers.
SIGNAL_COLUMNS = (
    "signal_id",
    "facility_id",
    "facility_name",
    "metric_id",
    "metric_name",
    "groupby_label",
    "group_value",
    "domain",
    "signal_type",
    "signal_severity",
    "severity",
    "simple_zscore",
    "anomaly_classification",
    "monthly_z_scores",
)

_SIGNAL_SELECT = """
    signals.signal_id,
    signals.facility_id,
    coalesce(facilities.facility_name, signals.facility_name) as facility_name,
    signals.metric_id,
    metrics.metric_name,
    signals.groupby_label,
    signals.group_value,
    signals.domain,
    signals.signal_type,
    signals.signal_severity,
    signals.severity,
    signals.simple_zscore,
    signals.anomaly_classification,
    signals.monthly_z_scores
"""

_SIGNAL_JOINS = """
    left join {dim_facilities} as facilities
        on signals.facility_sk = facilities.facility_sk
    left join {dim_metrics} as metrics
        on signals.metric_sk = metrics.metric_sk
"""


def _signal_query(body: str) -> sql.Composed:
    return sql.SQL(body).format(
        fct_signals=mart("fct_signals"),
        dim_facilities=mart("dim_facilities"),
        dim_metrics=mart("dim_metrics"),
        select=sql.SQL(_SIGNAL_SELECT),
        joins=sql.SQL(_SIGNAL_JOINS).format(
            dim_facilities=mart("dim_facilities"), dim_metrics=mart("dim_metrics")
        ),
        order=sql.SQL(TOP_SIGNAL_ORDER),
    )


def top_signals(conn: psycopg.Connection, run_id: str, limit: int) -> list[Row]:
    """The run's first ``limit`` signals in TOP_SIGNAL_ORDER."""
    return fetch_all(
        conn,
        _signal_query(
            """
            with top as (
                select * from {fct_signals}
                where run_id = %s
                order by {order}
                limit %s
            )
            select {select}
            from top as signals
            {joins}
            order by {order}
            """
        ),
        (run_id, limit),
    )


def facility_signals(
    conn: psycopg.Connection, run_id: str, facility_ids: Sequence[str], per_facility: int
) -> list[Row]:
    """Each facility's first ``per_facility`` signals of the run (TOP_SIGNAL_ORDER)."""
    if not facility_ids:
        return []
    return fetch_all(
        conn,
        _signal_query(
            """
            with ranked as (
                select
                    *,
                    row_number() over (partition by facility_id order by {order}) as facility_rank
                from {fct_signals}
                where run_id = %s and facility_id = any(%s)
            )
            select {select}
            from ranked as signals
            {joins}
            where signals.facility_rank <= %s
            order by signals.facility_id, signals.facility_rank
            """
        ),
        (run_id, list(facility_ids), per_facility),
    )


def facility_summaries(
    conn: psycopg.Connection, run_id: str, facility_ids: Sequence[str]
) -> list[Row]:
    """The facilities' master data (dim_facilities) and their signal counts in the run by
    type and 4-level severity."""
    if not facility_ids:
        return []
    return fetch_all(
        conn,
        sql.SQL(
            """
            with counts as (
                select
                    facility_id,
                    coalesce(signal_type, '(unclassified)') as signal_type,
                    coalesce(severity, %s) as severity,
                    count(*) as signals
                from {fct_signals}
                where run_id = %s and facility_id = any(%s)
                group by 1, 2, 3
            ),

            per_facility as (
                select
                    facility_id,
                    sum(signals) as signal_count,
                    jsonb_agg(jsonb_build_array(signal_type, severity, signals)
                        order by signal_type, severity) as counts
                from counts
                group by facility_id
            )

            select
                per_facility.facility_id,
                facilities.facility_name,
                facilities.reported_facility_name,
                facilities.system_name,
                facilities.health_system,
                facilities.facility_type,
                facilities.region,
                facilities.state,
                facilities.bed_count,
                per_facility.signal_count,
                per_facility.counts
            from per_facility
            left join {dim_facilities} as facilities
                on facilities.facility_id = per_facility.facility_id
            order by per_facility.facility_id
            """
        ).format(fct_signals=mart("fct_signals"), dim_facilities=mart("dim_facilities")),
        (NO_SEVERITY, run_id, list(facility_ids)),
    )


def signal_details(conn: psycopg.Connection, run_id: str, signal_ids: Sequence[str]) -> list[Row]:
    """What a signal's detail shows: statistics, trend, labels and classification."""
    if not signal_ids:
        return []
    return fetch_all(
        conn,
        sql.SQL(
            """
            select
                signal_id,
                canonical_node_id,
                temporal_node_id,
                system_name,
                service_line,
                sub_service_line,
                metric_value,
                benchmark_value,
                variance_percent,
                encounters,
                simple_zscore,
                robust_zscore,
                percentile_rank,
                peer_mean,
                peer_std,
                peer_count,
                latest_simple_zscore,
                mean_simple_zscore,
                slope,
                slope_percentile,
                acceleration,
                trend_direction,
                momentum,
                monthly_z_scores,
                metric_trend_timeline,
                peer_percentile_trends,
                simple_zscore_anomaly,
                robust_zscore_anomaly,
                latest_simple_zscore_anomaly,
                mean_simple_zscore_anomaly,
                latest_robust_zscore_anomaly,
                mean_robust_zscore_anomaly,
                slope_anomaly,
                signal_severity_range,
                classification_inputs,
                classification_indicators,
                classification_reasoning,
                severity_calculation,
                has_entity_result,
                has_temporal_twin
            from {fct_signals}
            where run_id = %s and signal_id = any(%s)
            """
        ).format(fct_signals=mart("fct_signals")),
        (run_id, list(signal_ids)),
    )


#: The child segments of each detail signal (``contributions``); a query of its own, as
#: the rule has several steps: parents, siblings, the kept segments and the summed rest.
_CONTRIBUTIONS_SQL = """
with targets as (
    select unnest(%(signal_ids)s::text[]) as detail_signal_id
),

records as (
    select
        parent_signal_id,
        child_signal_id,
        parent_node_id,
        parent_entity_key,
        parent_groupby_label,
        parent_group_value,
        child_node_id,
        child_groupby_label,
        child_group_value,
        weight_share,
        contribution_pct,
        contribution_direction,
        contribution_rank,
        child_value,
        parent_value,
        group_child_count
    from {fct_contributions}
    where run_id = %(run_id)s and is_metric_contribution
        and (
            parent_signal_id = any(%(signal_ids)s)
            or (parent_node_id, parent_entity_key, child_node_id) in (
                select parent_node_id, parent_entity_key, child_node_id
                from {fct_contributions}
                where run_id = %(run_id)s and is_metric_contribution
                    and child_signal_id = any(%(signal_ids)s)
            )
        )
),

as_parent as (
    select targets.detail_signal_id, 'children' as role, records.*
    from records
    join targets on records.parent_signal_id = targets.detail_signal_id
),

sibling_groups as (
    select distinct
        targets.detail_signal_id,
        records.parent_node_id,
        records.parent_entity_key,
        records.child_node_id
    from records
    join targets on records.child_signal_id = targets.detail_signal_id
    where not exists (
        select 1 from as_parent
        where as_parent.detail_signal_id = targets.detail_signal_id
    )
),

as_child as (
    select sibling_groups.detail_signal_id, 'siblings' as role, records.*
    from records
    join sibling_groups
        on records.parent_node_id = sibling_groups.parent_node_id
        and records.parent_entity_key = sibling_groups.parent_entity_key
        and records.child_node_id = sibling_groups.child_node_id
),

segments as (
    select
        *,
        child_signal_id is not distinct from detail_signal_id as is_self
    from (select * from as_parent union all select * from as_child) as all_segments
),

kept as (
    select
        detail_signal_id,
        role,
        parent_groupby_label,
        parent_group_value,
        child_node_id,
        child_groupby_label,
        child_group_value,
        child_signal_id,
        weight_share,
        contribution_pct,
        contribution_direction,
        contribution_rank,
        child_value,
        parent_value,
        group_child_count,
        is_self,
        false as is_rest
    from segments
    where contribution_rank <= %(per_group)s or is_self
),

rest as (
    select
        detail_signal_id,
        role,
        min(parent_groupby_label) as parent_groupby_label,
        min(parent_group_value) as parent_group_value,
        child_node_id,
        min(child_groupby_label) as child_groupby_label,
        count(*)::text || ' other segments' as child_group_value,
        null::text as child_signal_id,
        sum(weight_share) as weight_share,
        sum(contribution_pct) as contribution_pct,
        null::text as contribution_direction,
        min(contribution_rank) as contribution_rank,
        null::double precision as child_value,
        min(parent_value) as parent_value,
        min(group_child_count) as group_child_count,
        false as is_self,
        true as is_rest
    from segments
    where contribution_rank > %(per_group)s and not is_self
    group by detail_signal_id, role, child_node_id
)

select * from kept
union all
select * from rest
order by detail_signal_id, child_node_id, is_rest, contribution_rank
"""


def contributions(
    conn: psycopg.Connection, run_id: str, signal_ids: Sequence[str], per_group: int
) -> list[Row]:
    """The child segments charted in each signal's detail, from fct_contributions (the
    metric file's records, not the z-score files').

    A signal that is a parent gets its children (``role`` = ``children``). A signal that
    has no children but is itself a child segment gets its parent's segments, itself
    flagged ``is_self`` (``role`` = ``siblings``). Per parent group (parent entity and child
    node) the ``per_group`` highest-ranked segments are kept (and the signal itself), and
    one row (``is_rest``) sums the others, so the weight shares still add up to 1.
    """
    if not signal_ids:
        return []
    return fetch_all(
        conn,
        sql.SQL(_CONTRIBUTIONS_SQL).format(fct_contributions=mart("fct_contributions")),
        {"run_id": run_id, "signal_ids": list(signal_ids), "per_group": per_group},
    )


# -- history -------------------------------------------------------------------------------


def history_counts(conn: psycopg.Connection, run_id: str) -> list[Row]:
    """Signals of the run (and those resolved since the previous run) by change status."""
    return fetch_all(
        conn,
        sql.SQL(
            """
            select
                change_status,
                count(*) as signals,
                min(previous_run_id) as previous_run_id,
                count(distinct previous_run_id) as previous_runs
            from {history}
            where run_id = %s
            group by change_status
            """
        ).format(history=mart("fct_signal_history")),
        (run_id,),
    )


def history_lists(
    conn: psycopg.Connection, run_id: str, statuses: Iterable[str], per_status: int
) -> list[Row]:
    """For each listed change status, its ``per_status`` most severe signals, with the
    names the list shows (group from this run's signal, or the previous run's for a
    resolved one)."""
    return fetch_all(
        conn,
        sql.SQL(
            """
            with ranked as (
                select
                    history.*,
                    row_number() over (
                        partition by change_status
                        order by
                            coalesce(signal_severity, previous_signal_severity) desc nulls last,
                            abs(coalesce(severity_change, 0)) desc,
                            facility_id, metric_id, canonical_node_id, entity_key
                    ) as status_rank
                from {history} as history
                where run_id = %s and change_status = any(%s)
            ),

            listed as (
                select * from ranked where status_rank <= %s
            )

            select
                listed.change_status,
                listed.status_rank,
                listed.signal_id,
                listed.facility_id,
                coalesce(
                    facilities.facility_name, current_signal.facility_name,
                    previous_signal.facility_name
                ) as facility_name,
                listed.metric_id,
                coalesce(current_signal.groupby_label, previous_signal.groupby_label)
                    as groupby_label,
                coalesce(current_signal.group_value, previous_signal.group_value) as group_value,
                listed.signal_type,
                listed.signal_severity,
                listed.previous_run_id,
                listed.previous_signal_type,
                listed.previous_signal_severity,
                listed.severity_change,
                listed.consecutive_runs,
                listed.first_detected_run_id
            from listed
            left join {fct_signals} as current_signal
                on current_signal.run_id = listed.run_id
                and current_signal.signal_id = listed.signal_id
            left join {fct_signals} as previous_signal
                on listed.signal_id is null
                and previous_signal.run_id = listed.previous_run_id
                and previous_signal.canonical_node_id = listed.canonical_node_id
                and previous_signal.entity_key = listed.entity_key
                and previous_signal.metric_id = listed.metric_id
            left join {dim_facilities} as facilities
                on facilities.facility_id = listed.facility_id
            order by listed.change_status, listed.status_rank
            """
        ).format(
            history=mart("fct_signal_history"),
            fct_signals=mart("fct_signals"),
            dim_facilities=mart("dim_facilities"),
        ),
        (run_id, list(statuses), per_status),
    )
