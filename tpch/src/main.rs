//! `dfship-tpch`: generate TPC-H data as parquet, and run the 22 queries on
//! one node.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use dfship_tpch::{FileOutcome, GenOptions, Progress, Table, TpchError};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

#[derive(Parser)]
#[command(name = "dfship-tpch", version, about = "TPC-H data and queries for dfship")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Generate the eight tables as parquet (files already there are kept)
    Gen {
        /// Scale factor: 1 is about 6 million lineitem rows
        #[arg(long)]
        sf: f64,
        /// Directory to write, one folder per table: a path, or a store URL
        /// (s3://bucket/prefix, gs://, az://, file://) whose credentials
        /// come from the store's environment variables
        #[arg(long)]
        out: PathBuf,
        /// Files per table (nation and region are always one)
        #[arg(long, default_value_t = 1)]
        parts: u32,
        /// Files written at once; 0 is one per core
        #[arg(long, default_value_t = 0)]
        threads: usize,
    },
    /// Run the queries on one node and report time and rows per query
    Run {
        /// A directory made by `gen`: a path or a store URL
        #[arg(long)]
        data: PathBuf,
        /// Only this query (1 to 22)
        #[arg(long)]
        query: Option<u32>,
        /// Runs per query; the report gives the fastest and the mean
        #[arg(long, default_value_t = 1)]
        iterations: u32,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Gen { sf, out, parts, threads } => {
            generate(&GenOptions { scale_factor: sf, out, parts, threads })
        }
        Command::Run { data, query, iterations } => run(data, query, iterations.max(1)),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "dfship-tpch: {e}");
            ExitCode::FAILURE
        }
    }
}

fn say(line: &str) {
    let _ = writeln!(std::io::stdout(), "{line}");
}

fn generate(options: &GenOptions) -> Result<(), TpchError> {
    let started = Instant::now();
    let bar = Mutex::new(None::<ProgressBar>);
    let generated = AtomicUsize::new(0);
    let report = |event: Progress| {
        let Ok(mut bar) = bar.lock() else { return };
        match event {
            Progress::Planned { pending, kept } => {
                if kept > 0 {
                    say(&format!("{}: {kept} file(s) already there, kept", options.out.display()));
                }
                if pending > 0 {
                    let b = ProgressBar::with_draw_target(Some(pending as u64), ProgressDrawTarget::stderr());
                    b.set_style(
                        ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} files, {msg}")
                            .unwrap_or_else(|_| ProgressStyle::default_bar())
                            .progress_chars("=> "),
                    );
                    b.set_message("0 rows");
                    *bar = Some(b);
                }
            }
            Progress::Rows { rows, .. } => {
                let total = generated.fetch_add(rows, Ordering::Relaxed) + rows;
                if let Some(b) = bar.as_ref() {
                    b.set_message(format!("{total} rows"));
                }
            }
            Progress::Done { outcome: FileOutcome::Written { .. }, .. } => {
                if let Some(b) = bar.as_ref() {
                    b.inc(1);
                }
            }
            Progress::Done { .. } => {}
        }
    };
    let outcomes = dfship_tpch::generate(options, &report)?;
    if let Ok(Some(b)) = bar.lock().map(|mut b| b.take()) {
        b.finish_and_clear();
    }
    let written: Vec<_> = outcomes
        .iter()
        .filter_map(|(file, outcome)| match outcome {
            FileOutcome::Written { rows } => Some((file.table, *rows)),
            FileOutcome::Kept => None,
        })
        .collect();
    if written.is_empty() {
        say(&format!(
            "{}: TPC-H SF {} complete, nothing to generate",
            options.out.display(),
            options.scale_factor
        ));
        return Ok(());
    }
    for table in Table::ALL {
        let rows: usize = written.iter().filter(|(t, _)| *t == table).map(|(_, r)| r).sum();
        let files = written.iter().filter(|(t, _)| *t == table).count();
        if files > 0 {
            say(&format!("  {:<9} {rows:>12} rows in {files} file(s)", table.name()));
        }
    }
    say(&format!(
        "{}: TPC-H SF {} generated in {:.1} s",
        options.out.display(),
        options.scale_factor,
        started.elapsed().as_secs_f64()
    ));
    Ok(())
}

fn run(data: PathBuf, only: Option<u32>, iterations: u32) -> Result<(), TpchError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|source| TpchError::Io { path: data.clone(), source })?;
    runtime.block_on(async {
        let (sf, parts) = dfship_tpch::dataset(&data).await?;
        let ctx = dfship_tpch::context(&data).await?;
        say(&format!(
            "TPC-H SF {sf} ({parts} part(s) per table) from {}, {iterations} iteration(s)",
            data.display()
        ));
        say(&format!("{:<5} {:>8} {:>12} {:>12}", "query", "rows", "fastest ms", "mean ms"));
        let numbers: Vec<u32> = match only {
            Some(n) => {
                dfship_tpch::query(n)?;
                vec![n]
            }
            None => (1..=22).collect(),
        };
        let mut total = Duration::ZERO;
        for n in numbers {
            let mut times = Vec::new();
            let mut rows = 0;
            for _ in 0..iterations {
                let start = Instant::now();
                let batches = dfship_tpch::run_query(&ctx, n).await?;
                times.push(start.elapsed());
                rows = dfship_tpch::row_count(&batches);
            }
            let fastest = times.iter().min().copied().unwrap_or_default();
            let mean = times.iter().sum::<Duration>() / iterations;
            total += fastest;
            say(&format!(
                "q{n:02}   {rows:>8} {:>12.1} {:>12.1}",
                fastest.as_secs_f64() * 1e3,
                mean.as_secs_f64() * 1e3
            ));
        }
        say(&format!("total {:>8} {:>12.1}", "", total.as_secs_f64() * 1e3));
        Ok(())
    })
}
