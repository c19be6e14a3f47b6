//! dfship's property-testing harness.
//!
//! * [`spec`] — a test case as plain data that prints as a readable
//!   counterexample;
//! * [`strategies`] — proptest strategies generating cases (shared with the
//!   benches);
//! * [`render`] — a case as Python source (for the driver) and as a
//!   DataFusion expression (for the Rust-level properties);
//! * [`data`] — a case's batch as Arrow data;
//! * [`python`] — the embedded interpreter the Rust-level properties use to
//!   build Python UDFs;
//! * [`driver`] — the long-lived Python driver process behind the matrix;
//! * [`oracle`] — what each crossing of the matrix must give;
//! * [`snap`] — the one wrapper around insta snapshots, with its filters.
//!
//! `HARNESS_CASES` scales every property's case count (see [`cases`]).

pub mod data;
pub mod driver;
pub mod oracle;
pub mod python;
pub mod render;
pub mod snap;
pub mod spec;
pub mod strategies;

use std::path::PathBuf;

/// The default number of cases of the matrix property; the other properties
/// run a fixed multiple of it. `HARNESS_CASES=N` replaces it.
pub const DEFAULT_CASES: u32 = 256;

/// Cases for a property that runs `per_case` times as many as the matrix.
pub fn cases(per_case: u32) -> u32 {
    let base =
        std::env::var("HARNESS_CASES").ok().and_then(|v| v.parse::<u32>().ok()).unwrap_or(DEFAULT_CASES);
    base.max(1).saturating_mul(per_case)
}

/// A proptest config for `n` cases of the suite `name`: failures are
/// recorded in `harness/proptest-regressions/<name>.txt` (committed, and
/// replayed first on every run), and shrinking goes on for up to 2048 steps
/// or five minutes so counterexamples come out small.
pub fn proptest_config(name: &str, n: u32) -> proptest::test_runner::Config {
    let path = workspace_root().join("harness").join("proptest-regressions").join(format!("{name}.txt"));
    // proptest keeps the path for the whole run; one small leak per suite.
    let path: &'static str = Box::leak(path.display().to_string().into_boxed_str());
    proptest::test_runner::Config {
        cases: n,
        max_shrink_iters: 2048,
        max_shrink_time: 300_000,
        failure_persistence: Some(Box::new(proptest::test_runner::FileFailurePersistence::Direct(path))),
        ..proptest::test_runner::Config::default()
    }
}

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("harness/ is inside the workspace")
        .to_path_buf()
}

/// The file every suite appends its one-line figures to (`make harness`
/// prints it at the end).
pub fn report_path() -> PathBuf {
    workspace_root().join("target").join("harness-report.txt")
}

/// Reports what a suite covered: printed, and appended to [`report_path`].
#[allow(clippy::print_stdout)] // reporting is this function's job
pub fn report(line: &str) {
    use std::io::Write as _;
    println!("{line}");
    let path = report_path();
    // `target/` is absent from a clone whose builds go to CARGO_TARGET_DIR.
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(path) {
        let _ = writeln!(f, "{line}");
    }
}
