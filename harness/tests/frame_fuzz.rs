//! The decoders never panic: arbitrary bytes, and valid frames damaged at
//! random (bit flips, truncations, insertions, overwrites), with the check
//! left stale or re-sealed so the damage reaches the body and the inline
//! UDF payloads, through every frame and payload reader. Each input gives a
//! value or an error; a panic fails the property.
//!
//! Re-sealed frames are decoded with inlining off only. With it on, damage
//! inside a pickled callable reaches CPython's unpickler, which is not
//! memory-safe on damaged pickles (it has crashed this process): that is
//! what signed payloads are for, and the Python suite's flip campaign runs
//! it in crash-isolated subprocesses instead.

use datafusion::logical_expr::Expr;
use datafusion::prelude::SessionContext;
use dfship_core::codec::PythonLogicalCodec;
use dfship_core::codec::{WireLimits, decode_logical_expr, encode_logical_expr};
use dfship_harness::strategies::{Config, case};
use dfship_harness::{cases, proptest_config, python};
use dfship_wire::{
    MAGIC_AGGREGATE_UDF, MAGIC_LOGICAL_EXPR, MAGIC_PHYSICAL_EXPR, MAGIC_SCALAR_UDF, MAGIC_WINDOW_UDF,
    UdfHeader, protobuf_depth, read_frame, write_frame,
};
use proptest::prelude::*;
use proptest::test_runner::TestRunner;

const ALL_MAGICS: [[u8; 4]; 5] =
    [MAGIC_LOGICAL_EXPR, MAGIC_PHYSICAL_EXPR, MAGIC_SCALAR_UDF, MAGIC_AGGREGATE_UDF, MAGIC_WINDOW_UDF];

/// Every reader on `bytes`, the expression decoder with each inlining
/// setting of `inlining`; returns how many accepted them, and what the
/// expression decoder made of them (the last setting that accepted).
fn read_everything(bytes: &[u8], ctx: &SessionContext, inlining: &[bool]) -> (usize, Option<Expr>) {
    let mut accepted = 0;
    let mut decoded = None;
    let limits = WireLimits::default();
    accepted += usize::from(read_frame(bytes, &ALL_MAGICS, 1 << 20).is_ok());
    accepted += usize::from(UdfHeader::read(bytes, &ALL_MAGICS[2..]).is_ok());
    let _ = protobuf_depth(bytes);
    for &inlining in inlining {
        let codec = PythonLogicalCodec::new().with_python_udf_inlining(inlining);
        if let Ok(expr) = decode_logical_expr(bytes, &ctx.task_ctx(), &codec, &limits) {
            accepted += 1;
            decoded = Some(expr);
        }
    }
    accepted += usize::from(
        dfship_core::codec::payload::decode_scalar("fuzz", bytes, dfship_wire::MAX_CALLABLE_BYTES).is_ok(),
    );
    accepted += usize::from(
        dfship_core::codec::payload::decode_aggregate("fuzz", bytes, dfship_wire::MAX_CALLABLE_BYTES).is_ok(),
    );
    accepted += usize::from(
        dfship_core::codec::payload::decode_window("fuzz", bytes, dfship_wire::MAX_CALLABLE_BYTES).is_ok(),
    );
    (accepted, decoded)
}

#[derive(Debug, Clone)]
enum Damage {
    Flip(usize, u8),
    Truncate(usize),
    Insert(usize, u8),
    Overwrite(usize, u8),
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        (any::<usize>(), 0_u8..8).prop_map(|(p, bit)| Damage::Flip(p, bit)),
        any::<usize>().prop_map(Damage::Truncate),
        (any::<usize>(), any::<u8>()).prop_map(|(p, b)| Damage::Insert(p, b)),
        (any::<usize>(), any::<u8>()).prop_map(|(p, b)| Damage::Overwrite(p, b)),
    ]
}

fn apply(bytes: &mut Vec<u8>, d: &Damage) {
    if bytes.is_empty() {
        return;
    }
    let at = |p: usize| p % bytes.len();
    match *d {
        Damage::Flip(p, bit) => {
            let i = at(p);
            bytes[i] ^= 1 << bit;
        }
        Damage::Truncate(p) => bytes.truncate(at(p)),
        Damage::Insert(p, b) => {
            let i = at(p);
            bytes.insert(i, b);
        }
        Damage::Overwrite(p, b) => {
            let i = at(p);
            bytes[i] = b;
        }
    }
}

fn runner(name: &str, n: u32) -> TestRunner {
    let config = proptest_config(name, n);
    TestRunner::new(config)
}

#[test]
fn arbitrary_bytes_never_panic() {
    python::init();
    let ctx = SessionContext::new();
    let n = cases(32);
    let inputs = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..256),
        // Plausible starts: a known magic, then noise.
        (prop::sample::select(ALL_MAGICS.to_vec()), prop::collection::vec(any::<u8>(), 0..256)).prop_map(
            |(m, rest)| {
                let mut v = m.to_vec();
                v.extend(rest);
                v
            }
        ),
    ];
    let result = runner("frame_fuzz_arbitrary", n).run(&inputs, |bytes| {
        let _ = read_everything(&bytes, &ctx, &[false, true]);
        Ok(())
    });
    dfship_harness::report(&format!(
        "harness frame fuzz: {n} arbitrary inputs through every reader, no panic"
    ));
    if let Err(e) = result {
        panic!("{e}");
    }
}

#[test]
fn damaged_frames_never_panic() {
    let ctx = SessionContext::new();
    let n = cases(8);
    let strategy = (
        case(Config { ffi: false, ..Config::default() }),
        prop::collection::vec(damage(), 1..4),
        any::<bool>(),
    );
    let accepted = std::sync::atomic::AtomicUsize::new(0);
    let result = runner("frame_fuzz_damaged", n).run(&strategy, |(c, damages, reseal)| {
        let expr = python::build_root(&c, &ctx.state()).map_err(TestCaseError::fail)?;
        let codec = PythonLogicalCodec::new();
        let frame = encode_logical_expr(&expr, &codec, &WireLimits::default())
            .map_err(|e| TestCaseError::fail(format!("encode: {e}")))?;
        let parsed = read_frame(&frame, &[MAGIC_LOGICAL_EXPR], usize::MAX).expect("own frame");
        // Re-sealed: only the body is damaged and the check is made again, so
        // the damage reaches the protobuf and the UDF payloads.
        let mut target = if reseal { parsed.body.to_vec() } else { frame.clone() };
        for d in &damages {
            apply(&mut target, d);
        }
        let bytes =
            if reseal { write_frame(MAGIC_LOGICAL_EXPR, parsed.flags, &target, None) } else { target };
        // A stale check stops damage before any payload is read; a re-sealed
        // one would let it reach the unpickler (see the top of this file).
        let inlining: &[bool] = if reseal { &[false] } else { &[false, true] };
        let (n_accepted, decoded) = read_everything(&bytes, &ctx, inlining);
        accepted.fetch_add(n_accepted, std::sync::atomic::Ordering::Relaxed);
        // Whatever decodes encodes again.
        if let Some(back) = decoded
            && let Err(e) = encode_logical_expr(&back, &codec, &WireLimits::default())
        {
            return Err(TestCaseError::fail(format!(
                "{back} decoded from damaged bytes but does not encode: {e}"
            )));
        }
        Ok(())
    });
    dfship_harness::report(&format!(
        "harness frame fuzz: {n} damaged frames (some re-sealed) through every reader, no panic ({} accepted)",
        accepted.into_inner()
    ));
    if let Err(e) = result {
        panic!("{e}");
    }
}
