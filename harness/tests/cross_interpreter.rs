//! Payloads made under every other installed CPython minor version (3.10 to
//! 3.14, with the abi3 wheel installed into each) are refused here with the
//! version-mismatch error naming both versions, for every UDF family, and
//! ours are refused there the same way; expressions without inline Python
//! code cross freely. Driven by `harness/driver/cross_python.py`.

use std::process::Command;

use dfship_harness::driver::python;
use serde_json::Value as Json;

fn version(v: &Json) -> String {
    format!("{}.{}", v[0], v[1])
}

fn check_side(loaded: &Json, sender: &str, receiver: &str, side: &str) {
    for family in ["scalar", "aggregate", "window"] {
        let got = &loaded[family];
        assert_eq!(got["err"], "PythonVersionMismatchError", "{side}: {family} payload from {sender}: {got}");
        assert_eq!(got["value_error"], true, "{side}: {family}: a version mismatch is a ValueError");
        let msg = got["msg"].as_str().unwrap_or_default();
        assert!(
            msg.contains(&format!("Python {sender}")) && msg.contains(&format!("Python {receiver}")),
            "{side}: {family}: the message names both versions: {msg}"
        );
    }
    assert!(
        loaded["builtin"].get("ok").is_some(),
        "{side}: a built-in expression crosses versions: {}",
        loaded["builtin"]
    );
}

#[test]
fn payloads_from_other_pythons_are_refused_naming_both_versions() {
    let script = dfship_harness::workspace_root().join("harness").join("driver").join("cross_python.py");
    let out = Command::new(python()).arg(&script).output().expect("run cross_python.py");
    assert!(out.status.success(), "cross_python.py failed:\n{}", String::from_utf8_lossy(&out.stderr));
    let report: Json = serde_json::from_slice(&out.stdout).expect("a JSON report");
    let here = version(&report["here"]);
    let others = report["others"].as_array().cloned().unwrap_or_default();
    // Passing without a second interpreter would prove nothing: `make test`
    // finds or installs one first (tools/other_python.sh).
    assert!(
        !others.is_empty(),
        "no CPython 3.10+ other than {here} is installed, so nothing crossed versions: \
         install one (pyenv install 3.12, or python3.12 and python3.12-venv from the distribution) \
         or run `make other-python`, which says what it tried"
    );
    let mut seen = Vec::new();
    for other in &others {
        let there = version(&other["version"]);
        assert_eq!(version(&other["made_there"]), there, "the payloads were made by {there}");
        check_side(&other["loaded_here"], &there, &here, &format!("{there} -> {here}"));
        check_side(&other["loaded_there"], &here, &there, &format!("{here} -> {there}"));
        seen.push(there);
    }
    dfship_harness::report(&format!(
        "harness cross-interpreter: {here} against {} (3 UDF families + a built-in expression, both directions): \
         every UDF payload refused with PythonVersionMismatchError naming both versions",
        seen.join(", ")
    ));
}
