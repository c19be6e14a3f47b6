//! The three families of Python UDFs and the magic their inline payloads
//! start with.

use std::fmt;

use dfship_wire::{MAGIC_AGGREGATE_UDF, MAGIC_SCALAR_UDF, MAGIC_WINDOW_UDF};

/// The three families of user-defined functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UdfFamily {
    Scalar,
    Aggregate,
    Window,
}

impl UdfFamily {
    pub fn name(self) -> &'static str {
        match self {
            Self::Scalar => "scalar",
            Self::Aggregate => "aggregate",
            Self::Window => "window",
        }
    }

    /// The inline payload magic of this family.
    pub fn magic(self) -> [u8; 4] {
        match self {
            Self::Scalar => MAGIC_SCALAR_UDF,
            Self::Aggregate => MAGIC_AGGREGATE_UDF,
            Self::Window => MAGIC_WINDOW_UDF,
        }
    }
}

impl fmt::Display for UdfFamily {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What every dfship inline Python UDF payload starts with.
pub(super) const INLINE_MAGIC_PREFIX: &[u8] = b"DFS";

/// The whole payload of a Spark-compatible function (`datafusion-spark`)
/// whose name a receiver would otherwise resolve to a DataFusion built-in.
pub(super) const SPARK_TAG: &[u8] = b"dfship:spark";

/// Magic prefix of the `datafusion` Python package's own inline payloads.
pub(super) const FOREIGN_PYTHON_MAGIC: &[u8] = b"DFPY";
