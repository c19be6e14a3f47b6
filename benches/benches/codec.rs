//! `cargo bench -p dfship-benches`: encode and decode time of dfship's
//! codecs beside plain datafusion-proto (the floor), over the corpus of
//! `dfship_benches`. Sizes need no timing: they are written once, to
//! `criterion/dfship-sizes.json` under the target directory, for the report.
//!
//! Under `cargo test --benches` criterion runs each bench once.

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use datafusion::execution::TaskContext;
use datafusion::logical_expr::Expr;
use dfship_benches::{
    Item, TpchPlan, balanced, check_round_trips, dfship_decode, dfship_decode_plan, dfship_encode,
    dfship_encode_plan, floor_decode, floor_decode_plan, floor_encode, floor_encode_plan, generated,
    plan_expressions, reference, sizes_json, tpch_plans, tpch_session,
};

const TREE_SIZES: [usize; 4] = [10, 100, 1_000, 10_000];

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join("target"), PathBuf::from)
}

fn each_expr(exprs: &[Expr], f: impl Fn(&Expr) -> Vec<u8>) -> Vec<Vec<u8>> {
    exprs.iter().map(f).collect()
}

fn codecs(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let ctx = tpch_session();
    let task = ctx.task_ctx();
    let reference = reference();
    let plans = runtime.block_on(tpch_plans(&ctx));
    let tpch: Vec<(u32, Vec<Expr>)> = plans.iter().map(|p| (p.query, plan_expressions(&p.logical))).collect();
    let generated: Vec<Item> = generated(32, &ctx);
    let trees: Vec<(usize, Expr)> = TREE_SIZES.iter().map(|&n| (n, balanced(n))).collect();

    let everything: Vec<Item> = reference
        .iter()
        .cloned()
        .chain(tpch.iter().flat_map(|(q, exprs)| {
            exprs.iter().enumerate().map(move |(i, e)| Item {
                name: format!("q{q:02} expression {i}"),
                expr: e.clone(),
                builtin: true,
            })
        }))
        .chain(generated.iter().cloned())
        .chain(trees.iter().map(|(n, e)| Item {
            name: format!("tree of {n}"),
            expr: e.clone(),
            builtin: true,
        }))
        .collect();
    check_round_trips(&everything, &plans, &task);

    let sizes = sizes_json(&reference, &tpch, &plans, &generated, &trees);
    let out = target_dir().join("criterion");
    std::fs::create_dir_all(&out).expect("the criterion directory");
    std::fs::write(out.join("dfship-sizes.json"), serde_json::to_string_pretty(&sizes).expect("json"))
        .expect("write the sizes");

    bench_reference(c, &reference, &task);

    bench_tpch(c, &tpch, &plans, &task);

    // Random expressions of the property harness (a third with Python UDFs).
    let exprs: Vec<Expr> = generated.iter().map(|i| i.expr.clone()).collect();
    let framed = each_expr(&exprs, dfship_encode);
    let mut group = c.benchmark_group("generated");
    group.bench_function("encode/dfship", |b| b.iter(|| each_expr(black_box(&exprs), dfship_encode)));
    group.bench_function("decode/dfship", |b| {
        b.iter(|| framed.iter().map(|f| dfship_decode(f, &task)).collect::<Vec<_>>());
    });
    group.finish();

    // Scaling with expression size.
    let mut group = c.benchmark_group("trees");
    for (n, tree) in &trees {
        let framed = dfship_encode(tree);
        let plain = floor_encode(tree);
        group.bench_with_input(BenchmarkId::new("encode/dfship", n), tree, |b, t| {
            b.iter(|| dfship_encode(black_box(t)));
        });
        group.bench_with_input(BenchmarkId::new("encode/floor", n), tree, |b, t| {
            b.iter(|| floor_encode(black_box(t)));
        });
        group.bench_with_input(BenchmarkId::new("decode/dfship", n), &framed, |b, f| {
            b.iter(|| dfship_decode(black_box(f), &task));
        });
        group.bench_with_input(BenchmarkId::new("decode/floor", n), &plain, |b, f| {
            b.iter(|| floor_decode(black_box(f), &task));
        });
    }
    group.finish();
}

fn bench_reference(c: &mut Criterion, reference: &[Item], task: &TaskContext) {
    // The five reference expressions, one by one; Python UDFs decode with
    // the decoded-UDF cache warm (a hit) and cleared before each decode (a
    // miss), reported apart.
    let mut group = c.benchmark_group("reference");
    for item in reference {
        let framed = dfship_encode(&item.expr);
        group.bench_function(BenchmarkId::new("encode/dfship", &item.name), |b| {
            b.iter(|| dfship_encode(black_box(&item.expr)));
        });
        group.bench_function(BenchmarkId::new("decode/dfship", &item.name), |b| {
            b.iter(|| dfship_decode(black_box(&framed), task));
        });
        if item.builtin {
            let plain = floor_encode(&item.expr);
            group.bench_function(BenchmarkId::new("encode/floor", &item.name), |b| {
                b.iter(|| floor_encode(black_box(&item.expr)));
            });
            group.bench_function(BenchmarkId::new("decode/floor", &item.name), |b| {
                b.iter(|| floor_decode(black_box(&plain), task));
            });
        } else {
            group.bench_function(BenchmarkId::new("decode-miss/dfship", &item.name), |b| {
                b.iter(|| {
                    dfship_core::codec::clear_decoded_udf_cache();
                    dfship_decode(black_box(&framed), task)
                });
            });
        }
    }
    group.finish();
}

fn bench_tpch(c: &mut Criterion, tpch: &[(u32, Vec<Expr>)], plans: &[TpchPlan], task: &TaskContext) {
    // Every expression of the 22 TPC-H plans, as one batch.
    let all: Vec<Expr> = tpch.iter().flat_map(|(_, e)| e.iter().cloned()).collect();
    let framed = each_expr(&all, dfship_encode);
    let plain = each_expr(&all, floor_encode);
    let mut group = c.benchmark_group("tpch-expressions");
    group.bench_function("encode/dfship", |b| b.iter(|| each_expr(black_box(&all), dfship_encode)));
    group.bench_function("encode/floor", |b| b.iter(|| each_expr(black_box(&all), floor_encode)));
    group.bench_function("decode/dfship", |b| {
        b.iter(|| framed.iter().map(|f| dfship_decode(f, task)).collect::<Vec<_>>());
    });
    group.bench_function("decode/floor", |b| {
        b.iter(|| plain.iter().map(|f| floor_decode(f, task)).collect::<Vec<_>>());
    });
    group.finish();

    // The 22 physical plans.
    let framed: Vec<Vec<u8>> = plans.iter().map(|p| dfship_encode_plan(&p.physical)).collect();
    let plain: Vec<Vec<u8>> = plans.iter().map(|p| floor_encode_plan(&p.physical)).collect();
    let mut group = c.benchmark_group("tpch-plans");
    group.bench_function("encode/dfship", |b| {
        b.iter(|| plans.iter().map(|p| dfship_encode_plan(black_box(&p.physical))).collect::<Vec<_>>());
    });
    group.bench_function("encode/floor", |b| {
        b.iter(|| plans.iter().map(|p| floor_encode_plan(black_box(&p.physical))).collect::<Vec<_>>());
    });
    group.bench_function("decode/dfship", |b| {
        b.iter(|| framed.iter().map(|f| dfship_decode_plan(f, task)).collect::<Vec<_>>());
    });
    group.bench_function("decode/floor", |b| {
        b.iter(|| plain.iter().map(|f| floor_decode_plan(f, task)).collect::<Vec<_>>());
    });
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs(2))
}

criterion_group! {
    name = benches;
    config = config();
    targets = codecs
}
criterion_main!(benches);
