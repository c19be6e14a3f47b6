//! Snapshots (through `dfship_harness::snap`, the one wrapper with the
//! project's filters): frame headers of canonical payloads, every error
//! message the codec gives for bad input, and expression displays after a
//! round trip. A change to any of them is a change to the wire format or to
//! what users read, and must be reviewed (`cargo insta review`).

use std::fmt::Write as _;

use datafusion::arrow::datatypes::DataType;
use datafusion::logical_expr::{Expr, col, lit};
use datafusion::prelude::SessionContext;
use dfship_core::codec::PythonLogicalCodec;
use dfship_core::codec::{WireLimits, decode_logical_expr, encode_logical_expr};
use dfship_harness::python;
use dfship_harness::snap::assert_snapshot;
use dfship_harness::spec::{
    Agg, BinOp, Case, Column, E, Family, Lit, Root, Ty, UdfKind, UdfSpec, Volatility, Win,
};
use dfship_wire::{
    MAGIC_AGGREGATE_UDF, MAGIC_LOGICAL_EXPR, MAGIC_SCALAR_UDF, MAGIC_WINDOW_UDF, UdfHeader, read_bytes,
    read_count, read_frame, read_varint, write_frame,
};

fn udf(family: Family, kind: UdfKind) -> UdfSpec {
    UdfSpec { family, kind, input: Ty::Int, volatility: Volatility::Immutable }
}

fn case(udfs: Vec<UdfSpec>, root: Root) -> Case {
    let columns = vec![
        Column { name: "c0".into(), ty: Ty::Int },
        Column { name: "c1".into(), ty: Ty::Str },
        Column { name: "c2".into(), ty: Ty::Date },
    ];
    Case { columns, rows: vec![], udfs, root }
}

fn c(name: &str) -> E {
    E::Col(name.into())
}

/// Canonical cases: one per node type and UDF family.
fn canonical() -> Vec<(&'static str, Case)> {
    let int = |v| E::Lit(Lit::Int(v));
    vec![
        (
            "builtin arithmetic",
            case(vec![], Root::Select(E::Bin(BinOp::Add, Box::new(c("c0")), Box::new(int(1))))),
        ),
        (
            "case, in-list, between, like, cast",
            case(
                vec![],
                Root::Select(E::Case(
                    vec![(
                        E::InList(Box::new(c("c0")), vec![int(1), int(2)], false),
                        E::Cast(Box::new(E::Lit(Lit::Decimal(1250))), Ty::Str),
                    )],
                    Some(Box::new(E::Fun(
                        "upper",
                        vec![E::Case(
                            vec![(
                                E::Like {
                                    expr: Box::new(c("c1")),
                                    pattern: "a%".into(),
                                    negated: true,
                                    case_insensitive: true,
                                },
                                c("c1"),
                            )],
                            Some(Box::new(E::Cast(Box::new(E::Lit(Lit::Date(19_000))), Ty::Str))),
                        )],
                    ))),
                )),
            ),
        ),
        (
            "between and nulls",
            case(
                vec![],
                Root::Select(E::Between(
                    Box::new(c("c0")),
                    Box::new(int(-1)),
                    Box::new(E::Lit(Lit::Null(Ty::Int))),
                    true,
                )),
            ),
        ),
        (
            "scalar udf",
            case(
                vec![udf(Family::Scalar, UdfKind::Closure { k: 2 })],
                Root::Select(E::Udf(0, vec![c("c0")])),
            ),
        ),
        (
            "aggregate udf",
            case(
                vec![udf(Family::Aggregate, UdfKind::SelfContained { k: 1 })],
                Root::Aggregate { agg: Agg::Udf(0, c("c0")), group_by: Some("c1".into()) },
            ),
        ),
        (
            "window udf",
            case(
                vec![udf(Family::Window, UdfKind::Module)],
                Root::Window {
                    win: Win::Udf(0, c("c0")),
                    partition_by: Some("c1".into()),
                    order_by: Some("c2".into()),
                },
            ),
        ),
        (
            "builtin window",
            case(
                vec![],
                Root::Window {
                    win: Win::Shift("lag", c("c0")),
                    partition_by: None,
                    order_by: Some("c0".into()),
                },
            ),
        ),
        (
            "builtin aggregate",
            case(vec![], Root::Aggregate { agg: Agg::Builtin("count", c("c1"), true), group_by: None }),
        ),
    ]
}

fn build(ctx: &SessionContext, case: &Case) -> Expr {
    python::build_root(case, &ctx.state()).expect("the case builds")
}

fn encode(expr: &Expr, inlining: bool) -> Vec<u8> {
    let codec = PythonLogicalCodec::new().with_python_udf_inlining(inlining);
    encode_logical_expr(expr, &codec, &WireLimits::default()).expect("encodes")
}

fn decode(bytes: &[u8], ctx: &SessionContext, inlining: bool) -> Result<Expr, String> {
    let codec = PythonLogicalCodec::new().with_python_udf_inlining(inlining);
    decode_logical_expr(bytes, &ctx.task_ctx(), &codec, &WireLimits::default()).map_err(|e| e.to_string())
}

/// The frame header and, for each inline UDF payload in the body, its header
/// and declared types (the pickled code itself varies with cloudpickle).
fn describe(frame: &[u8]) -> String {
    let parsed = read_frame(frame, &[MAGIC_LOGICAL_EXPR], usize::MAX).expect("a valid frame");
    let (length, _) = read_varint(&frame[6..]).expect("length");
    let mut out = format!(
        "magic {} | version {} | flags {:#04b} | body length field {} | tag {} | check CRC-32",
        String::from_utf8_lossy(&parsed.magic),
        parsed.version,
        parsed.flags,
        if parsed.flags & dfship_wire::FLAG_INLINE_PYTHON == 0 {
            length.to_string()
        } else {
            "[varies]".into()
        },
        if parsed.tag.is_some() { "present" } else { "absent" },
    );
    let body = parsed.body;
    let mut at = 0;
    while let Some(pos) = body[at..].windows(3).position(|w| w == b"DFS") {
        let start = at + pos;
        if let Ok((h, rest)) =
            UdfHeader::read(&body[start..], &[MAGIC_SCALAR_UDF, MAGIC_AGGREGATE_UDF, MAGIC_WINDOW_UDF])
        {
            // The types follow the fixed header (the pickled code after them
            // varies with cloudpickle); the Python minor is filtered.
            let types_len = rest.len() - skip_types(rest).len();
            let _ = write!(
                out,
                "\n  inline payload: magic {} | version {} | python {}.{} | volatility {} | types {:02x?}",
                String::from_utf8_lossy(&h.magic),
                h.version,
                h.python.0,
                h.python.1,
                h.volatility,
                &rest[..types_len]
            );
        }
        at = start + 3;
    }
    out
}

/// What follows the input, return and state types of a payload.
fn skip_types(input: &[u8]) -> &[u8] {
    fn list(rest: &[u8]) -> &[u8] {
        let (n, mut rest) = read_count(rest).expect("type count");
        for _ in 0..n {
            rest = read_bytes(rest).expect("a type").1;
        }
        rest
    }
    let rest = list(input);
    let rest = read_bytes(rest).expect("return type").1;
    list(rest)
}

#[test]
fn frame_headers_of_canonical_payloads() {
    let ctx = SessionContext::new();
    let mut out = String::new();
    for (name, case) in canonical() {
        let expr = build(&ctx, &case);
        let _ = writeln!(
            out,
            "{name}\n  inlined: {}\n  by name: {}",
            describe(&encode(&expr, true)),
            describe(&encode(&expr, false))
        );
    }
    assert_snapshot("frame_headers", &out);
}

#[test]
fn expression_displays_after_a_round_trip() {
    let ctx = SessionContext::new();
    let mut out = String::new();
    for (name, case) in canonical() {
        let expr = build(&ctx, &case);
        let back = decode(&encode(&expr, true), &ctx, true).expect("decodes");
        assert_eq!(back.to_string(), expr.to_string(), "{name}");
        let _ = writeln!(out, "{name}: {back}");
    }
    assert_snapshot("round_trip_displays", &out);
}

/// A callable pickle cannot serialize is refused at encode, naming the UDF.
fn unpicklable_encode_error() -> String {
    let unpicklable = pyo3::Python::attach(|py| -> pyo3::PyResult<_> {
        use pyo3::types::PyDictMethods as _;
        let ns = pyo3::types::PyDict::new(py);
        py.run(c"import threading\nlock = threading.Lock()\nbody = lambda a: (lock, a)[1]", Some(&ns), None)?;
        Ok(ns.get_item("body")?.expect("defined").unbind())
    })
    .expect("python");
    let shape = dfship_core::udf::UdfSignature {
        input_types: vec![DataType::Int64],
        return_type: DataType::Int64,
        volatility: datafusion::logical_expr::Volatility::Immutable,
    };
    let locked =
        dfship_core::udf::scalar::PythonScalarUDF::new("holds_a_lock", unpicklable, shape).into_udf();
    let refused =
        encode_logical_expr(&locked.call(vec![col("a")]), &PythonLogicalCodec::new(), &WireLimits::default())
            .expect_err("unpicklable");
    refused.to_string()
}

#[test]
fn every_error_message() {
    let ctx = SessionContext::new();
    let builtin = encode(&(col("a") + lit(1_i64)), true);
    let scalar_case = &canonical()[3].1;
    let scalar = encode(&build(&ctx, scalar_case), true);
    let by_name = encode(&build(&ctx, scalar_case), false);
    let aggregate_by_name = encode(&build(&ctx, &canonical()[4].1), false);
    let window_by_name = encode(&build(&ctx, &canonical()[5].1), false);
    let frame = read_frame(&scalar, &[MAGIC_LOGICAL_EXPR], usize::MAX).expect("valid");
    let reseal = |edit: &dyn Fn(&mut Vec<u8>)| {
        let mut body = frame.body.to_vec();
        edit(&mut body);
        write_frame(MAGIC_LOGICAL_EXPR, frame.flags, &body, None)
    };
    let payload_at = frame.body.windows(4).position(|w| w == b"DFSs").expect("an inline scalar payload");

    let mut cases: Vec<(&str, Vec<u8>, bool)> = vec![
        ("empty input", vec![], true),
        ("truncated frame", builtin[..builtin.len() - 3].to_vec(), true),
        ("foreign bytes", b"\x80\x04\x95 not ours".to_vec(), true),
        ("physical frame where a logical one is expected", write_frame(*b"DFSX", 0, b"", None), true),
        ("trailing bytes", [builtin.clone(), vec![0]].concat(), true),
        (
            "flipped bit",
            {
                let mut b = builtin.clone();
                b[8] ^= 1;
                b
            },
            true,
        ),
        (
            "unknown flags",
            {
                let mut b = builtin.clone();
                b[5] = 0x80;
                b
            },
            true,
        ),
        (
            "future version",
            {
                let mut b = builtin.clone();
                b[4] = 9;
                b
            },
            true,
        ),
        ("garbage body", write_frame(MAGIC_LOGICAL_EXPR, 0, b"\xff\xff\xff", None), true),
        ("inline UDF refused by a strict receiver", scalar.clone(), false),
        ("scalar UDF by name, unknown", by_name, true),
        ("aggregate UDF by name, unknown", aggregate_by_name, true),
        ("window UDF by name, unknown", window_by_name, true),
        (
            "payload from another Python",
            reseal(&|b: &mut Vec<u8>| {
                b[payload_at + 5] = 3;
                b[payload_at + 6] = 9;
            }),
            true,
        ),
        ("unknown payload version", reseal(&|b: &mut Vec<u8>| b[payload_at + 4] = 7), true),
        ("bad volatility code", reseal(&|b: &mut Vec<u8>| b[payload_at + 7] = 9), true),
        (
            "pickle that does not load",
            reseal(&|b: &mut Vec<u8>| {
                let n = b.len();
                b[n - 4..].copy_from_slice(b"\x00\x00\x00\x00");
            }),
            true,
        ),
    ];
    let mut out = String::new();
    for (name, bytes, inlining) in cases.drain(..) {
        let message = decode(&bytes, &ctx, inlining).err().unwrap_or_else(|| panic!("{name}: decoded"));
        let _ = writeln!(out, "{name}:\n  {message}");
    }
    let _ = writeln!(out, "unpicklable closure at encode:\n  {}", unpicklable_encode_error());
    let limited = WireLimits { max_depth: 1, ..WireLimits::default() };
    let too_deep = encode_logical_expr(&(col("a") + lit(1_i64)), &PythonLogicalCodec::new(), &limited)
        .expect_err("too deep");
    let _ = writeln!(out, "too deep at encode:\n  {too_deep}");
    let too_deep = decode_logical_expr(&builtin, &ctx.task_ctx(), &PythonLogicalCodec::new(), &limited)
        .expect_err("too deep");
    let _ = writeln!(out, "too deep at decode:\n  {too_deep}");
    let small = WireLimits { max_payload_bytes: 8, ..WireLimits::default() };
    let too_large = decode_logical_expr(&builtin, &ctx.task_ctx(), &PythonLogicalCodec::new(), &small)
        .expect_err("too large");
    let _ = writeln!(out, "too large:\n  {too_large}");
    assert_snapshot("error_messages", &out);
}
