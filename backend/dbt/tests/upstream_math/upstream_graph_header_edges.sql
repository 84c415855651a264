-- Upstream consistency check (format spec 9.1 #5), severity warn.
-- Rule: a loaded node's header lists exactly graph.json's edges of that node: the set of
-- (related node, edge type, direction) from canonical_child_node_ids /
-- canonical_parent_node_ids equals the graph's edges whose source (child) or target
-- (parent) is the node. Runs without graph.json are not checked.
-- Stored values only: two stored descriptions of the graph (node headers, graph.json) are
-- compared with each other; there is nothing to recompute.

{{ config(severity='warn', tags=['upstream_math']) }}

with

header_edges as (

    select
        run_id,
        canonical_node_id,
        related_node_id,
        edge_type,
        edge_direction
    from {{ scoped_to_tested_runs(ref('stg_node_header_edges')) }} as stg_node_header_edges

),

graph_edges as (

    select
        graph_edges.run_id,
        graph_edges.canonical_node_id,
        graph_edges.related_node_id,
        graph_edges.edge_type,
        graph_edges.edge_direction
    from {{ scoped_to_tested_runs(ref('stg_node_edges')) }} as graph_edges
    inner join {{ scoped_to_tested_runs(ref('stg_nodes')) }} as loaded_nodes
        on graph_edges.node_key = loaded_nodes.node_key

),

runs_with_graph as (

    select distinct run_id
    from {{ scoped_to_tested_runs(ref('stg_graph_nodes')) }} as stg_graph_nodes

),

only_in_headers as (

    select
        difference.*,
        'edge in the node header but not in graph.json' as failure_reason
    from (
        select * from header_edges
        except
        select * from graph_edges
    ) as difference
    where difference.run_id in (select runs_with_graph.run_id from runs_with_graph)

),

only_in_graph as (

    select
        difference.*,
        'edge in graph.json but not in the node header' as failure_reason
    from (
        select * from graph_edges
        except
        select * from header_edges
    ) as difference

)

select * from only_in_headers
union all
select * from only_in_graph
