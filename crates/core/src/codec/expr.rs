//! Whole expressions in and out of frames, with size and depth limits.
//!
//! Expression trees are recursive and so are the protobuf and DataFusion
//! routines that walk them. Depth is therefore checked before any recursive
//! step — on encode by walking the tree iteratively, on decode by measuring
//! the nesting of the protobuf body without recursion
//! ([`dfship_wire::protobuf_depth`]) — and deep inputs run on a stack grown
//! to fit, so no input within the limit can overflow the stack and no input
//! over it is decoded at all.

use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::execution::TaskContext;
use datafusion::logical_expr::Expr;
use datafusion_proto::logical_plan::from_proto::parse_expr;
use datafusion_proto::logical_plan::to_proto::serialize_expr;
use datafusion_proto::protobuf::{FromProtoError, LogicalExprNode};

pub use super::bounded::with_stack;
use super::bounded::{decode_message, with_stack_for};
use super::error::CodecError;
use super::extension::PythonLogicalCodec;
use super::framing;
use super::limits::{PROTO_LEVELS_PER_EXPR, WireLimits};
use dfship_wire::{InlineStack, MAGIC_LOGICAL_EXPR};

/// The nesting depth of an expression, found without recursion.
pub fn expr_depth(expr: &Expr) -> usize {
    expr_shape(expr).0
}

/// The nesting depth and the node count of an expression, found without
/// recursion.
pub fn expr_shape<'a>(expr: &'a Expr) -> (usize, usize) {
    let mut max = 0;
    let mut nodes = 0;
    // Inline for the common shallow expression: no allocation per decode.
    let mut stack: InlineStack<(&'a Expr, usize), 32> = InlineStack::new();
    stack.push((expr, 1usize));
    while let Some((e, depth)) = stack.pop() {
        max = max.max(depth);
        nodes += 1;
        // Leaves are counted where they are met rather than stacked, and
        // the commonest inner node is taken apart directly: a large
        // generated expression is mostly both.
        let mut child = |c: &'a Expr| {
            if matches!(c, Expr::Column(_) | Expr::Literal(..)) {
                max = max.max(depth + 1);
                nodes += 1;
            } else {
                stack.push((c, depth + 1));
            }
        };
        if let Expr::BinaryExpr(binary) = e {
            child(&binary.left);
            child(&binary.right);
        } else {
            // `apply_children` visits only the direct children: no recursion.
            let _ = e.apply_children(|c| {
                child(c);
                Ok(TreeNodeRecursion::Continue)
            });
        }
    }
    (max, nodes)
}

/// Serializes `expr` into a `DFSE` frame.
pub fn encode_logical_expr(
    expr: &Expr,
    codec: &PythonLogicalCodec,
    limits: &WireLimits,
) -> Result<Vec<u8>, CodecError> {
    let (depth, nodes) = expr_shape(expr);
    if depth > limits.max_depth {
        return Err(CodecError::TooDeep { depth, limit: limits.max_depth, stage: "encode" });
    }
    if nodes > limits.max_nodes {
        return Err(CodecError::TooManyNodes { nodes, limit: limits.max_nodes, stage: "encode" });
    }
    let mut encoding = codec.for_frame(limits.proto_levels(), limits, false);
    with_stack(depth * PROTO_LEVELS_PER_EXPR, || {
        let node = serialize_expr(expr, &encoding);
        framing::seal(MAGIC_LOGICAL_EXPR, encoding.frame_tracking(), node, "expression", limits)
    })
}

/// Checks a `DFSE` frame and rebuilds its expression, resolving functions
/// named in it through `registry`.
pub fn decode_logical_expr(
    bytes: &[u8],
    registry: &TaskContext,
    codec: &PythonLogicalCodec,
    limits: &WireLimits,
) -> Result<Expr, CodecError> {
    decode_logical_expr_measured(bytes, registry, codec, limits).map(|(expr, _)| expr)
}

/// [`decode_logical_expr`], also returning the expression's depth, which
/// the decode measures exactly anyway (a caller that keeps the depth need
/// not walk the tree again).
pub fn decode_logical_expr_measured(
    bytes: &[u8],
    registry: &TaskContext,
    codec: &PythonLogicalCodec,
    limits: &WireLimits,
) -> Result<(Expr, usize), CodecError> {
    let frame = framing::open(bytes, MAGIC_LOGICAL_EXPR, limits)?;
    let proto_limit = limits.proto_levels();
    let (node, nesting) =
        decode_message::<LogicalExprNode>(frame.body, proto_limit, "body").map_err(|e| match e {
            // Reported in expression levels, as the limit is set.
            CodecError::NestedTooDeep { what: "body", levels, .. } => {
                CodecError::TooDeep { depth: levels.div_ceil(2), limit: limits.max_depth, stage: "decode" }
            }
            other => other,
        })?;
    let flagged = framing::flagged_inline(&frame);
    let mut decoding = codec.for_frame(proto_limit, limits, flagged);
    with_stack_for(nesting, move || {
        let parsed = framing::converting("expression", || {
            parse_expr(&node, registry, &decoding).map_err(|e| match e {
                FromProtoError::DataFusionError(e) => CodecError::Query(e),
                other => CodecError::Malformed(other.to_string()),
            })
        });
        drop(node);
        let expr = framing::finish(decoding.frame_tracking(), flagged, parsed)?;
        // The nesting bound keeps decoding safe, but operand lists fold into
        // chains deeper than the message nests: this check is exact.
        let (depth, nodes) = expr_shape(&expr);
        if depth > limits.max_depth {
            return Err(CodecError::TooDeep { depth, limit: limits.max_depth, stage: "decode" });
        }
        if nodes > limits.max_nodes {
            return Err(CodecError::TooManyNodes { nodes, limit: limits.max_nodes, stage: "decode" });
        }
        Ok((expr, depth))
    })
}

#[cfg(test)]
mod tests {
    use datafusion::functions::expr_fn::{abs, upper};
    use datafusion::logical_expr::{col, lit, when};

    use super::*;

    /// Depth and node count by plain recursion over `apply_children`.
    fn shape_by_recursion(expr: &Expr) -> (usize, usize) {
        let (mut depth, mut nodes) = (0, 1);
        let _ = expr.apply_children(|child| {
            let (d, n) = shape_by_recursion(child);
            depth = depth.max(d);
            nodes += n;
            Ok(TreeNodeRecursion::Continue)
        });
        (depth + 1, nodes)
    }

    #[test]
    fn shape_matches_a_plain_walk() {
        let mut chain = col("a");
        for i in 0..50 {
            chain = if i % 2 == 0 { chain + lit(i) } else { lit(i) * chain };
        }
        let exprs = [
            col("a"),
            lit(1),
            col("a") + lit(1),
            abs(col("a") - lit(100)).gt(lit(3)),
            when(col("a").between(lit(1), lit(10)), upper(col("s")))
                .otherwise(lit("x"))
                .expect("case")
                .alias("c"),
            !(col("a") + (col("b") * (col("c") - lit(2)))).is_null(),
            chain,
        ];
        for expr in &exprs {
            assert_eq!(expr_shape(expr), shape_by_recursion(expr), "{expr}");
        }
    }
}
