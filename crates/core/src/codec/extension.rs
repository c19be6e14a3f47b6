//! The extension codecs themselves: [`PythonLogicalCodec`] and
//! [`PythonPhysicalCodec`], and the Python UDF handling they share.

use std::any::Any;
use std::sync::{Arc, LazyLock};

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::TableReference;
use datafusion::datasource::TableProvider;
use datafusion::datasource::file_format::FileFormatFactory;
use datafusion::error::Result;
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{AggregateUDF, Extension, HigherOrderUDF, LogicalPlan, ScalarUDF, WindowUDF};
use datafusion::physical_expr_common::physical_expr::PhysicalExpr;
use datafusion::physical_expr_common::physical_expr::proto_decode::PhysicalExprDecodeCtx;
use datafusion::physical_expr_common::physical_expr::proto_encode::PhysicalExprEncodeCtx;
use datafusion::physical_plan::ExecutionPlan;
use datafusion_proto::logical_plan::{DefaultLogicalExtensionCodec, LogicalExtensionCodec};
use datafusion_proto::physical_plan::{
    DefaultPhysicalExtensionCodec, PhysicalExtensionCodec, PhysicalProtoConverterExtension,
};

use crate::udf::aggregate::PythonAggregateUDF;
use crate::udf::scalar::PythonScalarUDF;
use crate::udf::window::PythonWindowUDF;

use super::error::{CodecError, codec_error};
use super::family::{FOREIGN_PYTHON_MAGIC, INLINE_MAGIC_PREFIX, SPARK_TAG, UdfFamily};
use super::limits::{DEFAULT_MAX_NESTING, WireLimits};
use super::tracking::Tracking;
use super::{bounded, cache, payload};
use crate::builtins::{self, SPARK};

/// How many decoded immutable Python UDFs are kept for reuse.
pub fn decoded_udf_cache_len() -> usize {
    cache::len()
}

/// Forgets every decoded Python UDF kept for reuse.
pub fn clear_decoded_udf_cache() {
    cache::clear();
}

/// Appends what `write` produces to `buf` only if it succeeds: a failed
/// encode never leaves a partial payload behind.
fn atomically(buf: &mut Vec<u8>, write: impl FnOnce(&mut Vec<u8>) -> Result<(), CodecError>) -> Result<()> {
    let mut scratch = Vec::new();
    write(&mut scratch).map_err(codec_error)?;
    buf.extend_from_slice(&scratch);
    Ok(())
}

/// Encoding and decoding of the three Python UDF families, shared by the
/// logical and physical codecs.
#[derive(Debug, Clone, Copy)]
struct PythonUdfs {
    inlining: bool,
    /// Deepest protobuf nesting accepted in any bytes handed to the codec.
    max_nesting: usize,
    /// Largest pickled callable written or read inline.
    max_callable: u64,
}

impl PythonUdfs {
    const DEFAULT: Self = Self {
        inlining: true,
        max_nesting: DEFAULT_MAX_NESTING,
        max_callable: WireLimits::DEFAULT_MAX_CLOSURE_BYTES,
    };

    /// Bounds the nesting of bytes datafusion-proto hands over, before the
    /// inner codec (or anything it calls) decodes them.
    fn guard(self, buf: &[u8], what: &'static str) -> Result<()> {
        bounded::check_nested(buf, self.max_nesting, what).map(drop).map_err(codec_error)
    }

    fn encode_scalar(self, udf: &ScalarUDF, buf: &mut Vec<u8>) -> Option<Result<()>> {
        if builtins::is_spark_scalar(udf) {
            buf.extend_from_slice(SPARK_TAG);
            return Some(Ok(()));
        }
        let python = (udf.inner().as_ref() as &dyn Any).downcast_ref::<PythonScalarUDF>()?;
        Some(if self.inlining {
            atomically(buf, |b| payload::encode_scalar(python, b, self.max_callable))
        } else {
            Ok(())
        })
    }

    fn encode_aggregate(self, udf: &AggregateUDF, buf: &mut Vec<u8>) -> Option<Result<()>> {
        if builtins::is_spark_aggregate(udf) {
            buf.extend_from_slice(SPARK_TAG);
            return Some(Ok(()));
        }
        let python = (udf.inner().as_ref() as &dyn Any).downcast_ref::<PythonAggregateUDF>()?;
        Some(if self.inlining {
            atomically(buf, |b| payload::encode_aggregate(python, b, self.max_callable))
        } else {
            Ok(())
        })
    }

    fn encode_window(self, udf: &WindowUDF, buf: &mut Vec<u8>) -> Option<Result<()>> {
        if builtins::is_spark_window(udf) {
            buf.extend_from_slice(SPARK_TAG);
            return Some(Ok(()));
        }
        let python = (udf.inner().as_ref() as &dyn Any).downcast_ref::<PythonWindowUDF>()?;
        Some(if self.inlining {
            atomically(buf, |b| payload::encode_window(python, b, self.max_callable))
        } else {
            Ok(())
        })
    }

    /// Checks what kind of bytes a node carries. `Some` when they are (or
    /// look like) an inline Python payload, which this codec must handle.
    fn screen(self, name: &str, family: UdfFamily, buf: &[u8]) -> Option<Result<()>> {
        if buf.starts_with(FOREIGN_PYTHON_MAGIC) {
            return Some(Err(codec_error(CodecError::ForeignPayload { udf: name.to_owned(), family })));
        }
        if !buf.starts_with(INLINE_MAGIC_PREFIX) {
            return None;
        }
        if !self.inlining {
            return Some(Err(codec_error(CodecError::InliningDisabled { udf: name.to_owned(), family })));
        }
        Some(Ok(()))
    }

    fn decode_scalar(
        self,
        name: &str,
        buf: &[u8],
        by_name: impl FnOnce() -> Result<Arc<ScalarUDF>>,
    ) -> Result<Arc<ScalarUDF>> {
        self.guard(buf, "function node")?;
        if buf == SPARK_TAG {
            return SPARK.scalar(name).cloned().map_err(|_| unknown_function(name, UdfFamily::Scalar));
        }
        match self.screen(name, UdfFamily::Scalar, buf) {
            Some(Ok(())) => payload::decode_scalar(name, buf, self.max_callable).map_err(codec_error),
            Some(Err(e)) => Err(e),
            None => resolve_by_name(name, UdfFamily::Scalar, buf, by_name),
        }
    }

    fn decode_aggregate(
        self,
        name: &str,
        buf: &[u8],
        by_name: impl FnOnce() -> Result<Arc<AggregateUDF>>,
    ) -> Result<Arc<AggregateUDF>> {
        self.guard(buf, "function node")?;
        if buf == SPARK_TAG {
            return SPARK.aggregate(name).cloned().map_err(|_| unknown_function(name, UdfFamily::Aggregate));
        }
        match self.screen(name, UdfFamily::Aggregate, buf) {
            Some(Ok(())) => payload::decode_aggregate(name, buf, self.max_callable).map_err(codec_error),
            Some(Err(e)) => Err(e),
            None => resolve_by_name(name, UdfFamily::Aggregate, buf, by_name),
        }
    }

    fn decode_window(
        self,
        name: &str,
        buf: &[u8],
        by_name: impl FnOnce() -> Result<Arc<WindowUDF>>,
    ) -> Result<Arc<WindowUDF>> {
        self.guard(buf, "function node")?;
        if buf == SPARK_TAG {
            return SPARK.window(name).cloned().map_err(|_| unknown_function(name, UdfFamily::Window));
        }
        match self.screen(name, UdfFamily::Window, buf) {
            Some(Ok(())) => payload::decode_window(name, buf, self.max_callable).map_err(codec_error),
            Some(Err(e)) => Err(e),
            None => resolve_by_name(name, UdfFamily::Window, buf, by_name),
        }
    }
}

fn unknown_function(name: &str, family: UdfFamily) -> datafusion::error::DataFusionError {
    codec_error(CodecError::UnknownFunction { name: name.to_owned(), family })
}

/// datafusion-proto asks the codec with empty bytes when a function named in
/// the payload is missing from the receiver's registry: that is an unknown
/// function, unless the inner codec knows it.
fn resolve_by_name<T>(
    name: &str,
    family: UdfFamily,
    buf: &[u8],
    inner: impl FnOnce() -> Result<T>,
) -> Result<T> {
    let missing = buf.is_empty();
    inner().map_err(|e| if missing { unknown_function(name, family) } else { e })
}

/// The six UDF methods, alike in both codec traits: Python UDFs are handled
/// by [`PythonUdfs`], anything else by the inner codec.
macro_rules! python_udf_methods {
    () => {
        fn try_decode_udf(&self, name: &str, buf: &[u8]) -> Result<Arc<ScalarUDF>> {
            Tracking::decode_node(self.tracking.as_ref(), name, buf, || {
                self.udfs.decode_scalar(name, buf, || self.inner.try_decode_udf(name, buf))
            })
        }

        fn try_encode_udf(&self, node: &ScalarUDF, buf: &mut Vec<u8>) -> Result<()> {
            Tracking::encode_node(self.tracking.as_ref(), buf, |buf| {
                self.udfs.encode_scalar(node, buf).unwrap_or_else(|| self.inner.try_encode_udf(node, buf))
            })
        }

        fn try_decode_udaf(&self, name: &str, buf: &[u8]) -> Result<Arc<AggregateUDF>> {
            Tracking::decode_node(self.tracking.as_ref(), name, buf, || {
                self.udfs.decode_aggregate(name, buf, || self.inner.try_decode_udaf(name, buf))
            })
        }

        fn try_encode_udaf(&self, node: &AggregateUDF, buf: &mut Vec<u8>) -> Result<()> {
            Tracking::encode_node(self.tracking.as_ref(), buf, |buf| {
                self.udfs.encode_aggregate(node, buf).unwrap_or_else(|| self.inner.try_encode_udaf(node, buf))
            })
        }

        fn try_decode_udwf(&self, name: &str, buf: &[u8]) -> Result<Arc<WindowUDF>> {
            Tracking::decode_node(self.tracking.as_ref(), name, buf, || {
                self.udfs.decode_window(name, buf, || self.inner.try_decode_udwf(name, buf))
            })
        }

        fn try_encode_udwf(&self, node: &WindowUDF, buf: &mut Vec<u8>) -> Result<()> {
            Tracking::encode_node(self.tracking.as_ref(), buf, |buf| {
                self.udfs.encode_window(node, buf).unwrap_or_else(|| self.inner.try_encode_udwf(node, buf))
            })
        }

        fn try_decode_higher_order_function(&self, name: &str, buf: &[u8]) -> Result<Arc<HigherOrderUDF>> {
            self.udfs.guard(buf, "function node")?;
            Tracking::keep(self.tracking.as_ref(), self.inner.try_decode_higher_order_function(name, buf))
        }

        fn try_encode_higher_order_function(&self, node: &HigherOrderUDF, buf: &mut Vec<u8>) -> Result<()> {
            Tracking::encode_node(self.tracking.as_ref(), buf, |buf| {
                self.inner.try_encode_higher_order_function(node, buf)
            })
        }
    };
}

/// The builder methods alike on both codecs.
macro_rules! codec_settings {
    () => {
        /// Turns inline Python UDFs on or off. Off, Python UDFs travel by
        /// name and inline payloads are refused on decode without being
        /// unpickled. See the guide's security chapter for what this does and
        /// does not protect against.
        pub fn with_python_udf_inlining(mut self, enabled: bool) -> Self {
            self.udfs.inlining = enabled;
            self
        }

        pub fn python_udf_inlining(&self) -> bool {
            self.udfs.inlining
        }

        /// Bounds the protobuf nesting of every byte string datafusion-proto
        /// hands to this codec (extension nodes, table providers, file
        /// formats, functions): deeper ones are refused before anything
        /// decodes them. Default [`DEFAULT_MAX_NESTING`].
        pub fn with_max_nesting(mut self, levels: usize) -> Self {
            self.udfs.max_nesting = levels;
            self
        }

        /// A copy of this codec for one frame: it bounds nesting at
        /// `max_nesting` and pickled callables at the limits' closure size,
        /// records whether inline Python UDFs were written or read (a decode
        /// refuses one that `flagged_inline` says is not there), and keeps
        /// the first UDF error whole.
        pub(crate) fn for_frame(
            &self,
            max_nesting: usize,
            limits: &WireLimits,
            flagged_inline: bool,
        ) -> Self {
            let udfs = PythonUdfs { max_nesting, max_callable: limits.max_closure_bytes, ..self.udfs };
            Self { udfs, inner: Arc::clone(&self.inner), tracking: Some(Tracking::new(flagged_inline)) }
        }

        /// What this frame's codec recorded (see [`Self::for_frame`]).
        pub(crate) fn frame_tracking(&mut self) -> &mut Tracking {
            self.tracking.get_or_insert_with(|| Tracking::new(false))
        }
    };
}

// datafusion-proto's default codecs hold no state: one shared instance
// each saves an allocation on every codec made.
static DEFAULT_LOGICAL: LazyLock<Arc<dyn LogicalExtensionCodec>> =
    LazyLock::new(|| Arc::new(DefaultLogicalExtensionCodec {}));
static DEFAULT_PHYSICAL: LazyLock<Arc<dyn PhysicalExtensionCodec>> =
    LazyLock::new(|| Arc::new(DefaultPhysicalExtensionCodec {}));

/// A `LogicalExtensionCodec` that writes Python UDFs inline and delegates
/// everything else to an inner codec (datafusion-proto's default unless
/// given another).
#[derive(Debug)]
pub struct PythonLogicalCodec {
    udfs: PythonUdfs,
    inner: Arc<dyn LogicalExtensionCodec>,
    /// Set only on the codec of one frame (see `for_frame`).
    tracking: Option<Tracking>,
}

impl Clone for PythonLogicalCodec {
    /// The settings, not a frame's record: that stays with the one codec
    /// a frame is converted with.
    fn clone(&self) -> Self {
        Self { udfs: self.udfs, inner: Arc::clone(&self.inner), tracking: None }
    }
}

impl Default for PythonLogicalCodec {
    fn default() -> Self {
        Self::new()
    }
}

impl PythonLogicalCodec {
    /// Inlining on, datafusion-proto's default codec inside.
    pub fn new() -> Self {
        Self { udfs: PythonUdfs::DEFAULT, inner: Arc::clone(&DEFAULT_LOGICAL), tracking: None }
    }

    /// Delegates everything but Python UDFs to `inner`.
    pub fn with_inner(mut self, inner: Arc<dyn LogicalExtensionCodec>) -> Self {
        self.inner = inner;
        self
    }

    codec_settings!();
}

impl LogicalExtensionCodec for PythonLogicalCodec {
    fn try_decode(&self, buf: &[u8], inputs: &[LogicalPlan], ctx: &TaskContext) -> Result<Extension> {
        self.udfs.guard(buf, "extension node")?;
        self.inner.try_decode(buf, inputs, ctx)
    }

    fn try_encode(&self, node: &Extension, buf: &mut Vec<u8>) -> Result<()> {
        self.inner.try_encode(node, buf)
    }

    fn try_decode_table_provider(
        &self,
        buf: &[u8],
        table_ref: &TableReference,
        schema: SchemaRef,
        ctx: &TaskContext,
    ) -> Result<Arc<dyn TableProvider>> {
        self.udfs.guard(buf, "table provider")?;
        self.inner.try_decode_table_provider(buf, table_ref, schema, ctx)
    }

    fn try_encode_table_provider(
        &self,
        table_ref: &TableReference,
        node: Arc<dyn TableProvider>,
        buf: &mut Vec<u8>,
    ) -> Result<()> {
        self.inner.try_encode_table_provider(table_ref, node, buf)
    }

    fn try_decode_file_format(&self, buf: &[u8], ctx: &TaskContext) -> Result<Arc<dyn FileFormatFactory>> {
        self.udfs.guard(buf, "file format")?;
        self.inner.try_decode_file_format(buf, ctx)
    }

    fn try_encode_file_format(&self, buf: &mut Vec<u8>, node: Arc<dyn FileFormatFactory>) -> Result<()> {
        self.inner.try_encode_file_format(buf, node)
    }

    python_udf_methods!();
}

/// The physical-plan counterpart of [`PythonLogicalCodec`], for plans and
/// physical expressions (for example the subplans a distributed query sends
/// to its workers).
#[derive(Debug)]
pub struct PythonPhysicalCodec {
    udfs: PythonUdfs,
    inner: Arc<dyn PhysicalExtensionCodec>,
    /// Set only on the codec of one frame (see `for_frame`).
    tracking: Option<Tracking>,
}

impl Clone for PythonPhysicalCodec {
    /// The settings, not a frame's record (as for the logical codec).
    fn clone(&self) -> Self {
        Self { udfs: self.udfs, inner: Arc::clone(&self.inner), tracking: None }
    }
}

impl Default for PythonPhysicalCodec {
    fn default() -> Self {
        Self::new()
    }
}

impl PythonPhysicalCodec {
    pub fn new() -> Self {
        Self { udfs: PythonUdfs::DEFAULT, inner: Arc::clone(&DEFAULT_PHYSICAL), tracking: None }
    }

    /// A physical codec with the settings (inlining, nesting bound) of a
    /// logical one, datafusion-proto's default codec inside.
    pub fn like(logical: &PythonLogicalCodec) -> Self {
        Self { udfs: logical.udfs, ..Self::new() }
    }

    pub fn with_inner(mut self, inner: Arc<dyn PhysicalExtensionCodec>) -> Self {
        self.inner = inner;
        self
    }

    codec_settings!();
}

impl PhysicalExtensionCodec for PythonPhysicalCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn ExecutionPlan>],
        ctx: &TaskContext,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.udfs.guard(buf, "extension plan node")?;
        self.inner.try_decode(buf, inputs, ctx, proto_converter)
    }

    fn try_encode(
        &self,
        node: Arc<dyn ExecutionPlan>,
        buf: &mut Vec<u8>,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<()> {
        self.inner.try_encode(node, buf, proto_converter)
    }

    fn try_decode_expr(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn PhysicalExpr>],
        ctx: &PhysicalExprDecodeCtx<'_>,
    ) -> Result<Arc<dyn PhysicalExpr>> {
        self.udfs.guard(buf, "extension expression node")?;
        self.inner.try_decode_expr(buf, inputs, ctx)
    }

    fn try_encode_expr(
        &self,
        node: &Arc<dyn PhysicalExpr>,
        buf: &mut Vec<u8>,
        ctx: &PhysicalExprEncodeCtx<'_>,
    ) -> Result<()> {
        self.inner.try_encode_expr(node, buf, ctx)
    }

    python_udf_methods!();
}
