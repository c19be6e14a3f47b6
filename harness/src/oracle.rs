//! What every crossing of the matrix must give, decided from the case and
//! the combination alone (never from what the codec did):
//!
//! * a Python UDF travels inline when the sender inlines, else by name; FFI
//!   UDFs always by name;
//! * an inline UDF is refused (`InliningDisabledError`, naming the UDF and
//!   its family) by a receiver that does not inline, and loads otherwise;
//! * a by-name UDF resolves when the receiver has it registered, else fails
//!   with `UnknownFunctionError` naming it;
//! * the receiver is the explicit `ctx=` under the explicit slot, the worker
//!   slot under pickle, and the process's global session under the global
//!   fallback — which inlines (its handle has the default settings) and has
//!   the UDFs registered exactly when the pool registered them;
//! * when every UDF gets through, the result is exactly the local one.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::Value as Json;

use crate::spec::Case;

/// One crossing.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Combo {
    pub slot: String,
    pub start: String,
    pub sender_inlines: bool,
    pub receiver_inlines: bool,
    pub registered: bool,
}

impl Combo {
    fn from_json(row: &Json) -> Self {
        let s = |k: &str| row[k].as_str().unwrap_or_default().to_owned();
        let b = |k: &str| row[k].as_bool().unwrap_or_default();
        Self {
            slot: s("slot"),
            start: s("start"),
            sender_inlines: b("sender"),
            receiver_inlines: b("receiver"),
            registered: b("registered"),
        }
    }
}

impl std::fmt::Display for Combo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let on = |b: bool| if b { "on" } else { "off" };
        write!(
            f,
            "slot={} start={} sender-inlining={} receiver-inlining={} registered={}",
            self.slot,
            self.start,
            on(self.sender_inlines),
            on(self.receiver_inlines),
            if self.registered { "yes" } else { "no" }
        )
    }
}

/// What a crossing must give.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expected {
    /// Exactly the local outcome.
    Local,
    /// One of these errors (type, UDF name, family it must name too): with
    /// several UDFs failing, which is met first is decoding order's choice.
    Error(Vec<(&'static str, String, Option<&'static str>)>),
}

pub fn expected(case: &Case, combo: &Combo) -> Expected {
    let receiver_inlines = match combo.slot.as_str() {
        "global" => true,
        _ => combo.receiver_inlines,
    };
    let mut errors = Vec::new();
    for (i, u) in case.udfs.iter().enumerate() {
        let name = case.udf_name(i);
        let inline = !u.is_ffi() && combo.sender_inlines;
        if inline {
            if !receiver_inlines {
                errors.push(("InliningDisabledError", name, Some(u.family.name())));
            }
        } else if !combo.registered {
            errors.push(("UnknownFunctionError", name, None));
        }
    }
    if errors.is_empty() { Expected::Local } else { Expected::Error(errors) }
}

/// Counts of one matrix run, for the report.
#[derive(Debug, Default)]
pub struct Tally {
    pub cases: usize,
    pub crossings: usize,
    pub by_outcome: BTreeMap<String, usize>,
    pub combinations: std::collections::BTreeSet<String>,
    pub local_errors: usize,
}

/// An outcome with object addresses masked: an error message may quote a
/// Python object's repr, whose address differs between processes.
fn normalized(outcome: &Json) -> String {
    let text = outcome.to_string();
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(at) = rest.find("0x") {
        out.push_str(&rest[..at + 2]);
        rest = rest[at + 2..].trim_start_matches(|c: char| c.is_ascii_hexdigit());
        out.push('_');
    }
    out.push_str(rest);
    out
}

/// Slot (3) x start method (3) x sender inlining (2) x receiver inlining (2)
/// x receiver registration (2).
pub const COMBINATIONS: usize = 72;

/// Mismatches printed per failing case (the rest are counted).
const SHOWN: usize = 4;

/// Checks the driver's report of one case; returns the mismatches.
pub fn check(case: &Case, report: &Json, tally: &mut Tally) -> Result<(), String> {
    let local = &report["local"];
    tally.cases += 1;
    if local.get("err").is_some() {
        tally.local_errors += 1;
    }
    let mut failures = String::new();
    let mut mismatches = 0_usize;
    let rows = report["combos"].as_array().cloned().unwrap_or_default();
    let distinct: std::collections::BTreeSet<String> =
        rows.iter().map(|row| Combo::from_json(row).to_string()).collect();
    if rows.len() != COMBINATIONS || distinct.len() != COMBINATIONS {
        let _ = writeln!(
            failures,
            "expected {COMBINATIONS} distinct crossings, the driver ran {} ({} distinct)",
            rows.len(),
            distinct.len()
        );
    }
    for row in &rows {
        let combo = Combo::from_json(row);
        let got = &row["outcome"];
        tally.crossings += 1;
        tally.combinations.insert(combo.to_string());
        let label = match got.get("err").and_then(Json::as_str) {
            Some(e) => e.to_owned(),
            None => "result".to_owned(),
        };
        *tally.by_outcome.entry(label).or_default() += 1;
        match expected(case, &combo) {
            Expected::Local => {
                if normalized(got) != normalized(local) {
                    mismatches += 1;
                    if mismatches <= SHOWN {
                        let _ = writeln!(failures, "{combo}: expected the local outcome {local}, got {got}");
                    }
                }
            }
            Expected::Error(options) => {
                let ty = got.get("err").and_then(Json::as_str).unwrap_or_default();
                let msg = got.get("msg").and_then(Json::as_str).unwrap_or_default();
                let ok = options.iter().any(|(want, name, family)| {
                    ty == *want
                        && msg.contains(&format!("'{name}'"))
                        && family.is_none_or(|f| msg.contains(f))
                });
                if !ok {
                    mismatches += 1;
                    if mismatches > SHOWN {
                        continue;
                    }
                    let want: Vec<String> =
                        options.iter().map(|(t, n, _)| format!("{t} naming '{n}'")).collect();
                    let _ = writeln!(failures, "{combo}: expected {}, got {got}", want.join(" or "));
                }
            }
        }
    }
    if mismatches > SHOWN {
        let _ = writeln!(failures, "... and {} more of the {} crossings", mismatches - SHOWN, rows.len());
    }
    if failures.is_empty() { Ok(()) } else { Err(failures) }
}
