//! Finding an error of a given type inside DataFusion's error chains.

use datafusion::arrow::error::ArrowError;
use datafusion::error::DataFusionError;

/// Finds an error of type `T` anywhere in a DataFusion error chain (errors
/// cross DataFusion as [`DataFusionError::External`]).
pub fn find_in_chain<T: std::error::Error + 'static>(err: &DataFusionError) -> Option<&T> {
    let mut current: &(dyn std::error::Error + 'static) = err;
    loop {
        if let Some(DataFusionError::External(inner)) = current.downcast_ref::<DataFusionError>()
            && let Some(found) = inner.downcast_ref::<T>()
        {
            return Some(found);
        }
        if let Some(found) = current.downcast_ref::<T>() {
            return Some(found);
        }
        if let Some(ArrowError::ExternalError(inner)) = current.downcast_ref::<ArrowError>() {
            current = inner.as_ref();
            continue;
        }
        current = current.source()?;
    }
}
