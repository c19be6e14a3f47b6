//! The process-wide expression depth limit, and measuring the depth of
//! expressions and plans without recursing.
//!
//! Every expression a host program holds is measured when it is built or
//! decoded and refused over this limit, so each later recursive walk of it
//! (clone, display, comparison, drop, planning) can run on a stack sized by
//! its depth ([`crate::codec::bounded::with_stack`]).

use std::sync::atomic::{AtomicUsize, Ordering};

use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::logical_expr::{Expr, LogicalPlan};

use crate::codec::bounded::with_stack;
use crate::codec::expr::expr_depth;
use crate::error::{DfshipError, Result};

/// Deepest expression built or decoded unless changed with
/// [`set_max_expression_depth`].
pub const DEFAULT_MAX_EXPR_DEPTH: usize = 2_000;

static MAX_EXPR_DEPTH: AtomicUsize = AtomicUsize::new(DEFAULT_MAX_EXPR_DEPTH);

/// The process-wide expression depth limit.
pub fn max_expression_depth() -> usize {
    MAX_EXPR_DEPTH.load(Ordering::Relaxed)
}

/// Sets the process-wide expression depth limit (at least 1).
pub fn set_max_expression_depth(depth: usize) -> Result<()> {
    if depth == 0 {
        return Err(DfshipError::InvalidArgument("the expression depth limit must be at least 1".into()));
    }
    MAX_EXPR_DEPTH.store(depth, Ordering::Relaxed);
    Ok(())
}

/// `expr` and its depth, or [`DfshipError::TooDeep`] when it nests deeper
/// than the process-wide limit (the refused expression is dropped on a
/// stack sized for it).
pub fn checked(expr: Expr) -> Result<(Expr, usize)> {
    let depth = expr_depth(&expr);
    checked_at(expr, depth)
}

/// [`checked`] for an expression whose depth is already known exactly
/// (a decode measures it): no second walk of the tree.
pub fn checked_at(expr: Expr, depth: usize) -> Result<(Expr, usize)> {
    debug_assert_eq!(depth, expr_depth(&expr), "the depth given is the expression's");
    let limit = max_expression_depth();
    if depth > limit {
        with_stack(depth, move || drop(expr));
        return Err(DfshipError::TooDeep { depth, limit });
    }
    Ok((expr, depth))
}

/// The deepest expression anywhere in a plan, found without recursing
/// into the expressions.
pub fn plan_expr_depth(plan: &LogicalPlan) -> usize {
    let mut deepest = 0;
    let _ = plan.apply_with_subqueries(|node| {
        node.apply_expressions(|e| {
            deepest = deepest.max(expr_depth(e));
            Ok(TreeNodeRecursion::Continue)
        })
    });
    deepest
}
