//! Query building that goes beyond DataFusion's own DataFrame methods.

use std::collections::HashSet;

use datafusion::common::{Column, DFSchema, JoinType};
use datafusion::dataframe::DataFrame;
use datafusion::error::Result;
use datafusion::logical_expr::Expr;
use datafusion::prelude::coalesce;

/// Joins on equal keys. Columns named alike on both sides under the same
/// qualifier get distinct qualifiers (`left`, `right`) so that they stay
/// addressable. With `coalesce_keys`, a key with the same name on both
/// sides appears once in the result (for outer joins, the value from
/// whichever side has one); semi and anti joins keep one side anyway.
pub fn join(
    left: DataFrame,
    right: DataFrame,
    how: JoinType,
    left_on: &[&str],
    right_on: &[&str],
    coalesce_keys: bool,
) -> Result<DataFrame> {
    let left_fields: HashSet<_> = left.schema().iter().map(|(q, f)| (q.cloned(), f.name().clone())).collect();
    let clash = right.schema().iter().any(|(q, f)| left_fields.contains(&(q.cloned(), f.name().clone())));
    let (left, right) = if clash { (left.alias("left")?, right.alias("right")?) } else { (left, right) };
    let left_schema = left.schema().clone();
    let right_schema = right.schema().clone();
    let joined = left.join(right, how, left_on, right_on, None)?;
    let keeps_both =
        !matches!(how, JoinType::LeftSemi | JoinType::LeftAnti | JoinType::RightSemi | JoinType::RightAnti);
    if !coalesce_keys || !keeps_both {
        return Ok(joined);
    }
    let shared: Vec<&str> = left_on.iter().zip(right_on).filter(|(a, b)| a == b).map(|(a, _)| *a).collect();
    if shared.is_empty() {
        return Ok(joined);
    }
    let qualifier_of = |schema: &DFSchema, name: &str| {
        schema.qualified_field_with_unqualified_name(name).map(|(q, _)| q.cloned())
    };
    let mut keys = Vec::with_capacity(shared.len());
    for name in &shared {
        keys.push((*name, qualifier_of(&left_schema, name)?, qualifier_of(&right_schema, name)?));
    }
    let mut projection = Vec::new();
    for (qualifier, field) in joined.schema().iter() {
        let column = Expr::Column(Column::new(qualifier.cloned(), field.name()));
        let key = keys.iter().find(|(name, _, _)| *name == field.name().as_str());
        match key {
            Some((_, _, rq)) if rq.as_ref() == qualifier => {}
            Some((name, lq, rq)) if lq.as_ref() == qualifier => {
                let value = match how {
                    JoinType::Inner | JoinType::Left => column,
                    _ => coalesce(vec![column, Expr::Column(Column::new(rq.clone(), *name))]),
                };
                projection.push(value.alias(*name));
            }
            _ => projection.push(column),
        }
    }
    joined.select(projection)
}

/// A frame over `table` whose columns are unqualified. A table read without
/// a name gets DataFusion's placeholder qualifier, which would otherwise
/// follow every column derived from it into its name.
pub fn unqualified_frame(
    ctx: &datafusion::prelude::SessionContext,
    table: std::sync::Arc<dyn datafusion::catalog::TableProvider>,
) -> Result<DataFrame> {
    let df = ctx.read_table(table)?;
    let columns: Vec<Expr> = df
        .schema()
        .iter()
        .map(|(q, f)| Expr::Column(Column::new(q.cloned(), f.name())).alias(f.name()))
        .collect();
    df.select(columns)
}
