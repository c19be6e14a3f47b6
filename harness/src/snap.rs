//! The harness's one way to take an insta snapshot: every snapshot goes
//! through [`assert_snapshot`], which stores it under `harness/snapshots/`
//! and filters out what legitimately differs between machines and runs (the
//! Python minor version, addresses, process ids, temporary paths).

/// Filters applied to every snapshot: (regex, replacement).
pub const FILTERS: &[(&str, &str)] = &[
    // The running interpreter's version, in messages and in payload headers.
    (r"\b3\.1[0-9]\b", "3.X"),
    (r"0x[0-9a-f]{6,16}", "0x[ADDR]"),
    (r"\bpid \d+", "pid [PID]"),
    (r"/tmp/[^\s'\x22]+", "[TMP]"),
];

/// Snapshots `value` as `name`, with [`FILTERS`] applied.
pub fn assert_snapshot(name: &str, value: &str) {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(crate::workspace_root().join("harness").join("snapshots"));
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    for (pattern, replacement) in FILTERS {
        settings.add_filter(pattern, *replacement);
    }
    settings.bind(|| insta::assert_snapshot!(name, value));
}
