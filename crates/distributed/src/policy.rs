//! What a worker lets a plan touch: the data roots every scan must fall
//! under, and whether it may write at all.
//!
//! A plan carries its own paths, so a token holder could otherwise make a
//! worker read any file it can read. The worker checks each task's decoded
//! plan before it runs any of it: every file a scan names must lie under one
//! of `--data-root`'s prefixes (local paths or store URLs), and a plan that
//! writes (a sink: `COPY TO`, `INSERT INTO` a listing table) is refused
//! unless `--allow-writes`, its destination then checked like a scan.
//!
//! Paths are compared as URLs, segment by segment (`file:///data/a` is not
//! under `file:///data/ab`). Object store paths cannot hold `..` segments, so
//! no path escapes its prefix by spelling; a symbolic link inside a root is
//! followed, as the file system does.

use std::any::Any;
use std::sync::Arc;

use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::datasource::file_format::csv::CsvSink;
use datafusion::datasource::file_format::json::JsonSink;
use datafusion::datasource::file_format::parquet::ParquetSink;
use datafusion::datasource::listing::ListingTableUrl;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfig, FileSink, FileSinkConfig};
use datafusion::datasource::sink::DataSinkExec;
use datafusion::datasource::source::DataSourceExec;
use datafusion::error::{DataFusionError, Result};
use datafusion::physical_plan::ExecutionPlan;
use url::Url;

use dfship_core::error::DfshipError;
use dfship_core::exceptions::Exception;

/// A worker's rules for the plans it runs.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// URL prefixes (`file:///data/tpch`, `s3://bucket/prefix`) every scan
    /// must fall under; empty: anywhere.
    roots: Vec<String>,
    /// Whether a plan may write.
    allow_writes: bool,
}

impl Policy {
    /// `roots` are local absolute paths or URLs.
    pub fn new(roots: &[String], allow_writes: bool) -> std::result::Result<Self, DfshipError> {
        let roots = roots.iter().map(|r| normalize(r)).collect::<std::result::Result<_, _>>()?;
        Ok(Self { roots, allow_writes })
    }

    pub fn restricts(&self) -> bool {
        !self.roots.is_empty() || !self.allow_writes
    }

    pub fn roots(&self) -> &[String] {
        &self.roots
    }

    /// Refuses `plan`, typed and naming what and why, if it reads outside
    /// the roots or writes when writes are not allowed.
    pub fn check(&self, plan: &Arc<dyn ExecutionPlan>, worker: &str) -> Result<()> {
        let mut refusal = None;
        plan.apply(|node| {
            refusal = self.node(node.as_ref(), worker);
            Ok(if refusal.is_some() { TreeNodeRecursion::Stop } else { TreeNodeRecursion::Continue })
        })?;
        match refusal {
            Some(why) => Err(DataFusionError::Execution(Exception::WorkerPolicy.tagged(why))),
            None => Ok(()),
        }
    }

    fn node(&self, node: &dyn ExecutionPlan, worker: &str) -> Option<String> {
        let any: &dyn Any = node;
        if let Some(sink) = any.downcast_ref::<DataSinkExec>() {
            if !self.allow_writes {
                let target = file_sink_config(sink).map_or_else(
                    || "to a data sink".to_owned(),
                    |c| c.table_paths.iter().map(ListingTableUrl::as_str).collect::<Vec<_>>().join(", "),
                );
                return Some(format!(
                    "the dfship worker at {worker} refused a plan that writes ({target}): it was \
                     started without --allow-writes"
                ));
            }
            if self.roots.is_empty() {
                return None;
            }
            let Some(config) = file_sink_config(sink) else {
                return Some(format!(
                    "the dfship worker at {worker} refused a plan that writes to a sink whose \
                     destination it cannot check against its --data-root"
                ));
            };
            return config.table_paths.iter().find_map(|url| self.outside(url.as_str(), worker, "write"));
        }
        if self.roots.is_empty() {
            return None;
        }
        let source = any.downcast_ref::<DataSourceExec>()?;
        let source: &dyn Any = source.data_source().as_ref();
        if let Some(scan) = source.downcast_ref::<FileScanConfig>() {
            let base = scan.object_store_url.as_str();
            return scan.file_groups.iter().flat_map(FileGroup::iter).find_map(|file| {
                self.outside(&join(base, file.object_meta.location.as_ref()), worker, "read")
            });
        }
        if source.downcast_ref::<MemorySourceConfig>().is_some() {
            // The rows travel in the plan itself.
            return None;
        }
        Some(format!(
            "the dfship worker at {worker} refused a plan that scans a source it cannot check \
             against its --data-root"
        ))
    }

    /// Why `url` may not be touched, if it lies outside every root.
    fn outside(&self, url: &str, worker: &str, verb: &str) -> Option<String> {
        if self.roots.iter().any(|root| under(url, root)) {
            return None;
        }
        Some(format!(
            "the dfship worker at {worker} refused to {verb} {url}: outside its --data-root ({})",
            self.roots.join(", ")
        ))
    }
}

fn file_sink_config(sink: &DataSinkExec) -> Option<&FileSinkConfig> {
    let any: &dyn Any = sink.sink();
    if let Some(s) = any.downcast_ref::<ParquetSink>() {
        return Some(s.config());
    }
    if let Some(s) = any.downcast_ref::<CsvSink>() {
        return Some(s.config());
    }
    any.downcast_ref::<JsonSink>().map(FileSink::config)
}

/// A store URL (`file:///`, `s3://bucket/`) and a path in it.
fn join(base: &str, path: &str) -> String {
    let path = path.trim_start_matches('/');
    if base.ends_with('/') { format!("{base}{path}") } else { format!("{base}/{path}") }
}

/// Whether `url` is `root` or lies below it, segment-wise.
fn under(url: &str, root: &str) -> bool {
    url.strip_prefix(root).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// A root as a URL without a trailing slash: an absolute local path
/// becomes `file:///...`.
fn normalize(root: &str) -> std::result::Result<String, DfshipError> {
    let invalid = |why: &str| DfshipError::InvalidArgument(format!("--data-root '{root}' {why}"));
    if root.split(['/', '\\']).any(|segment| segment == "..") {
        return Err(invalid("holds '..'"));
    }
    let url = if root.starts_with('/') {
        Url::from_directory_path(root).map_err(|()| invalid("is not an absolute path"))?
    } else {
        Url::parse(root).map_err(|_| invalid("is neither an absolute path nor a URL"))?
    };
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("holds a query or fragment"));
    }
    let text = url.as_str().trim_end_matches('/');
    // `s3://bucket` is the whole bucket; `file://` alone would be the whole disk.
    if url.scheme() == "file" && url.path() == "/" {
        return Err(invalid("is the whole file system: leave --data-root out instead"));
    }
    Ok(text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roots_compare_by_segment() {
        let p = Policy::new(&["/data/tpch/".into(), "s3://bucket/pre".into()], false).expect("valid roots");
        assert_eq!(p.roots(), ["file:///data/tpch", "s3://bucket/pre"]);
        let inside = |u: &str| p.roots().iter().any(|r| under(u, r));
        assert!(inside("file:///data/tpch/lineitem/part-0.parquet"));
        assert!(inside("file:///data/tpch"));
        assert!(!inside("file:///data/tpchx/secret"));
        assert!(!inside("file:///etc/passwd"));
        assert!(inside("s3://bucket/pre/x.parquet"));
        assert!(!inside("s3://bucket/prefix/x.parquet"));
        assert!(!inside("s3://other/pre/x"));
        assert_eq!(join("file:///", "data/tpch/a"), "file:///data/tpch/a");
        assert_eq!(join("s3://bucket/", "pre/a"), "s3://bucket/pre/a");
    }

    #[test]
    fn bad_roots_are_refused() {
        for bad in ["relative/path", "/", "file:///", "/data/../etc", "s3://b/p?x=1"] {
            assert!(Policy::new(&[bad.into()], false).is_err(), "{bad}");
        }
    }
}
