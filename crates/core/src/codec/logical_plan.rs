//! Logical plans in and out of `DFSL` frames.
//!
//! A logical plan travels like the other framed objects: the same flags,
//! size limit and signing, its protobuf nesting bounded by the session's
//! `max_depth` before anything decodes it, and its depth (the plan's height
//! and its deepest expression) checked on encode and again on decode. Python
//! UDFs inside travel inline through [`PythonLogicalCodec`]; tables are
//! those datafusion-proto can describe (files, listing tables), resolved on
//! the receiver, and in-memory data does not travel.

use datafusion::error::DataFusionError;
use datafusion::execution::TaskContext;
use datafusion::logical_expr::LogicalPlan;
use datafusion_proto::logical_plan::AsLogicalPlan;
use datafusion_proto::protobuf::LogicalPlanNode;

use super::bounded::{decode_message, with_stack, with_stack_for};
use super::error::CodecError;
use super::extension::PythonLogicalCodec;
use super::framing;
use super::limits::{PROTO_LEVELS_PER_EXPR, WireLimits};
use super::physical::refuse_too_deep;
use crate::depth::plan_expr_depth;
use dfship_wire::MAGIC_LOGICAL_PLAN;

/// How many plan nodes deep `plan` goes, subqueries included; the chain
/// of inputs is walked without recursion (only a subquery inside a
/// subquery recurses).
pub fn logical_plan_height(plan: &LogicalPlan) -> usize {
    use datafusion::common::tree_node::TreeNodeRecursion;
    let mut height = 0;
    let mut stack = vec![(plan, 1usize)];
    while let Some((node, level)) = stack.pop() {
        height = height.max(level);
        let _ = node.apply_subqueries(|subquery| {
            height = height.max(level + logical_plan_height(subquery));
            Ok(TreeNodeRecursion::Continue)
        });
        stack.extend(node.inputs().into_iter().map(|input| (input, level + 1)));
    }
    height
}

/// Refuses a plan whose height or deepest expression is over `max_depth`;
/// otherwise the bound on the recursion of any walk of it.
fn check(plan: &LogicalPlan, limits: &WireLimits, stage: &'static str) -> Result<usize, CodecError> {
    let height = logical_plan_height(plan);
    if height > limits.max_depth {
        return Err(CodecError::TooDeep { depth: height, limit: limits.max_depth, stage });
    }
    let deepest = with_stack(height * PROTO_LEVELS_PER_EXPR, || plan_expr_depth(plan));
    if deepest > limits.max_depth {
        return Err(CodecError::TooDeep { depth: deepest, limit: limits.max_depth, stage });
    }
    Ok(height + deepest)
}

/// Serializes `plan` into a `DFSL` frame.
pub fn encode_logical_plan(
    plan: &LogicalPlan,
    codec: &PythonLogicalCodec,
    limits: &WireLimits,
) -> Result<Vec<u8>, CodecError> {
    let depth = check(plan, limits, "encode")?;
    let mut encoding = codec.for_frame(limits.proto_levels(), limits, false);
    let frame = with_stack(depth * PROTO_LEVELS_PER_EXPR, || {
        let node = LogicalPlanNode::try_from_logical_plan(plan, &encoding);
        if let (Err(e), false) = (&node, encoding.frame_tracking().has_failure()) {
            // Not a damaged payload: a plan that cannot be described (most
            // often a scan of in-memory data).
            return Err(CodecError::Query(DataFusionError::Plan(format!(
                "this logical plan cannot be serialized: {e}. Tables travel by description (files, \
                 listing tables); in-memory data does not: ship the physical plan \
                 (DataFrame.execution_plan()) instead"
            ))));
        }
        framing::seal(MAGIC_LOGICAL_PLAN, encoding.frame_tracking(), node, "logical plan", limits)
    })?;
    refuse_too_deep(&frame, MAGIC_LOGICAL_PLAN, limits)?;
    Ok(frame)
}

/// Checks a `DFSL` frame and rebuilds its plan, resolving tables and
/// functions named in it through `ctx`; also returns the bound on the
/// recursion of any walk of the plan.
pub fn decode_logical_plan(
    bytes: &[u8],
    ctx: &TaskContext,
    codec: &PythonLogicalCodec,
    limits: &WireLimits,
) -> Result<(LogicalPlan, usize), CodecError> {
    let frame = framing::open(bytes, MAGIC_LOGICAL_PLAN, limits)?;
    let levels = limits.proto_levels();
    let (node, nesting) = decode_message::<LogicalPlanNode>(frame.body, levels, "logical plan")?;
    let flagged = framing::flagged_inline(&frame);
    let mut decoding = codec.for_frame(levels, limits, flagged);
    with_stack_for(nesting, move || {
        let parsed = framing::converting("logical plan", || {
            node.try_into_logical_plan(ctx, &decoding).map_err(CodecError::Query)
        });
        drop(node);
        let plan = framing::finish(decoding.frame_tracking(), flagged, parsed)?;
        let depth = check(&plan, limits, "decode")?;
        Ok((plan, depth))
    })
}
