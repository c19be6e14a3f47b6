//! The corpus the codec benches run over, and the two codecs side by side:
//!
//! * the **floor**: plain datafusion-proto, `Expr::to_bytes` /
//!   `from_bytes_with_ctx` (no frame, no Python, built-in functions only);
//! * **dfship**: the framed `PythonLogicalCodec` / `PythonPhysicalCodec`
//!   path every payload of the package takes.
//!
//! The corpus: the five reference expressions (the three with Python UDFs
//! built in an embedded interpreter), every expression of the 22 TPC-H
//! plans, the 22 physical plans themselves, random expressions from the
//! property harness's strategies, and balanced trees of 10 to 10,000 nodes.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::datasource::MemTable;
use datafusion::execution::TaskContext;
use datafusion::functions::expr_fn::{abs, concat, upper};
use datafusion::logical_expr::{Expr, LogicalPlan, Volatility, col, lit, when};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion_proto::bytes::Serializeable;
use dfship_core::codec::{
    PythonLogicalCodec, PythonPhysicalCodec, decode_physical_plan, encode_physical_plan,
};
use dfship_core::codec::{WireLimits, decode_logical_expr, encode_logical_expr};
use dfship_core::udf::UdfSignature;
use dfship_core::udf::aggregate::PythonAggregateUDF;
use dfship_core::udf::scalar::PythonScalarUDF;
use dfship_core::udf::window::PythonWindowUDF;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use tpchgen_arrow::{
    CustomerArrow, LineItemArrow, NationArrow, OrderArrow, PartArrow, PartSuppArrow, RegionArrow,
    SupplierArrow,
};

/// One expression of the corpus.
#[derive(Debug, Clone)]
pub struct Item {
    pub name: String,
    pub expr: Expr,
    /// Only built-in functions: the floor can encode it.
    pub builtin: bool,
}

/// A session with one partition per plan, as the benches' registry.
pub fn session() -> SessionContext {
    SessionContext::new_with_config(SessionConfig::new().with_target_partitions(1))
}

/// The floor: datafusion-proto's own bytes, no frame.
pub fn floor_encode(expr: &Expr) -> Vec<u8> {
    expr.to_bytes().expect("datafusion-proto encodes built-in expressions").to_vec()
}

pub fn floor_decode(bytes: &[u8], task: &TaskContext) -> Expr {
    Expr::from_bytes_with_ctx(bytes, task).expect("datafusion-proto decodes its own bytes")
}

/// dfship's framed logical path, inlining on.
pub fn dfship_encode(expr: &Expr) -> Vec<u8> {
    encode_logical_expr(expr, &PythonLogicalCodec::new(), &limits()).expect("dfship encodes")
}

pub fn dfship_decode(bytes: &[u8], task: &TaskContext) -> Expr {
    decode_logical_expr(bytes, task, &PythonLogicalCodec::new(), &limits()).expect("dfship decodes")
}

pub fn floor_encode_plan(plan: &Arc<dyn ExecutionPlan>) -> Vec<u8> {
    datafusion_proto::bytes::physical_plan_to_bytes(Arc::clone(plan))
        .expect("datafusion-proto encodes the plan")
        .to_vec()
}

pub fn floor_decode_plan(bytes: &[u8], task: &TaskContext) -> Arc<dyn ExecutionPlan> {
    datafusion_proto::bytes::physical_plan_from_bytes(bytes, task)
        .expect("datafusion-proto decodes its own plan")
}

pub fn dfship_encode_plan(plan: &Arc<dyn ExecutionPlan>) -> Vec<u8> {
    encode_physical_plan(plan, &PythonPhysicalCodec::new(), &limits()).expect("dfship encodes the plan")
}

pub fn dfship_decode_plan(bytes: &[u8], task: &TaskContext) -> Arc<dyn ExecutionPlan> {
    decode_physical_plan(bytes, task, &PythonPhysicalCodec::new(), &limits())
        .expect("dfship decodes the plan")
}

fn limits() -> WireLimits {
    // Room for the 10,000-node trees and the largest plans.
    WireLimits { max_payload_bytes: 1 << 30, ..WireLimits::default() }
}

/// The Python side of the reference UDFs: the same bodies as
/// `compare_reference.py` builds for both packages.
const REFERENCE_UDFS: &str = r#"
import pyarrow as pa
import pyarrow.compute as pc
import dfship

def _make_scale():
    factor, offsets = 3, {"bias": 7}
    def scale(a):
        return pc.add(pc.multiply(a, factor), offsets["bias"])
    return scale

scale = _make_scale()

class Summer(dfship.Accumulator):
    def __init__(self):
        self.total = 0
    def update(self, values):
        self.total += pc.sum(values).as_py() or 0
    def merge(self, states):
        self.total += pc.sum(states[0]).as_py() or 0
    def state(self):
        return [pa.scalar(self.total)]
    def evaluate(self):
        return pa.scalar(self.total)

class Running(dfship.WindowEvaluator):
    def evaluate_all(self, values, num_rows):
        return pc.cumulative_sum(values[0])
"#;

fn int_shape() -> UdfSignature {
    UdfSignature {
        input_types: vec![DataType::Int64],
        return_type: DataType::Int64,
        volatility: Volatility::Immutable,
    }
}

/// The five reference expressions.
pub fn reference() -> Vec<Item> {
    dfship_harness::python::init();
    let (scale, summer, running) = Python::attach(|py| -> PyResult<_> {
        let namespace = PyDict::new(py);
        namespace.set_item("__name__", "dfship_bench_reference")?;
        let source = std::ffi::CString::new(REFERENCE_UDFS).expect("no NUL");
        py.run(&source, Some(&namespace), None)?;
        let get =
            |name: &str| -> PyResult<Py<PyAny>> { Ok(namespace.get_item(name)?.expect("defined").unbind()) };
        Ok((get("scale")?, get("Summer")?, get("Running")?))
    })
    .expect("the reference UDFs build in the embedded interpreter");
    let scale = PythonScalarUDF::new("scale", scale, int_shape()).into_udf();
    let summer = PythonAggregateUDF::new("summer", summer, int_shape(), vec![DataType::Int64]).into_udaf();
    let running = PythonWindowUDF::new("running", running, int_shape()).into_udwf();
    let builtin27 = when(col("a").between(lit(1i64), lit(10i64)), upper(col("s")))
        .when(abs(col("a") - lit(100i64)).in_list(vec![lit(1i64), lit(2i64), lit(3i64)], false), lit("near"))
        .when(abs(col("a")).gt(lit(150i64)), upper(concat(vec![col("s"), lit("!")])))
        .otherwise(concat(vec![col("s"), lit("?")]))
        .expect("a valid case expression");
    vec![
        item("col(a) + lit(1)", col("a") + lit(1i64), true),
        item("27-node built-in", builtin27, true),
        item("scalar UDF, closure", scale.call(vec![col("a")]), false),
        item("aggregate UDF", summer.call(vec![col("a")]), false),
        item(
            "window UDF",
            Expr::from(datafusion::logical_expr::expr::WindowFunction::new(
                Arc::new(running),
                vec![col("a")],
            )),
            false,
        ),
    ]
}

fn item(name: &str, expr: Expr, builtin: bool) -> Item {
    Item { name: name.to_string(), expr, builtin }
}

/// A balanced tree of additions over `a` with about `nodes` nodes (column
/// and literal leaves included), shallow enough for any limit.
pub fn balanced(nodes: usize) -> Expr {
    let leaves = nodes.div_ceil(2).max(1);
    let mut level: Vec<Expr> = (0..leaves)
        .map(|i| if i % 2 == 0 { col("a") } else { lit(i64::try_from(i).unwrap_or(i64::MAX)) })
        .collect();
    while level.len() > 1 {
        level = level
            .chunks(2)
            .map(|pair| match pair {
                [l, r] => l.clone() + r.clone(),
                [one] => one.clone(),
                _ => unreachable!("chunks of two"),
            })
            .collect();
    }
    level.pop().expect("at least one leaf")
}

/// The number of nodes of an expression.
pub fn node_count(expr: &Expr) -> usize {
    let mut n = 0;
    let _ = expr.apply(|_| {
        n += 1;
        Ok(TreeNodeRecursion::Continue)
    });
    n
}

use datafusion::common::tree_node::TreeNode;

fn tpch_schemas() -> [(&'static str, SchemaRef); 8] {
    [
        ("nation", NationArrow::schema_ref()),
        ("region", RegionArrow::schema_ref()),
        ("part", PartArrow::schema_ref()),
        ("supplier", SupplierArrow::schema_ref()),
        ("partsupp", PartSuppArrow::schema_ref()),
        ("customer", CustomerArrow::schema_ref()),
        ("orders", OrderArrow::schema_ref()),
        ("lineitem", LineItemArrow::schema_ref()),
    ]
}

/// A session with the eight TPC-H tables registered, empty: planning needs
/// only their schemas.
pub fn tpch_session() -> SessionContext {
    let ctx = session();
    for (name, schema) in tpch_schemas() {
        let table = MemTable::try_new(schema, vec![vec![]]).expect("an empty table");
        ctx.register_table(name, Arc::new(table)).expect("register");
    }
    ctx
}

/// One TPC-H query's optimized logical plan and physical plan.
pub struct TpchPlan {
    pub query: u32,
    pub logical: LogicalPlan,
    pub physical: Arc<dyn ExecutionPlan>,
}

/// The 22 queries planned on `ctx` (from `tpch_session`).
pub async fn tpch_plans(ctx: &SessionContext) -> Vec<TpchPlan> {
    let mut out = Vec::new();
    for query in 1..=22 {
        let text = dfship_tpch::query(query).expect("22 queries");
        let mut planned = None;
        for statement in dfship_tpch::statements(text) {
            let df = ctx.sql(statement).await.expect("the query plans");
            let first = statement
                .lines()
                .find(|l| !l.trim().is_empty() && !l.trim().starts_with("--"))
                .unwrap_or("")
                .trim_start()
                .to_ascii_lowercase();
            if first.starts_with("create") || first.starts_with("drop") {
                df.collect().await.expect("the view statement runs");
                continue;
            }
            let logical = df.clone().into_optimized_plan().expect("optimizes");
            let physical = df.create_physical_plan().await.expect("plans physically");
            planned = Some(TpchPlan { query, logical, physical });
        }
        out.push(planned.expect("one select per query"));
    }
    out
}

/// Every expression of a logical plan's nodes (filters, projections,
/// aggregates, join conditions, sort keys) that the floor can encode.
pub fn plan_expressions(plan: &LogicalPlan) -> Vec<Expr> {
    let mut out = Vec::new();
    let _ = plan.apply(|node| {
        for expr in node.expressions() {
            if expr.to_bytes().is_ok() {
                out.push(expr);
            }
        }
        Ok(TreeNodeRecursion::Continue)
    });
    out
}

/// `n` random expressions from the property harness's strategies (Python
/// UDFs included), reproducible: a fixed seed.
pub fn generated(n: usize, registry: &SessionContext) -> Vec<Item> {
    use proptest::strategy::{Strategy, ValueTree};
    use proptest::test_runner::TestRunner;
    let config = dfship_harness::strategies::Config { ffi: false, ..Default::default() };
    let strategy = dfship_harness::strategies::case(config);
    let mut runner = TestRunner::deterministic();
    let state = registry.state();
    let mut out = Vec::new();
    while out.len() < n {
        let case = strategy.new_tree(&mut runner).expect("a case").current();
        let Ok(expr) = dfship_harness::python::build_root(&case, &state) else {
            continue;
        };
        let builtin = case.udfs.is_empty();
        out.push(item(&format!("generated {}", out.len()), expr, builtin));
    }
    out
}

/// Every corpus item survives both codecs (same display; the floor only
/// where it applies), so a bench never times a failing or lossy path.
pub fn check_round_trips(items: &[Item], plans: &[TpchPlan], task: &TaskContext) {
    for item in items {
        let shown = item.expr.to_string();
        let back = dfship_decode(&dfship_encode(&item.expr), task);
        assert_eq!(back.to_string(), shown, "{}: dfship round trip", item.name);
        if item.builtin {
            let back = floor_decode(&floor_encode(&item.expr), task);
            assert_eq!(back.to_string(), shown, "{}: floor round trip", item.name);
        }
    }
    for plan in plans {
        let shown = datafusion::physical_plan::displayable(plan.physical.as_ref()).indent(true).to_string();
        for (codec, back) in [
            ("dfship", dfship_decode_plan(&dfship_encode_plan(&plan.physical), task)),
            ("floor", floor_decode_plan(&floor_encode_plan(&plan.physical), task)),
        ] {
            let back = datafusion::physical_plan::displayable(back.as_ref()).indent(true).to_string();
            assert_eq!(back, shown, "q{:02}: {codec} plan round trip", plan.query);
        }
    }
}

/// Sizes of every corpus item under both codecs, as JSON for the report.
pub fn sizes_json(
    reference: &[Item],
    tpch: &[(u32, Vec<Expr>)],
    plans: &[TpchPlan],
    generated: &[Item],
    trees: &[(usize, Expr)],
) -> serde_json::Value {
    use serde_json::json;
    let pair = |e: &Expr, builtin: bool| {
        json!({
            "nodes": node_count(e),
            "dfship": dfship_encode(e).len(),
            "floor": if builtin { json!(floor_encode(e).len()) } else { json!(null) },
        })
    };
    json!({
        "reference": reference.iter().map(|i| {
            let mut v = pair(&i.expr, i.builtin);
            v["name"] = json!(i.name);
            v
        }).collect::<Vec<_>>(),
        "tpch_expressions": tpch.iter().map(|(q, exprs)| json!({
            "query": q,
            "count": exprs.len(),
            "dfship": exprs.iter().map(|e| dfship_encode(e).len()).sum::<usize>(),
            "floor": exprs.iter().map(|e| floor_encode(e).len()).sum::<usize>(),
        })).collect::<Vec<_>>(),
        "tpch_plans": plans.iter().map(|p| json!({
            "query": p.query,
            "dfship": dfship_encode_plan(&p.physical).len(),
            "floor": floor_encode_plan(&p.physical).len(),
        })).collect::<Vec<_>>(),
        "generated": generated.iter().map(|i| pair(&i.expr, i.builtin)).collect::<Vec<_>>(),
        "trees": trees.iter().map(|(n, e)| {
            let mut v = pair(e, true);
            v["target_nodes"] = json!(n);
            v
        }).collect::<Vec<_>>(),
    })
}
