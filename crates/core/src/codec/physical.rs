//! Physical plans and physical expressions in and out of frames.
//!
//! They travel like logical expressions: in a checked frame (`DFSP` for a
//! plan, `DFSX` for an expression, see [`dfship_wire`]) with the same flags,
//! the same size limit, the same protobuf nesting bound (the session's
//! `max_depth` in protobuf levels, [`WireLimits::proto_levels`]) and the same
//! depth limit (`max_depth`, for the plan's height and each expression),
//! each checked on encode too, so that nothing is sent that a receiver with
//! the same limits would refuse. Python UDFs inside travel inline through
//! [`PythonPhysicalCodec`], or by name when inlining is off.

use std::sync::Arc;

use datafusion::arrow::datatypes::Schema;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::execution::TaskContext;
use datafusion::physical_expr_common::physical_expr::PhysicalExpr;
use datafusion::physical_plan::ExecutionPlan;
use datafusion_proto::physical_plan::AsExecutionPlan;
use datafusion_proto::physical_plan::from_proto::parse_physical_expr;
use datafusion_proto::physical_plan::to_proto::serialize_physical_expr;
use datafusion_proto::protobuf::{PhysicalExprNode, PhysicalPlanNode};

use super::bounded::{check_nested, decode_message, with_stack, with_stack_for};
use super::error::CodecError;
use super::extension::PythonPhysicalCodec;
use super::framing;
use super::limits::WireLimits;
use dfship_wire::{MAGIC_PHYSICAL_EXPR, MAGIC_PHYSICAL_PLAN};

/// How deep a physical expression nests, found without recursion.
pub fn physical_expr_depth(expr: &Arc<dyn PhysicalExpr>) -> usize {
    let mut deepest = 0;
    let mut stack = vec![(expr, 1usize)];
    while let Some((node, depth)) = stack.pop() {
        deepest = deepest.max(depth);
        stack.extend(node.children().into_iter().map(|child| (child, depth + 1)));
    }
    deepest
}

/// How a physical plan nests, found without recursion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanDepth {
    /// Levels of plan nodes.
    pub height: usize,
    /// The deepest expression in any node.
    pub deepest_expr: usize,
}

impl PlanDepth {
    /// A bound on the recursion of any walk of the plan and its
    /// expressions.
    pub fn recursion(self) -> usize {
        self.height + self.deepest_expr
    }

    /// Refuses a plan whose height or deepest expression is over the
    /// limits' `max_depth`.
    pub fn check(self, limits: &WireLimits, stage: &'static str) -> Result<(), CodecError> {
        let depth = self.height.max(self.deepest_expr);
        if depth > limits.max_depth {
            return Err(CodecError::TooDeep { depth, limit: limits.max_depth, stage });
        }
        Ok(())
    }
}

/// Measures a plan: its height and its deepest expression.
pub fn plan_depth(plan: &Arc<dyn ExecutionPlan>) -> PlanDepth {
    let mut out = PlanDepth { height: 0, deepest_expr: 0 };
    let mut stack = vec![(plan, 1usize)];
    while let Some((node, level)) = stack.pop() {
        out.height = out.height.max(level);
        let _ = node.apply_expressions(&mut |e| {
            out.deepest_expr = out.deepest_expr.max(physical_expr_depth(e));
            Ok(TreeNodeRecursion::Continue)
        });
        stack.extend(node.children().into_iter().map(|child| (child, level + 1)));
    }
    out
}

/// Serializes `plan` into a `DFSP` frame. A plan whose height or deepest
/// expression is over the session's `max_depth` is refused first.
pub fn encode_physical_plan(
    plan: &Arc<dyn ExecutionPlan>,
    codec: &PythonPhysicalCodec,
    limits: &WireLimits,
) -> Result<Vec<u8>, CodecError> {
    let depth = plan_depth(plan);
    depth.check(limits, "encode")?;
    let mut encoding = codec.for_frame(limits.proto_levels(), limits, false);
    let frame = with_stack(depth.recursion(), || {
        let node = PhysicalPlanNode::try_from_physical_plan(Arc::clone(plan), &encoding);
        framing::seal(MAGIC_PHYSICAL_PLAN, encoding.frame_tracking(), node, "plan", limits)
    })?;
    refuse_too_deep(&frame, MAGIC_PHYSICAL_PLAN, limits)?;
    Ok(frame)
}

/// Checks a `DFSP` frame and rebuilds its plan, resolving functions named
/// in it through `ctx`.
pub fn decode_physical_plan(
    bytes: &[u8],
    ctx: &TaskContext,
    codec: &PythonPhysicalCodec,
    limits: &WireLimits,
) -> Result<Arc<dyn ExecutionPlan>, CodecError> {
    decode_physical_plan_measured(bytes, ctx, codec, limits).map(|(plan, _)| plan)
}

/// [`decode_physical_plan`], also returning how the plan nests, which
/// bounds the recursion of any walk of it.
pub fn decode_physical_plan_measured(
    bytes: &[u8],
    ctx: &TaskContext,
    codec: &PythonPhysicalCodec,
    limits: &WireLimits,
) -> Result<(Arc<dyn ExecutionPlan>, PlanDepth), CodecError> {
    let frame = framing::open(bytes, MAGIC_PHYSICAL_PLAN, limits)?;
    let levels = limits.proto_levels();
    let (node, nesting) = decode_message::<PhysicalPlanNode>(frame.body, levels, "plan")?;
    let flagged = framing::flagged_inline(&frame);
    let mut decoding = codec.for_frame(levels, limits, flagged);
    with_stack_for(nesting, move || {
        let parsed = framing::converting("plan", || {
            node.try_into_physical_plan(ctx, &decoding).map_err(CodecError::Query)
        });
        drop(node);
        let plan = framing::finish(decoding.frame_tracking(), flagged, parsed)?;
        // Operand lists fold into chains deeper than the message nests:
        // measured exactly before the plan is accepted.
        let depth = plan_depth(&plan);
        depth.check(limits, "decode")?;
        Ok((plan, depth))
    })
}

/// Serializes a physical expression into a `DFSX` frame.
pub fn encode_physical_expr(
    expr: &Arc<dyn PhysicalExpr>,
    codec: &PythonPhysicalCodec,
    limits: &WireLimits,
) -> Result<Vec<u8>, CodecError> {
    let depth = physical_expr_depth(expr);
    if depth > limits.max_depth {
        return Err(CodecError::TooDeep { depth, limit: limits.max_depth, stage: "encode" });
    }
    let mut encoding = codec.for_frame(limits.proto_levels(), limits, false);
    let frame = with_stack(depth, || {
        let node = serialize_physical_expr(expr, &encoding);
        framing::seal(MAGIC_PHYSICAL_EXPR, encoding.frame_tracking(), node, "physical expression", limits)
    })?;
    refuse_too_deep(&frame, MAGIC_PHYSICAL_EXPR, limits)?;
    Ok(frame)
}

/// Checks a `DFSX` frame and rebuilds its expression over `input_schema`.
pub fn decode_physical_expr(
    bytes: &[u8],
    ctx: &TaskContext,
    input_schema: &Schema,
    codec: &PythonPhysicalCodec,
    limits: &WireLimits,
) -> Result<Arc<dyn PhysicalExpr>, CodecError> {
    let frame = framing::open(bytes, MAGIC_PHYSICAL_EXPR, limits)?;
    let levels = limits.proto_levels();
    let (node, nesting) = decode_message::<PhysicalExprNode>(frame.body, levels, "physical expression")?;
    let flagged = framing::flagged_inline(&frame);
    let mut decoding = codec.for_frame(levels, limits, flagged);
    with_stack_for(nesting, move || {
        let parsed = framing::converting("physical expression", || {
            parse_physical_expr(&node, ctx, input_schema, &decoding).map_err(CodecError::Query)
        });
        drop(node);
        let expr = framing::finish(decoding.frame_tracking(), flagged, parsed)?;
        let depth = physical_expr_depth(&expr);
        if depth > limits.max_depth {
            return Err(CodecError::TooDeep { depth, limit: limits.max_depth, stage: "decode" });
        }
        Ok(expr)
    })
}

/// Refuses a frame just written whose body nests deeper than a receiver
/// with the same limits would accept.
pub(super) fn refuse_too_deep(frame: &[u8], magic: [u8; 4], limits: &WireLimits) -> Result<(), CodecError> {
    let body = framing::open(frame, magic, limits)?.body;
    check_nested(body, limits.proto_levels(), "encoded body").map_err(|e| match e {
        CodecError::NestedTooDeep { levels, limit, .. } => {
            CodecError::TooDeep { depth: levels, limit, stage: "encode (protobuf levels)" }
        }
        other => other,
    })?;
    Ok(())
}
