//! Catalogs, schemas and tables of a session, as Python objects.

use std::collections::HashSet;
use std::sync::Arc;

use arrow_pyarrow::{PyArrowType, ToPyArrow};
use datafusion::arrow::datatypes::Schema;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::{CatalogProvider, SchemaProvider};
use datafusion::datasource::MemTable;
use datafusion::datasource::{TableProvider, TableType};
use pyo3::exceptions::PyKeyError;
use pyo3::prelude::*;

use super::runtime::wait_for;
use dfship_core::error::DfshipError;

/// A table: anything a session can scan (a view, an in-memory table, files).
#[pyclass(name = "Table", module = "dfship._internal", frozen)]
pub struct PyTable {
    pub provider: Arc<dyn TableProvider>,
}

impl PyTable {
    pub fn new(provider: Arc<dyn TableProvider>) -> Self {
        Self { provider }
    }
}

#[pymethods]
impl PyTable {
    /// An in-memory table of `partitions`, each a list of batches of `schema`.
    #[staticmethod]
    fn in_memory(
        schema: PyArrowType<Schema>,
        partitions: Vec<Vec<PyArrowType<RecordBatch>>>,
    ) -> PyResult<Self> {
        let partitions = partitions.into_iter().map(|p| p.into_iter().map(|b| b.0).collect()).collect();
        let table = MemTable::try_new(Arc::new(schema.0), partitions).map_err(DfshipError::from)?;
        Ok(Self::new(Arc::new(table)))
    }

    #[getter]
    fn schema<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.provider.schema().as_ref().to_pyarrow(py)
    }

    /// `base`, `view` or `temporary`.
    #[getter]
    fn kind(&self) -> &'static str {
        match self.provider.table_type() {
            TableType::Base => "base",
            TableType::View => "view",
            TableType::Temporary => "temporary",
        }
    }

    fn __repr__(&self) -> String {
        format!("Table(kind={})", self.kind())
    }
}

/// A catalog: a named set of schemas.
#[pyclass(name = "Catalog", module = "dfship._internal", frozen)]
pub struct PyCatalog {
    pub catalog: Arc<dyn CatalogProvider>,
}

#[pymethods]
impl PyCatalog {
    fn schema_names(&self) -> HashSet<String> {
        self.catalog.schema_names().into_iter().collect()
    }

    #[pyo3(signature = (name="public"))]
    fn schema(&self, name: &str) -> PyResult<PySchema> {
        match self.catalog.schema(name) {
            Some(schema) => Ok(PySchema { schema }),
            None => Err(PyKeyError::new_err(format!("no schema named {name:?} in this catalog"))),
        }
    }

    fn __repr__(&self) -> String {
        let mut names: Vec<String> = self.catalog.schema_names();
        names.sort();
        format!("Catalog(schemas={names:?})")
    }
}

/// A schema: a named set of tables within a catalog.
#[pyclass(name = "Schema", module = "dfship._internal", frozen)]
pub struct PySchema {
    pub schema: Arc<dyn SchemaProvider>,
}

#[pymethods]
impl PySchema {
    fn table_names(&self) -> HashSet<String> {
        self.schema.table_names().into_iter().collect()
    }

    fn table_exist(&self, name: &str) -> bool {
        self.schema.table_exist(name)
    }

    fn table(&self, py: Python<'_>, name: String) -> PyResult<PyTable> {
        let schema = Arc::clone(&self.schema);
        let found = {
            let name = name.clone();
            wait_for(py, async move { schema.table(&name).await })?
        };
        match found {
            Some(provider) => Ok(PyTable::new(provider)),
            None => Err(PyKeyError::new_err(format!("no table named {name:?} in this schema"))),
        }
    }

    fn register_table(&self, name: String, table: &PyTable) -> PyResult<()> {
        self.schema.register_table(name, Arc::clone(&table.provider)).map_err(DfshipError::from)?;
        Ok(())
    }

    fn deregister_table(&self, name: &str) -> PyResult<()> {
        self.schema.deregister_table(name).map_err(DfshipError::from)?;
        Ok(())
    }

    fn __repr__(&self) -> String {
        let mut names: Vec<String> = self.schema.table_names();
        names.sort();
        format!("Schema(tables={names:?})")
    }
}
