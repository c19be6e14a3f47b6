//! The matrix: every generated case crosses every combination of slot
//! (explicit `ctx=`, sender + worker slots via pickle, global fallback),
//! start method (fork, spawn, forkserver), sender inlining, receiver
//! inlining and receiver registration — 72 crossings — in real worker
//! processes driven by `harness/driver/driver.py`, and each crossing must
//! give what [`dfship_harness::oracle`] says: the local result, or exactly
//! the typed error the combination calls for.

use std::sync::Mutex;

use dfship_harness::driver::with_driver;
use dfship_harness::oracle::{COMBINATIONS, Tally, check};
use dfship_harness::strategies::{Config, case};
use dfship_harness::{cases, proptest_config};
use proptest::test_runner::{TestCaseError, TestRunner};

#[test]
fn every_case_crosses_every_combination() {
    let n = cases(1);
    let config = proptest_config("matrix", n);
    let tally = Mutex::new(Tally::default());
    let mut runner = TestRunner::new(config);
    let result = runner.run(&case(Config::default()), |c| {
        let report = with_driver(|d| d.run_case(&c));
        let mut t = tally.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        check(&c, &report, &mut t).map_err(TestCaseError::fail)
    });
    let t = tally.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
    let hello = with_driver(|d| d.hello.clone());
    dfship_harness::report(&format!(
        "harness matrix: {n} generated cases ({} runs with shrinking), {} crossings over {} combinations \
         (3 slots x 3 start methods x sender on/off x receiver on/off x registered or not), driver {hello}",
        t.cases,
        t.crossings,
        t.combinations.len()
    ));
    dfship_harness::report(&format!(
        "harness matrix: outcomes {:?}; {} cases fail locally too (same error expected)",
        t.by_outcome, t.local_errors
    ));
    if let Err(e) = result {
        panic!("matrix failed: {e}");
    }
    assert_eq!(t.combinations.len(), COMBINATIONS, "combinations crossed: {:?}", t.combinations);
}
