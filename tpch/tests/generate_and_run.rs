//! Generation at SF 0.01 into a fresh directory, then the 22 queries.

use std::path::PathBuf;

use dfship_tpch::{FileOutcome, GenOptions, Progress, Table, TpchError};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dfship-tpch-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn options(out: &std::path::Path) -> GenOptions {
    GenOptions { scale_factor: 0.01, out: out.to_path_buf(), parts: 2, threads: 2 }
}

fn rows_of(outcomes: &[(dfship_tpch::DataFile, FileOutcome)], table: Table) -> usize {
    outcomes
        .iter()
        .filter(|(f, _)| f.table == table)
        .map(|(_, o)| match o {
            FileOutcome::Written { rows } => *rows,
            FileOutcome::Kept => 0,
        })
        .sum()
}

#[test]
fn generates_keeps_and_refuses_another_dataset() {
    let dir = scratch("gen");
    let events = std::sync::Mutex::new(Vec::new());
    let record = |p: Progress| events.lock().expect("lock").push(p);
    let first = dfship_tpch::generate(&options(&dir), &record).expect("generate");
    // The sizes TPC-H fixes for SF 0.01.
    for (table, rows) in [
        (Table::Nation, 25),
        (Table::Region, 5),
        (Table::Part, 2_000),
        (Table::Supplier, 100),
        (Table::PartSupp, 8_000),
        (Table::Customer, 1_500),
        (Table::Orders, 15_000),
        (Table::LineItem, 60_175),
    ] {
        assert_eq!(rows_of(&first, table), rows, "{}", table.name());
    }
    assert_eq!(first.len(), 2 + 6 * 2);
    let counted: usize = events
        .lock()
        .expect("lock")
        .iter()
        .map(|e| match e {
            Progress::Rows { rows, .. } => *rows,
            _ => 0,
        })
        .sum();
    assert_eq!(counted, 86_805, "progress reports every row once");

    // A second run keeps everything; a file lost since is written again,
    // and a partial file left by an interrupted run does not count.
    let lost = dir.join("orders").join("part-2.parquet");
    std::fs::remove_file(&lost).expect("remove");
    std::fs::write(dir.join("orders").join("part-2.parquet.partial"), b"interrupted").expect("write");
    let again = dfship_tpch::generate(&options(&dir), &|_| {}).expect("generate again");
    let written: Vec<_> = again
        .iter()
        .filter(|(_, o)| matches!(o, FileOutcome::Written { .. }))
        .map(|(f, _)| f.path.clone())
        .collect();
    assert_eq!(written, vec![lost.clone()]);
    assert!(!dir.join("orders").join("part-2.parquet.partial").exists());

    let other = GenOptions { scale_factor: 0.1, ..options(&dir) };
    let refused = dfship_tpch::generate(&other, &|_| {}).expect_err("another scale factor");
    assert!(matches!(refused, TpchError::OtherDataset { .. }), "{refused}");
    assert!(refused.to_string().contains("scale_factor=0.01"), "{refused}");
    assert!(matches!(
        dfship_tpch::generate(&GenOptions { scale_factor: -1.0, ..options(&dir) }, &|_| {}),
        Err(TpchError::ScaleFactor(_))
    ));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_22_queries_run_on_generated_data() {
    let dir = scratch("run");
    dfship_tpch::generate(&options(&dir), &|_| {}).expect("generate");
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    // Row counts at SF 0.01, as DuckDB computes them on the same files
    // (`make tpch-check` compares every value).
    let expected = [4, 4, 10, 5, 5, 1, 4, 2, 173, 20, 359, 2, 33, 1, 1, 296, 1, 2, 1, 1, 1, 7];
    runtime.block_on(async {
        let ctx = dfship_tpch::context(&dir).await.expect("register");
        for (n, rows) in (1..=22).zip(expected) {
            let batches = dfship_tpch::run_query(&ctx, n).await.expect("query");
            assert_eq!(dfship_tpch::row_count(&batches), rows, "q{n:02}");
        }
        // Q15 drops its view: it runs twice on one session.
        let again = dfship_tpch::run_query(&ctx, 15).await.expect("q15 again");
        assert_eq!(dfship_tpch::row_count(&again), 1);
    });
    assert!(matches!(
        runtime.block_on(dfship_tpch::context(&dir.join("missing"))),
        Err(TpchError::NoDataset { .. })
    ));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A URL output goes through the object store API (here `file://`, the same
/// code path as `s3://`): the marker is written last, and a dataset that is
/// being written, or was interrupted, is not read.
#[test]
fn a_store_url_is_written_marker_last() {
    let dir = scratch("store");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let url = format!("file://{}", dir.display());
    let out = PathBuf::from(&url);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let marker = dir.join(dfship_tpch::MARKER);
    let partial = dir.join(dfship_tpch::store::PARTIAL_MARKER);

    let first = dfship_tpch::generate(&options(&out), &|_| {}).expect("generate to a URL");
    assert_eq!(rows_of(&first, Table::LineItem), 60_175);
    assert!(marker.exists() && !partial.exists());
    assert_eq!(runtime.block_on(dfship_tpch::dataset(&out)).expect("dataset"), (0.01, 2));
    runtime.block_on(async {
        let ctx = dfship_tpch::context(&out).await.expect("register from the URL");
        let q1 = dfship_tpch::run_query(&ctx, 1).await.expect("q01");
        assert_eq!(dfship_tpch::row_count(&q1), 4);
    });

    // An interrupted run: its request recorded, a file missing, no marker.
    let lost = dir.join("lineitem").join("part-1.parquet");
    std::fs::remove_file(&lost).expect("remove");
    std::fs::rename(&marker, &partial).expect("rename");
    assert!(matches!(runtime.block_on(dfship_tpch::dataset(&out)), Err(TpchError::NoDataset { .. })));
    let other = GenOptions { scale_factor: 0.1, ..options(&out) };
    let refused = dfship_tpch::generate(&other, &|_| {}).expect_err("another request");
    assert!(matches!(refused, TpchError::OtherDataset { .. }), "{refused}");
    let resumed = dfship_tpch::generate(&options(&out), &|_| {}).expect("resume");
    let written: Vec<_> = resumed
        .iter()
        .filter(|(_, o)| matches!(o, FileOutcome::Written { .. }))
        .map(|(f, _)| f.part)
        .collect();
    assert_eq!(written, vec![1]);
    assert!(lost.exists() && marker.exists() && !partial.exists());

    // A complete dataset that lost a file stops being readable while it is
    // written again.
    std::fs::remove_file(&lost).expect("remove again");
    let seen = std::sync::Mutex::new(None);
    let watch = |p: Progress| {
        if let Progress::Rows { .. } = p {
            seen.lock().expect("lock").get_or_insert(marker.exists());
        }
    };
    dfship_tpch::generate(&options(&out), &watch).expect("repair");
    assert_eq!(*seen.lock().expect("lock"), Some(false), "the marker was still there while writing");
    assert!(marker.exists());

    let secret = "s3://key:hunter22@bucket/tpch";
    let refused = dfship_tpch::generate(&options(&PathBuf::from(secret)), &|_| {}).expect_err("credentials");
    assert!(matches!(refused, TpchError::Store { .. }), "{refused}");
    let _ = std::fs::remove_dir_all(&dir);
}
