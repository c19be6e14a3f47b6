//! Rust-level properties of the codecs, on random cases with Python UDFs
//! (self-contained, closures small and large, by-reference) built in an
//! embedded interpreter:
//!
//! * logical: encode → decode gives an equal expression (identical display;
//!   `==` when no Python UDF is involved, whose callables are compared by
//!   identity), the same results on the case's batch, and re-encoding the
//!   decoded expression gives the same bytes;
//! * physical: the whole physical plan (memory scan, projection, aggregate
//!   or window with the UDFs inside) crosses `PythonPhysicalCodec` and gives
//!   the same results, and re-encodes to the same bytes.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion::dataframe::DataFrame;
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::{Expr, col};
use datafusion::physical_plan::{ExecutionPlan, collect};
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion_proto::bytes::{
    physical_plan_from_bytes_with_extension_codec, physical_plan_to_bytes_with_extension_codec,
};
use dfship_core::codec::{PythonLogicalCodec, PythonPhysicalCodec};
use dfship_core::codec::{WireLimits, decode_logical_expr, encode_logical_expr};
use dfship_harness::spec::{Case, Root};
use dfship_harness::strategies::{Config, case};
use dfship_harness::{cases, data, proptest_config, python};
use proptest::prelude::*;
use proptest::test_runner::TestRunner;

fn rust_config() -> Config {
    Config { ffi: false, ..Config::default() }
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("rt")
    })
}

fn session() -> SessionContext {
    SessionContext::new_with_config(SessionConfig::new().with_target_partitions(1))
}

/// The DataFrame evaluating `expr` as the case's root.
fn dataframe(ctx: &SessionContext, case: &Case, batch: &RecordBatch, expr: Expr) -> DfResult<DataFrame> {
    let df = ctx.read_batch(batch.clone())?;
    match &case.root {
        Root::Aggregate { group_by, .. } => {
            let keys: Vec<Expr> = group_by.iter().map(|g| col(g.as_str())).collect();
            let sort = group_by.iter().map(|g| col(g.as_str()).sort(true, true)).collect();
            let out = df.aggregate(keys, vec![expr.alias("out")])?;
            if group_by.is_some() { out.sort(sort) } else { Ok(out) }
        }
        _ => df.select(vec![col("rid"), expr.alias("out")])?.sort(vec![col("rid").sort(true, true)]),
    }
}

/// A printable outcome: the pretty table, or the error's text.
fn outcome(result: DfResult<Vec<RecordBatch>>) -> String {
    match result {
        Ok(batches) => {
            pretty_format_batches(&batches).map_or_else(|e| format!("unprintable: {e}"), |t| t.to_string())
        }
        Err(e) => format!("error: {e}"),
    }
}

fn evaluate(case: &Case, batch: &RecordBatch, expr: Expr) -> String {
    let ctx = session();
    outcome(runtime().block_on(async {
        let df = dataframe(&ctx, case, batch, expr)?;
        df.collect().await
    }))
}

fn run_plan(ctx: &SessionContext, plan: Arc<dyn ExecutionPlan>) -> String {
    outcome(runtime().block_on(collect(plan, ctx.task_ctx())))
}

/// What a property run covered.
#[derive(Default)]
struct Counts {
    with_python: AtomicUsize,
    planned: AtomicUsize,
}

fn logical(case: &Case, counts: &Counts) -> Result<(), TestCaseError> {
    let ctx = session();
    let expr = python::build_root(case, &ctx.state()).map_err(TestCaseError::fail)?;
    let codec = PythonLogicalCodec::new();
    let limits = WireLimits::default();
    let bytes = encode_logical_expr(&expr, &codec, &limits)
        .map_err(|e| TestCaseError::fail(format!("encode: {e}")))?;
    let back = decode_logical_expr(&bytes, &ctx.task_ctx(), &codec, &limits)
        .map_err(|e| TestCaseError::fail(format!("decode: {e}")))?;
    prop_assert_eq!(back.to_string(), expr.to_string());
    if case.udfs.is_empty() {
        prop_assert_eq!(&back, &expr);
    } else {
        counts.with_python.fetch_add(1, Ordering::Relaxed);
    }
    let again = encode_logical_expr(&back, &codec, &limits)
        .map_err(|e| TestCaseError::fail(format!("re-encode: {e}")))?;
    prop_assert!(again == bytes, "re-encoding is not byte-stable ({} vs {} bytes)", again.len(), bytes.len());
    let batch = data::batch(case);
    prop_assert_eq!(evaluate(case, &batch, back), evaluate(case, &batch, expr));
    Ok(())
}

fn physical(case: &Case, counts: &Counts) -> Result<(), TestCaseError> {
    let ctx = session();
    let expr = python::build_root(case, &ctx.state()).map_err(TestCaseError::fail)?;
    let batch = data::batch(case);
    let plan =
        runtime().block_on(async { dataframe(&ctx, case, &batch, expr)?.create_physical_plan().await });
    // Expressions DataFusion cannot plan (the generator's rare type slips)
    // have nothing to ship; the logical property still covers them.
    let Ok(plan) = plan else { return Ok(()) };
    counts.planned.fetch_add(1, Ordering::Relaxed);
    if !case.udfs.is_empty() {
        counts.with_python.fetch_add(1, Ordering::Relaxed);
    }
    let codec = PythonPhysicalCodec::new();
    let bytes = physical_plan_to_bytes_with_extension_codec(Arc::clone(&plan), &codec)
        .map_err(|e| TestCaseError::fail(format!("encode: {e}")))?;
    let worker = session();
    let back = physical_plan_from_bytes_with_extension_codec(&bytes, &worker.task_ctx(), &codec)
        .map_err(|e| TestCaseError::fail(format!("decode: {e}")))?;
    let again = physical_plan_to_bytes_with_extension_codec(Arc::clone(&back), &codec)
        .map_err(|e| TestCaseError::fail(format!("re-encode: {e}")))?;
    prop_assert!(
        again == bytes,
        "re-encoding the plan is not byte-stable ({} vs {} bytes)",
        again.len(),
        bytes.len()
    );
    prop_assert_eq!(run_plan(&worker, back), run_plan(&ctx, plan));
    Ok(())
}

fn run(name: &str, n: u32, property: fn(&Case, &Counts) -> Result<(), TestCaseError>) {
    let config = proptest_config(&name.replace(' ', "_"), n);
    let mut runner = TestRunner::new(config);
    let counts = Counts::default();
    let result = runner.run(&case(rust_config()), |c| property(&c, &counts));
    let planned = counts.planned.load(Ordering::Relaxed);
    let plans = if planned > 0 { format!(", {planned} physical plans shipped") } else { String::new() };
    dfship_harness::report(&format!(
        "harness {name}: {n} cases passed ({} runs with Python UDFs{plans}, shrinking included)",
        counts.with_python.load(Ordering::Relaxed),
    ));
    if let Err(e) = result {
        panic!("{name} failed: {e}");
    }
}

#[test]
fn logical_codec_round_trip() {
    run("logical round trip", cases(8), logical);
}

#[test]
fn physical_codec_round_trip() {
    run("physical round trip", cases(4), physical);
}

/// The generator reaches everything it should, and what it makes is mostly
/// valid: otherwise the properties above would prove little.
#[test]
fn generator_covers_the_space() {
    use std::collections::BTreeMap;

    use dfship_harness::spec::UdfKind;
    use proptest::strategy::ValueTree;

    let mut runner = TestRunner::deterministic();
    let strategy = case(Config::default());
    let (mut with_udf, mut planned, mut with_ffi, total) = (0, 0, 0, 300);
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for _ in 0..total {
        let c = strategy.new_tree(&mut runner).expect("a case").current();
        if !c.udfs.is_empty() {
            with_udf += 1;
        }
        for u in &c.udfs {
            let kind = match u.kind {
                UdfKind::SelfContained { .. } => "self-contained",
                UdfKind::Closure { .. } => "closure",
                UdfKind::ClosureLarge { .. } => "closure-large",
                UdfKind::Module => "module",
                UdfKind::Ffi => "ffi",
            };
            *seen.entry(format!("{}/{kind}", u.family.name())).or_default() += 1;
        }
        let root = match &c.root {
            Root::Select(_) => "select",
            Root::Aggregate { .. } => "aggregate",
            Root::Window { .. } => "window",
        };
        *seen.entry(root.to_owned()).or_default() += 1;
        if c.uses_ffi() {
            // FFI UDFs need the Python module that exports them: the matrix plans those.
            with_ffi += 1;
            continue;
        }
        let ctx = session();
        let expr = python::build_root(&c, &ctx.state()).expect("the case builds");
        let batch = data::batch(&c);
        if runtime()
            .block_on(async { dataframe(&ctx, &c, &batch, expr)?.create_physical_plan().await })
            .is_ok()
        {
            planned += 1;
        } else {
            *seen.entry("unplannable".into()).or_default() += 1;
        }
    }
    dfship_harness::report(&format!(
        "generator: {total} cases, {with_udf} with UDFs, {planned} planned; {seen:?}"
    ));
    for family in ["scalar", "aggregate", "window"] {
        for kind in ["self-contained", "closure", "closure-large", "module", "ffi"] {
            assert!(
                seen.contains_key(&format!("{family}/{kind}")),
                "never generated a {family} UDF of kind {kind}"
            );
        }
    }
    assert!(with_udf * 2 > total, "only {with_udf} of {total} cases have a UDF");
    let non_ffi = total - with_ffi;
    assert!(planned * 20 >= non_ffi * 19, "only {planned} of the {non_ffi} cases without FFI UDFs plan");
}
