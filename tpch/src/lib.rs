//! TPC-H for dfship: the eight tables generated in-process as parquet, and the
//! 22 queries run on a single node.
//!
//! A data directory holds one folder per table (`lineitem/part-1.parquet`, …),
//! so any engine that reads a folder of parquet files reads it, and a marker
//! file, `tpch-dataset.txt`, that records the scale factor and the number of
//! parts. Generation is idempotent: files already there are kept, and a marker
//! that disagrees with the request is an error rather than a silent mix.
//!
//! The query texts live in `tpch/queries/qNN.sql`, shared with the Python
//! package (`python -m dfship_tpch`).

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::record_batch::RecordBatchReader;
use datafusion::error::DataFusionError;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::errors::ParquetError;
use datafusion::parquet::file::properties::WriterProperties;
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use tpchgen::generators::{
    CustomerGenerator, LineItemGenerator, NationGenerator, OrderGenerator, PartGenerator, PartSuppGenerator,
    RegionGenerator, SupplierGenerator,
};
use tpchgen_arrow::{
    CustomerArrow, LineItemArrow, NationArrow, OrderArrow, PartArrow, PartSuppArrow, RegionArrow,
    SupplierArrow,
};

pub mod store;

/// The marker file at the root of a generated data directory.
pub const MARKER: &str = "tpch-dataset.txt";

/// What can go wrong generating or querying.
#[derive(Debug, thiserror::Error)]
pub enum TpchError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("generating {table} part {part}: {source}")]
    Arrow { table: &'static str, part: u32, source: ArrowError },
    #[error("writing {path}: {source}")]
    Parquet { path: PathBuf, source: ParquetError },
    #[error(transparent)]
    Query(#[from] DataFusionError),
    #[error(
        "{dir} already holds TPC-H data generated with {found}; asked for {wanted}: \
         choose another directory or delete it"
    )]
    OtherDataset { dir: PathBuf, found: String, wanted: String },
    #[error("{dir} holds no TPC-H data ({MARKER} is missing): generate it with `dfship-tpch gen`")]
    NoDataset { dir: PathBuf },
    #[error("{url}: {reason}")]
    Store { url: String, reason: String },
    #[error("the scale factor must be a positive number, not {0}")]
    ScaleFactor(f64),
    #[error("the number of parts must be between 1 and 10000, not {0}")]
    Parts(u32),
    #[error("there is no TPC-H query {0}: they are numbered 1 to 22")]
    NoQuery(u32),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> TpchError + '_ {
    move |source| TpchError::Io { path: path.to_path_buf(), source }
}

/// The eight TPC-H tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    Nation,
    Region,
    Part,
    Supplier,
    PartSupp,
    Customer,
    Orders,
    LineItem,
}

impl Table {
    pub const ALL: [Table; 8] = [
        Table::Nation,
        Table::Region,
        Table::Part,
        Table::Supplier,
        Table::PartSupp,
        Table::Customer,
        Table::Orders,
        Table::LineItem,
    ];

    /// The table's SQL name, also its folder in a data directory.
    pub fn name(self) -> &'static str {
        match self {
            Table::Nation => "nation",
            Table::Region => "region",
            Table::Part => "part",
            Table::Supplier => "supplier",
            Table::PartSupp => "partsupp",
            Table::Customer => "customer",
            Table::Orders => "orders",
            Table::LineItem => "lineitem",
        }
    }

    /// Nation and region have a fixed 25 and 5 rows whatever the scale:
    /// they are always one file.
    fn parts(self, requested: u32) -> u32 {
        match self {
            Table::Nation | Table::Region => 1,
            _ => requested,
        }
    }

    fn batches(self, sf: f64, part: u32, parts: u32) -> Box<dyn RecordBatchReader + Send> {
        // `generate` keeps parts within 1..=10,000.
        let narrow = |n: u32| i32::try_from(n).expect("parts are at most 10,000");
        let (part, parts) = (narrow(part), narrow(parts));
        match self {
            Table::Nation => Box::new(NationArrow::new(NationGenerator::new(sf, part, parts))),
            Table::Region => Box::new(RegionArrow::new(RegionGenerator::new(sf, part, parts))),
            Table::Part => Box::new(PartArrow::new(PartGenerator::new(sf, part, parts))),
            Table::Supplier => Box::new(SupplierArrow::new(SupplierGenerator::new(sf, part, parts))),
            Table::PartSupp => Box::new(PartSuppArrow::new(PartSuppGenerator::new(sf, part, parts))),
            Table::Customer => Box::new(CustomerArrow::new(CustomerGenerator::new(sf, part, parts))),
            Table::Orders => Box::new(OrderArrow::new(OrderGenerator::new(sf, part, parts))),
            Table::LineItem => Box::new(LineItemArrow::new(LineItemGenerator::new(sf, part, parts))),
        }
    }
}

/// One file of a data directory.
#[derive(Debug, Clone)]
pub struct DataFile {
    pub table: Table,
    /// 1-based, as the generators number them.
    pub part: u32,
    pub path: PathBuf,
}

/// What `generate` will do or did for one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileOutcome {
    Written { rows: usize },
    Kept,
}

/// Reports from a generation run, in the order they happen on each thread.
#[derive(Debug, Clone)]
pub enum Progress {
    /// The files to write (`pending`) and those already present (`kept`).
    Planned { pending: usize, kept: usize },
    /// Rows appended to a file.
    Rows { table: Table, rows: usize },
    /// A file finished.
    Done { file: DataFile, outcome: FileOutcome },
}

/// The generation request.
#[derive(Debug, Clone)]
pub struct GenOptions {
    pub scale_factor: f64,
    pub out: PathBuf,
    pub parts: u32,
    /// Threads writing files at once; 0 means one per core.
    pub threads: usize,
}

fn marker_text(sf: f64, parts: u32) -> String {
    format!("scale_factor={sf}\nparts={parts}\n")
}

/// The files of a data directory, in generation order (largest tables last
/// in `Table::ALL`, so they are started first by `generate`).
pub fn files(out: &Path, parts: u32) -> Vec<DataFile> {
    Table::ALL
        .iter()
        .flat_map(|&table| {
            let n = table.parts(parts);
            (1..=n).map(move |part| DataFile {
                table,
                part,
                path: out.join(table.name()).join(format!("part-{part}.parquet")),
            })
        })
        .collect()
}

/// Generates the eight tables under `options.out`, keeping files already
/// there. Calls `progress` from the writing threads.
pub fn generate(
    options: &GenOptions,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<Vec<(DataFile, FileOutcome)>, TpchError> {
    let sf = options.scale_factor;
    if !(sf.is_finite() && sf > 0.0) {
        return Err(TpchError::ScaleFactor(sf));
    }
    if !(1..=10_000).contains(&options.parts) {
        return Err(TpchError::Parts(options.parts));
    }
    let wanted = marker_text(sf, options.parts);
    if let Some(url) = store::as_url(&options.out) {
        return store::StoreDir::open(url)?.generate(options, &wanted, progress);
    }
    let out = &options.out;
    fs::create_dir_all(out).map_err(io(out))?;
    let marker = out.join(MARKER);
    match fs::read_to_string(&marker) {
        Ok(found) if found == wanted => {}
        Ok(found) => {
            return Err(TpchError::OtherDataset {
                dir: out.clone(),
                found: found.trim().replace('\n', ", "),
                wanted: wanted.trim().replace('\n', ", "),
            });
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            fs::write(&marker, &wanted).map_err(io(&marker))?;
        }
        Err(e) => return Err(io(&marker)(e)),
    }
    let (kept, pending): (Vec<_>, Vec<_>) =
        files(out, options.parts).into_iter().partition(|f| f.path.exists());
    write_files(kept, pending, options.threads, progress, &|file| {
        write_file(file, sf, options.parts, progress)
    })
}

/// Reports the `kept` files, then writes the `pending` ones with `write`
/// on `threads` threads (0: one per core), largest first; stops at the
/// first failure.
pub(crate) fn write_files(
    kept: Vec<DataFile>,
    mut pending: Vec<DataFile>,
    threads: usize,
    progress: &(dyn Fn(Progress) + Sync),
    write: &(dyn Fn(&DataFile) -> Result<usize, TpchError> + Sync),
) -> Result<Vec<(DataFile, FileOutcome)>, TpchError> {
    progress(Progress::Planned { pending: pending.len(), kept: kept.len() });
    let mut outcomes: Vec<(DataFile, FileOutcome)> =
        kept.into_iter().map(|file| (file, FileOutcome::Kept)).collect();
    for file in &outcomes {
        progress(Progress::Done { file: file.0.clone(), outcome: FileOutcome::Kept });
    }
    // Largest first, so the last thread to finish is not the one that
    // started lineitem last.
    pending.reverse();
    let threads = match threads {
        0 => thread::available_parallelism().map_or(1, usize::from),
        n => n,
    }
    .min(pending.len().max(1));
    let next = AtomicUsize::new(0);
    let written = Mutex::new(Vec::new());
    let failure: Mutex<Option<TpchError>> = Mutex::new(None);
    thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(file) = pending.get(i) else { break };
                    if failure.lock().is_ok_and(|f| f.is_some()) {
                        break;
                    }
                    match write(file) {
                        Ok(rows) => {
                            let outcome = FileOutcome::Written { rows };
                            progress(Progress::Done { file: file.clone(), outcome });
                            if let Ok(mut w) = written.lock() {
                                w.push((file.clone(), outcome));
                            }
                        }
                        Err(e) => {
                            if let Ok(mut f) = failure.lock() {
                                f.get_or_insert(e);
                            }
                            break;
                        }
                    }
                }
            });
        }
    });
    if let Some(e) = failure.into_inner().ok().flatten() {
        return Err(e);
    }
    outcomes.extend(written.into_inner().unwrap_or_default());
    Ok(outcomes)
}

fn parquet_properties() -> WriterProperties {
    WriterProperties::builder().set_compression(Compression::ZSTD(ZstdLevel::default())).build()
}

/// Writes one file under a temporary name and renames it into place, so an
/// interrupted run never leaves a file that a later run would keep.
fn write_file(
    file: &DataFile,
    sf: f64,
    parts: u32,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<usize, TpchError> {
    let dir = file.path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(io(dir))?;
    let partial = file.path.with_extension("parquet.partial");
    let sink = File::create(&partial).map_err(io(&partial))?;
    let props = parquet_properties();
    let batches = file.table.batches(sf, file.part, file.table.parts(parts));
    let parquet = |source| TpchError::Parquet { path: file.path.clone(), source };
    let mut writer = ArrowWriter::try_new(sink, batches.schema(), Some(props)).map_err(parquet)?;
    let mut rows = 0;
    for batch in batches {
        let batch: RecordBatch =
            batch.map_err(|source| TpchError::Arrow { table: file.table.name(), part: file.part, source })?;
        rows += batch.num_rows();
        progress(Progress::Rows { table: file.table, rows: batch.num_rows() });
        writer.write(&batch).map_err(parquet)?;
    }
    writer.close().map_err(parquet)?;
    fs::rename(&partial, &file.path).map_err(io(&file.path))?;
    Ok(rows)
}

/// The scale factor and parts recorded in a data directory (a path or a
/// store URL).
pub async fn dataset(dir: &Path) -> Result<(f64, u32), TpchError> {
    let text = if let Some(url) = store::as_url(dir) {
        store::StoreDir::open(url)?.marker().await?
    } else {
        let marker = dir.join(MARKER);
        fs::read_to_string(&marker).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => TpchError::NoDataset { dir: dir.to_path_buf() },
            _ => io(&marker)(e),
        })?
    };
    let field = |key: &str| {
        text.lines().find_map(|line| line.strip_prefix(key)?.strip_prefix('=')).unwrap_or("").to_string()
    };
    let sf = field("scale_factor").parse().unwrap_or(f64::NAN);
    let parts = field("parts").parse().unwrap_or(0);
    Ok((sf, parts))
}

/// The 22 query texts, numbered 1 to 22.
pub const QUERIES: [&str; 22] = [
    include_str!("../queries/q01.sql"),
    include_str!("../queries/q02.sql"),
    include_str!("../queries/q03.sql"),
    include_str!("../queries/q04.sql"),
    include_str!("../queries/q05.sql"),
    include_str!("../queries/q06.sql"),
    include_str!("../queries/q07.sql"),
    include_str!("../queries/q08.sql"),
    include_str!("../queries/q09.sql"),
    include_str!("../queries/q10.sql"),
    include_str!("../queries/q11.sql"),
    include_str!("../queries/q12.sql"),
    include_str!("../queries/q13.sql"),
    include_str!("../queries/q14.sql"),
    include_str!("../queries/q15.sql"),
    include_str!("../queries/q16.sql"),
    include_str!("../queries/q17.sql"),
    include_str!("../queries/q18.sql"),
    include_str!("../queries/q19.sql"),
    include_str!("../queries/q20.sql"),
    include_str!("../queries/q21.sql"),
    include_str!("../queries/q22.sql"),
];

/// The text of query `n` (1 to 22).
pub fn query(n: u32) -> Result<&'static str, TpchError> {
    QUERIES.get((n as usize).wrapping_sub(1)).copied().ok_or(TpchError::NoQuery(n))
}

/// The statements of a query text: only Q15 has more than one (a view, the
/// query, and the view dropped).
pub fn statements(text: &str) -> Vec<&str> {
    text.split(';')
        .map(str::trim)
        .filter(|s| s.lines().any(|l| !l.trim().is_empty() && !l.trim().starts_with("--")))
        .collect()
}

/// Registers the eight tables of a data directory (a path or a store URL)
/// on `ctx`.
pub async fn register(ctx: &SessionContext, dir: &Path) -> Result<(), TpchError> {
    dataset(dir).await?;
    let url = store::as_url(dir);
    if let Some(url) = url {
        store::StoreDir::open(url)?.register_on(ctx);
    }
    for table in Table::ALL {
        // A URL names a folder only with its trailing slash.
        let folder = if let Some(url) = url {
            format!("{}/{}/", url.trim_end_matches('/'), table.name())
        } else {
            let folder = dir.join(table.name());
            folder.to_str().map(str::to_owned).ok_or_else(|| TpchError::Io {
                path: folder.clone(),
                source: std::io::Error::other("the path is not UTF-8"),
            })?
        };
        ctx.register_parquet(table.name(), &folder, ParquetReadOptions::default()).await?;
    }
    Ok(())
}

/// Runs query `n` and returns the rows of its one row-returning statement.
pub async fn run_query(ctx: &SessionContext, n: u32) -> Result<Vec<RecordBatch>, TpchError> {
    let mut result = Vec::new();
    for statement in statements(query(n)?) {
        let batches = ctx.sql(statement).await?.collect().await?;
        if batches.iter().any(|b| b.num_columns() > 0) && !statement_is_ddl(statement) {
            result = batches;
        }
    }
    Ok(result)
}

fn statement_is_ddl(statement: &str) -> bool {
    let first =
        statement.lines().map(str::trim).find(|l| !l.is_empty() && !l.starts_with("--")).unwrap_or("");
    let word = first.split_whitespace().next().unwrap_or("");
    word.eq_ignore_ascii_case("create") || word.eq_ignore_ascii_case("drop")
}

/// The number of rows in a result.
pub fn row_count(batches: &[RecordBatch]) -> usize {
    batches.iter().map(RecordBatch::num_rows).sum()
}

/// A default session with the tables of `dir` registered.
pub async fn context(dir: &Path) -> Result<Arc<SessionContext>, TpchError> {
    let ctx = Arc::new(SessionContext::new());
    register(&ctx, dir).await?;
    Ok(ctx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_query_has_one_row_returning_statement() {
        for n in 1..=22 {
            let all = statements(query(n).unwrap_or_default());
            let selects = all.iter().filter(|s| !statement_is_ddl(s)).count();
            assert_eq!(selects, 1, "q{n:02}: {all:?}");
            assert_eq!(all.len(), if n == 15 { 3 } else { 1 }, "q{n:02}");
        }
        assert!(matches!(query(0), Err(TpchError::NoQuery(0))));
        assert!(matches!(query(23), Err(TpchError::NoQuery(23))));
    }

    #[test]
    fn nation_and_region_are_one_file_whatever_the_parts() {
        let names: Vec<_> =
            files(Path::new("d"), 3).into_iter().map(|f| f.path.display().to_string()).collect();
        assert_eq!(names.len(), 2 + 6 * 3);
        assert!(names.contains(&"d/nation/part-1.parquet".to_string()));
        assert!(!names.contains(&"d/nation/part-2.parquet".to_string()));
        assert!(names.contains(&"d/lineitem/part-3.parquet".to_string()));
    }
}
