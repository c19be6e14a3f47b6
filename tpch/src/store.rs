//! Data directories on an object store (`s3://bucket/prefix`, `gs://`,
//! `az://`, `file://`).
//!
//! A store has no rename, so the local rule (write `part-N.parquet.partial`,
//! rename it into place) cannot hold. Two facts of object stores take its
//! place:
//!
//! - an object appears whole or not at all: a file is uploaded with one PUT
//!   or a multipart upload, and neither is visible before it completes, so
//!   an interrupted run leaves no data file a later run would keep (at most
//!   unfinished multipart parts, which the bucket's lifecycle rule for
//!   incomplete uploads removes);
//! - the marker is written last. While files are being written the request
//!   is recorded in `tpch-dataset.txt.partial`; `tpch-dataset.txt` is put
//!   only once every file is there, and the `.partial` marker is deleted
//!   after it. Readers require `tpch-dataset.txt`, so an interrupted dataset
//!   is never read, and a later run compares its request with whichever
//!   marker it finds before it resumes.
//!
//! Credentials come from the standard environment variables (`AWS_*`,
//! `GOOGLE_*`, `AZURE_*`), never from the URL.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::parquet::arrow::AsyncArrowWriter;
use datafusion::prelude::SessionContext;
use futures::TryStreamExt;
use object_store::buffered::BufWriter;
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, ObjectStoreExt};
use url::Url;

use crate::{
    DataFile, FileOutcome, GenOptions, MARKER, Progress, TpchError, files, parquet_properties, write_files,
};

/// The marker a run writes first, and deletes once the dataset is whole.
pub const PARTIAL_MARKER: &str = "tpch-dataset.txt.partial";

/// A data directory given as a URL, with its store.
pub struct StoreDir {
    /// As given, without a trailing slash.
    pub url: String,
    root: Url,
    prefix: StorePath,
    store: Arc<dyn ObjectStore>,
}

/// The URL in `dir`, if it is one (it has a scheme).
pub fn as_url(dir: &Path) -> Option<&str> {
    dir.to_str().filter(|s| s.contains("://"))
}

/// Variables the store builders read, as `object_store::parse_url_opts`
/// takes them (it ignores keys that are not its own).
fn environment() -> Vec<(String, String)> {
    std::env::vars()
        .filter(|(key, _)| key.starts_with("AWS_") || key.starts_with("GOOGLE_") || key.starts_with("AZURE_"))
        .collect()
}

impl StoreDir {
    pub fn open(url: &str) -> Result<Self, TpchError> {
        let url = url.trim_end_matches('/').to_owned();
        let bad = |reason: String| TpchError::Store { url: url.clone(), reason };
        let parsed = Url::parse(&url).map_err(|e| bad(format!("not a URL: {e}")))?;
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(bad(
                "credentials do not belong in the URL: set the store's environment variables".into()
            ));
        }
        let (store, prefix) =
            object_store::parse_url_opts(&parsed, environment()).map_err(|e| bad(e.to_string()))?;
        let mut root = parsed.clone();
        root.set_path("/");
        Ok(Self { url, root, prefix, store: Arc::from(store) })
    }

    fn location(&self, relative: &str) -> StorePath {
        relative.split('/').fold(self.prefix.clone(), StorePath::join)
    }

    fn failed(&self, relative: &str, e: &dyn std::fmt::Display) -> TpchError {
        TpchError::Store { url: format!("{}/{relative}", self.url), reason: e.to_string() }
    }

    /// The text of an object, or `None` when there is none.
    async fn read(&self, relative: &str) -> Result<Option<String>, TpchError> {
        match self.store.get(&self.location(relative)).await {
            Ok(found) => {
                let bytes = found.bytes().await.map_err(|e| self.failed(relative, &e))?;
                Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.failed(relative, &e)),
        }
    }

    async fn put(&self, relative: &str, text: &str) -> Result<(), TpchError> {
        let payload = text.as_bytes().to_vec().into();
        self.store.put(&self.location(relative), payload).await.map_err(|e| self.failed(relative, &e))?;
        Ok(())
    }

    async fn delete(&self, relative: &str) -> Result<(), TpchError> {
        match self.store.delete(&self.location(relative)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.failed(relative, &e)),
        }
    }

    /// The path of `file` below the data directory (`lineitem/part-1.parquet`).
    fn relative(file: &DataFile) -> String {
        format!("{}/part-{}.parquet", file.table.name(), file.part)
    }

    /// Every object below the prefix, relative to it.
    async fn existing(&self) -> Result<HashSet<String>, TpchError> {
        let listed: Vec<_> =
            self.store.list(Some(&self.prefix)).try_collect().await.map_err(|e| self.failed("", &e))?;
        Ok(listed
            .into_iter()
            .filter_map(|meta| {
                let parts = meta.location.prefix_match(&self.prefix)?;
                Some(parts.map(|p| p.as_ref().to_owned()).collect::<Vec<_>>().join("/"))
            })
            .collect())
    }

    /// Writes the files that are missing, with this module's marker rules
    /// around them.
    pub(crate) fn generate(
        &self,
        options: &GenOptions,
        wanted: &str,
        progress: &(dyn Fn(Progress) + Sync),
    ) -> Result<Vec<(DataFile, FileOutcome)>, TpchError> {
        let runtime = runtime(&self.url)?;
        let (kept, pending) = runtime.block_on(self.prepare(options, wanted))?;
        let (sf, parts) = (options.scale_factor, options.parts);
        let outcomes = write_files(kept, pending, options.threads, progress, &|file| {
            self.upload(&runtime, file, sf, parts, progress)
        })?;
        runtime.block_on(async {
            self.put(MARKER, wanted).await?;
            self.delete(PARTIAL_MARKER).await
        })?;
        Ok(outcomes)
    }

    /// Checks the request against the marker found, records it, and sorts
    /// the files into those already there and those to write.
    async fn prepare(
        &self,
        options: &GenOptions,
        wanted: &str,
    ) -> Result<(Vec<DataFile>, Vec<DataFile>), TpchError> {
        let recorded = match self.read(MARKER).await? {
            Some(found) => Some(found),
            None => self.read(PARTIAL_MARKER).await?,
        };
        match recorded {
            Some(found) if found == wanted => {}
            Some(found) => {
                return Err(TpchError::OtherDataset {
                    dir: self.url.clone().into(),
                    found: found.trim().replace('\n', ", "),
                    wanted: wanted.trim().replace('\n', ", "),
                });
            }
            None => self.put(PARTIAL_MARKER, wanted).await?,
        }
        let existing = self.existing().await?;
        let (kept, pending): (Vec<_>, Vec<_>) = files(Path::new(&self.url), options.parts)
            .into_iter()
            .partition(|f| existing.contains(&Self::relative(f)));
        if !pending.is_empty() {
            // A dataset that lost a file is not read until it is whole again.
            self.put(PARTIAL_MARKER, wanted).await?;
            self.delete(MARKER).await?;
        }
        Ok((kept, pending))
    }

    /// Uploads one file; it becomes visible only when the upload completes.
    fn upload(
        &self,
        runtime: &tokio::runtime::Runtime,
        file: &DataFile,
        sf: f64,
        parts: u32,
        progress: &(dyn Fn(Progress) + Sync),
    ) -> Result<usize, TpchError> {
        let relative = Self::relative(file);
        let sink = BufWriter::new(Arc::clone(&self.store), self.location(&relative));
        let batches = file.table.batches(sf, file.part, file.table.parts(parts));
        let parquet = |source| TpchError::Parquet { path: file.path.clone(), source };
        runtime.block_on(async {
            let mut writer = AsyncArrowWriter::try_new(sink, batches.schema(), Some(parquet_properties()))
                .map_err(parquet)?;
            let mut rows = 0;
            for batch in batches {
                let batch: RecordBatch = batch.map_err(|source| TpchError::Arrow {
                    table: file.table.name(),
                    part: file.part,
                    source,
                })?;
                rows += batch.num_rows();
                progress(Progress::Rows { table: file.table, rows: batch.num_rows() });
                writer.write(&batch).await.map_err(parquet)?;
            }
            writer.close().await.map_err(parquet)?;
            Ok(rows)
        })
    }

    /// The dataset's marker text; `NoDataset` while it is missing (also
    /// while a run is writing or was interrupted).
    pub async fn marker(&self) -> Result<String, TpchError> {
        self.read(MARKER).await?.ok_or_else(|| TpchError::NoDataset { dir: self.url.clone().into() })
    }

    /// Makes the store reachable from `ctx` for this directory's URLs.
    pub fn register_on(&self, ctx: &SessionContext) {
        ctx.register_object_store(&self.root, Arc::clone(&self.store));
    }
}

fn runtime(url: &str) -> Result<tokio::runtime::Runtime, TpchError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| TpchError::Store { url: url.to_owned(), reason: format!("no async runtime: {e}") })
}
