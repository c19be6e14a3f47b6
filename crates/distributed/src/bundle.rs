//! The Python UDFs of a query, as one header value.
//!
//! datafusion-distributed encodes every function of a plan by name: its
//! codec answers first for all of them, so a user codec never sees a Python
//! UDF (see the module note). The coordinator therefore sends the plan's
//! Python UDFs beside the plan: each as a call with no arguments, in a
//! dfship expression frame (checked, bounded and signed like any payload),
//! the frames counted and length-prefixed, the whole in base64 so that it is
//! a valid header value. A worker decodes them under its own settings and
//! registers them before it decodes the plan, which then finds them by name.

use std::any::Any;
use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::logical_expr::expr::{
    AggregateFunction, ScalarFunction, WindowFunction, WindowFunctionDefinition,
};
use datafusion::logical_expr::{AggregateUDF, Expr, LogicalPlan, ScalarUDF, WindowUDF};

use dfship_core::codec::{
    CodecError, PythonLogicalCodec, UdfFamily, WireLimits, decode_logical_expr, encode_logical_expr,
};
use dfship_core::udf::aggregate::PythonAggregateUDF;
use dfship_core::udf::scalar::PythonScalarUDF;
use dfship_core::udf::window::PythonWindowUDF;
use dfship_wire::{self as wire, WireError};

/// The header that carries a query's Python UDFs to its workers.
pub const UDF_HEADER: &str = "x-dfship-python-udfs";

/// A Python UDF a plan calls.
#[derive(Debug, Clone)]
pub enum PythonUdf {
    Scalar(Arc<ScalarUDF>),
    Aggregate(Arc<AggregateUDF>),
    Window(Arc<WindowUDF>),
}

impl PythonUdf {
    pub fn family(&self) -> UdfFamily {
        match self {
            Self::Scalar(_) => UdfFamily::Scalar,
            Self::Aggregate(_) => UdfFamily::Aggregate,
            Self::Window(_) => UdfFamily::Window,
        }
    }

    pub fn name(&self) -> &str {
        match self {
            Self::Scalar(u) => u.name(),
            Self::Aggregate(u) => u.name(),
            Self::Window(u) => u.name(),
        }
    }

    /// A call of this function with no arguments: all a frame needs to
    /// carry it.
    fn call(&self) -> Expr {
        match self {
            Self::Scalar(u) => Expr::ScalarFunction(ScalarFunction::new_udf(Arc::clone(u), vec![])),
            Self::Aggregate(u) => Expr::AggregateFunction(AggregateFunction::new_udf(
                Arc::clone(u),
                vec![],
                false,
                None,
                vec![],
                None,
            )),
            Self::Window(u) => {
                Expr::from(WindowFunction::new(WindowFunctionDefinition::WindowUDF(Arc::clone(u)), vec![]))
            }
        }
    }

    fn from_call(expr: &Expr) -> Option<Self> {
        match expr {
            Expr::ScalarFunction(f) => {
                is::<PythonScalarUDF>(f.func.inner().as_ref()).then(|| Self::Scalar(Arc::clone(&f.func)))
            }
            Expr::AggregateFunction(f) => is::<PythonAggregateUDF>(f.func.inner().as_ref())
                .then(|| Self::Aggregate(Arc::clone(&f.func))),
            Expr::WindowFunction(w) => match &w.fun {
                WindowFunctionDefinition::AggregateUDF(u) => {
                    is::<PythonAggregateUDF>(u.inner().as_ref()).then(|| Self::Aggregate(Arc::clone(u)))
                }
                WindowFunctionDefinition::WindowUDF(u) => {
                    is::<PythonWindowUDF>(u.inner().as_ref()).then(|| Self::Window(Arc::clone(u)))
                }
            },
            _ => None,
        }
    }

    fn same(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Scalar(a), Self::Scalar(b)) => Arc::ptr_eq(a, b) || a == b,
            (Self::Aggregate(a), Self::Aggregate(b)) => Arc::ptr_eq(a, b) || a == b,
            (Self::Window(a), Self::Window(b)) => Arc::ptr_eq(a, b) || a == b,
            _ => false,
        }
    }
}

fn is<T: Any>(inner: &dyn Any) -> bool {
    inner.downcast_ref::<T>().is_some()
}

/// Every Python UDF `plan` calls, subqueries included, once each.
///
/// Workers find functions by name, so two different Python UDFs of the same
/// family and name in one query would silently run as one: that is refused.
pub fn python_udfs(plan: &LogicalPlan) -> Result<Vec<PythonUdf>> {
    let mut found: Vec<PythonUdf> = Vec::new();
    let mut by_name: HashMap<(UdfFamily, String), usize> = HashMap::new();
    let mut clash = None;
    plan.apply_with_subqueries(|node| {
        node.apply_expressions(|root| {
            root.apply(|e| {
                if let Some(udf) = PythonUdf::from_call(e) {
                    match by_name.get(&(udf.family(), udf.name().to_owned())) {
                        Some(&i) if !found[i].same(&udf) => {
                            clash = Some(udf.name().to_owned());
                            return Ok(TreeNodeRecursion::Stop);
                        }
                        Some(_) => {}
                        None => {
                            by_name.insert((udf.family(), udf.name().to_owned()), found.len());
                            found.push(udf);
                        }
                    }
                }
                Ok(TreeNodeRecursion::Continue)
            })
        })
    })?;
    if let Some(name) = clash {
        return Err(DataFusionError::Plan(format!(
            "this distributed query calls two different Python UDFs named '{name}'; workers find functions \
             by name, so give each its own name"
        )));
    }
    Ok(found)
}

/// The most a query's Python UDF header may take, encoded: a worker reads
/// a request's headers whole before it checks the token, so it accepts no
/// larger header block.
pub const MAX_HEADER_BYTES: usize = 16 << 20;

/// The header value carrying `udfs`, encoded with `codec` under `limits`
/// (signed when they hold a key), at most [`MAX_HEADER_BYTES`].
pub fn write_header(
    udfs: &[PythonUdf],
    codec: &PythonLogicalCodec,
    limits: &WireLimits,
) -> Result<String, CodecError> {
    let mut out = Vec::new();
    wire::write_varint(&mut out, udfs.len() as u64);
    for udf in udfs {
        wire::write_bytes(&mut out, &encode_logical_expr(&udf.call(), codec, limits)?);
    }
    let encoded = STANDARD.encode(out);
    if encoded.len() > MAX_HEADER_BYTES {
        return Err(WireError::TooLarge { size: encoded.len() as u64, limit: MAX_HEADER_BYTES }.into());
    }
    Ok(encoded)
}

/// The Python UDFs a header value carries, each frame checked under
/// `limits` and decoded with `codec` (which refuses inline UDFs when
/// inlining is off).
pub fn read_header(
    value: &[u8],
    codec: &PythonLogicalCodec,
    limits: &WireLimits,
) -> Result<Vec<PythonUdf>, CodecError> {
    // base64 takes 4 bytes for 3: refuse before decoding what could not fit.
    let bound = limits.max_payload_bytes.saturating_mul(4) / 3 + 4;
    if value.len() > bound {
        return Err(WireError::TooLarge { size: value.len() as u64, limit: bound }.into());
    }
    let bytes =
        STANDARD.decode(value).map_err(|e| CodecError::Malformed(format!("Python UDF header: {e}")))?;
    let (count, mut rest) = wire::read_count(&bytes)?;
    let registry = TaskContext::default();
    let mut udfs = Vec::with_capacity(count);
    for _ in 0..count {
        let (frame, tail) = wire::read_bytes(rest)?;
        rest = tail;
        let call = decode_logical_expr(frame, &registry, codec, limits)?;
        let udf = PythonUdf::from_call(&call).ok_or_else(|| {
            CodecError::Malformed("Python UDF header holds something else than a Python UDF".into())
        })?;
        udfs.push(udf);
    }
    if !rest.is_empty() {
        return Err(CodecError::Malformed(format!(
            "{} bytes after the Python UDF header's last frame",
            rest.len()
        )));
    }
    Ok(udfs)
}
