//! A case's rows as an Arrow batch: `rid` (the row number) then the columns.

use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Date32Array, Decimal128Array, Float64Array, Int64Array, Int64Builder,
    ListBuilder, StringArray, TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::ipc::writer::StreamWriter;
use datafusion::arrow::record_batch::RecordBatch;

use crate::render::data_type;
use crate::spec::{Case, Ty, Value};

fn column(ty: Ty, cells: &[Option<&Value>]) -> ArrayRef {
    macro_rules! prim {
        ($array:ty, $variant:ident) => {
            Arc::new(
                cells
                    .iter()
                    .map(|c| match c {
                        Some(Value::$variant(v)) => Some(v.clone()),
                        _ => None,
                    })
                    .collect::<$array>(),
            )
        };
    }
    match ty {
        Ty::Int => prim!(Int64Array, Int),
        Ty::Float => prim!(Float64Array, Float),
        Ty::Str => prim!(StringArray, Str),
        Ty::Bool => prim!(BooleanArray, Bool),
        Ty::Date => prim!(Date32Array, Date),
        Ty::Ts => prim!(TimestampMicrosecondArray, Ts),
        Ty::Decimal => {
            let values: Decimal128Array = cells
                .iter()
                .map(|c| match c {
                    Some(Value::Decimal(v)) => Some(i128::from(*v)),
                    _ => None,
                })
                .collect();
            Arc::new(values.with_precision_and_scale(10, 2).expect("valid decimal type"))
        }
        Ty::List => {
            let mut builder = ListBuilder::new(Int64Builder::new());
            for c in cells {
                match c {
                    Some(Value::List(Some(items))) => {
                        builder.values().extend(items.iter().copied());
                        builder.append(true);
                    }
                    _ => builder.append(false),
                }
            }
            Arc::new(builder.finish())
        }
    }
}

/// The case's batch.
pub fn batch(case: &Case) -> RecordBatch {
    let mut fields = vec![Field::new("rid", DataType::Int64, false)];
    let rid: Int64Array = (0..case.rows.len()).map(|i| i64::try_from(i).expect("few rows")).collect();
    let mut arrays: Vec<ArrayRef> = vec![Arc::new(rid)];
    for (i, c) in case.columns.iter().enumerate() {
        fields.push(Field::new(c.name.as_str(), data_type(c.ty), true));
        let cells: Vec<Option<&Value>> = case.rows.iter().map(|r| r[i].as_ref()).collect();
        arrays.push(column(c.ty, &cells));
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).expect("the batch matches its schema")
}

/// The batch as an Arrow IPC stream.
pub fn ipc_stream(batch: &RecordBatch) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut writer = StreamWriter::try_new(&mut out, batch.schema().as_ref()).expect("ipc writer");
        writer.write(batch).expect("ipc write");
        writer.finish().expect("ipc finish");
    }
    out
}
