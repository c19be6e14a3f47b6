//! `SessionConfig` and `RuntimeEnvBuilder` handles: what a session is
//! created with.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::memory_pool::{FairSpillPool, GreedyMemoryPool, MemoryPool, UnboundedMemoryPool};
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::prelude::SessionConfig;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use dfship_core::error::DfshipError;

#[pyclass(name = "SessionConfig", module = "dfship._internal", frozen, skip_from_py_object)]
#[derive(Clone)]
pub struct PySessionConfig {
    pub config: SessionConfig,
}

#[pymethods]
impl PySessionConfig {
    #[new]
    #[pyo3(signature = (config_options=None))]
    fn new(config_options: Option<HashMap<String, String>>) -> PyResult<Self> {
        let mut config = SessionConfig::new();
        for (key, value) in config_options.unwrap_or_default() {
            config = config.set_str(&key, &value);
        }
        Ok(Self { config })
    }

    fn set(&self, key: &str, value: &str) -> PyResult<Self> {
        let mut options = self.config.options().as_ref().clone();
        options.set(key, value).map_err(DfshipError::from)?;
        Ok(Self { config: SessionConfig::from(options) })
    }

    fn with_target_partitions(&self, target_partitions: usize) -> PyResult<Self> {
        if target_partitions == 0 {
            return Err(PyValueError::new_err("target_partitions must be at least 1"));
        }
        Ok(Self { config: self.config.clone().with_target_partitions(target_partitions) })
    }

    fn with_batch_size(&self, batch_size: usize) -> PyResult<Self> {
        if batch_size == 0 {
            return Err(PyValueError::new_err("batch_size must be at least 1"));
        }
        Ok(Self { config: self.config.clone().with_batch_size(batch_size) })
    }

    fn with_information_schema(&self, enabled: bool) -> Self {
        Self { config: self.config.clone().with_information_schema(enabled) }
    }

    #[getter]
    fn target_partitions(&self) -> usize {
        self.config.target_partitions()
    }

    #[getter]
    fn batch_size(&self) -> usize {
        self.config.batch_size()
    }

    fn options(&self) -> HashMap<String, String> {
        self.config.options().entries().into_iter().filter_map(|e| e.value.map(|v| (e.key, v))).collect()
    }
}

#[derive(Clone, Debug)]
enum Disk {
    Os,
    Disabled,
    Directories(Vec<PathBuf>),
}

#[derive(Clone, Copy, Debug)]
enum Pool {
    Unbounded,
    FairSpill(usize),
    Greedy(usize),
}

/// Where a session may spill and how much memory its queries may hold.
#[pyclass(name = "RuntimeEnvBuilder", module = "dfship._internal", frozen, skip_from_py_object)]
#[derive(Clone, Debug)]
pub struct PyRuntimeEnvBuilder {
    disk: Disk,
    pool: Pool,
}

impl PyRuntimeEnvBuilder {
    pub(crate) fn build(&self) -> PyResult<Arc<RuntimeEnv>> {
        let mode = match &self.disk {
            Disk::Os => DiskManagerMode::OsTmpDirectory,
            Disk::Disabled => DiskManagerMode::Disabled,
            Disk::Directories(dirs) => DiskManagerMode::Directories(dirs.clone()),
        };
        let pool: Arc<dyn MemoryPool> = match self.pool {
            Pool::Unbounded => Arc::new(UnboundedMemoryPool::default()),
            Pool::FairSpill(size) => Arc::new(FairSpillPool::new(size)),
            Pool::Greedy(size) => Arc::new(GreedyMemoryPool::new(size)),
        };
        let env = dfship_core::stores::with_stores(RuntimeEnvBuilder::new())
            .with_disk_manager_builder(DiskManagerBuilder::default().with_mode(mode))
            .with_memory_pool(pool)
            .build()
            .map_err(DfshipError::from)?;
        Ok(Arc::new(env))
    }

    fn with(&self, disk: Option<Disk>, pool: Option<Pool>) -> Self {
        Self { disk: disk.unwrap_or_else(|| self.disk.clone()), pool: pool.unwrap_or(self.pool) }
    }
}

#[pymethods]
impl PyRuntimeEnvBuilder {
    #[new]
    fn new() -> Self {
        Self { disk: Disk::Os, pool: Pool::Unbounded }
    }

    fn with_disk_manager_disabled(&self) -> Self {
        self.with(Some(Disk::Disabled), None)
    }

    fn with_disk_manager_os(&self) -> Self {
        self.with(Some(Disk::Os), None)
    }

    fn with_disk_manager_specified(&self, paths: Vec<PathBuf>) -> PyResult<Self> {
        if paths.is_empty() {
            return Err(PyValueError::new_err("with_disk_manager_specified needs at least one directory"));
        }
        Ok(self.with(Some(Disk::Directories(paths)), None))
    }

    fn with_temp_file_path(&self, path: PathBuf) -> Self {
        self.with(Some(Disk::Directories(vec![path])), None)
    }

    fn with_unbounded_memory_pool(&self) -> Self {
        self.with(None, Some(Pool::Unbounded))
    }

    fn with_fair_spill_pool(&self, size: usize) -> Self {
        self.with(None, Some(Pool::FairSpill(size)))
    }

    fn with_greedy_memory_pool(&self, size: usize) -> Self {
        self.with(None, Some(Pool::Greedy(size)))
    }

    fn __repr__(&self) -> String {
        format!("RuntimeEnvBuilder(disk={:?}, pool={:?})", self.disk, self.pool)
    }
}
