//! Which workers a coordinator's queries run on, and running a query again
//! without the workers that stopped answering.
//!
//! A [`Membership`] holds the configured workers and marks the ones a failed
//! query found gone (a probe gets no answer, or the worker says it is
//! shutting down). Planning and task routing see only the others
//! ([`LiveWorkers`]). A worker marked down is probed again in the background,
//! at most once a second while queries run, and comes back when it answers.
//!
//! [`Membership::run`] runs a query up to `max_attempts` times: an attempt
//! that failed because a worker was unavailable is dropped whole (its
//! partial results with it) and the query is planned again over the workers
//! that answer. Any other error ends the query at once.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use datafusion::error::{DataFusionError, Result};
use datafusion_distributed::WorkerResolver;
use url::Url;

use crate::channels::{Channels, Probe};
use dfship_core::exceptions::{Exception, TAG_PREFIX};

/// How often a worker marked down is probed again, at most.
pub const REPROBE_EVERY: Duration = Duration::from_secs(1);
/// The pause before attempt `n` (n ≥ 2) is `n - 1` times this.
const BACKOFF: Duration = Duration::from_millis(100);

/// The default number of attempts a query gets.
pub const DEFAULT_MAX_ATTEMPTS: usize = 3;

/// One attempt at a query.
#[derive(Debug, Clone)]
pub struct Attempt {
    /// The workers it was planned over.
    pub workers: Vec<String>,
    /// Why it failed; `None` for the attempt that gave the result.
    pub error: Option<String>,
    /// The workers it found gone (marked down because of it).
    pub lost: Vec<String>,
    pub seconds: f64,
}

#[derive(Debug, Default)]
struct Member {
    /// Why it is down, when it is.
    down: Option<String>,
    probing: bool,
    last_probe: Option<Instant>,
}

/// The workers of one coordinating session and which of them answer.
pub struct Membership {
    workers: Vec<Url>,
    members: Mutex<Vec<Member>>,
    channels: Channels,
    max_attempts: usize,
    retry_writes: bool,
    last: Mutex<Vec<Attempt>>,
}

impl std::fmt::Debug for Membership {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Membership")
            .field("workers", &self.workers)
            .field("max_attempts", &self.max_attempts)
            .finish_non_exhaustive()
    }
}

/// Whether an error is about a worker's availability: a worker that does
/// not answer, refuses new tasks while it shuts down or is busy, or a
/// connection that broke. Refusals (auth, policy, limits), a UDF that
/// raised, planning and type errors are not.
pub fn is_availability_error(err: &DataFusionError) -> bool {
    let message = err.to_string();
    match Exception::find_tag(&message) {
        Some(Exception::WorkerUnavailable | Exception::WorkerBusy) => true,
        // Typed, by a worker or this process, as something else.
        Some(_) => false,
        None if message.contains(TAG_PREFIX) => false,
        None => TRANSPORT_FAILURES.iter().any(|m| message.contains(m)),
    }
}

/// How a broken connection reads when it arrives as text (tonic, hyper, h2).
const TRANSPORT_FAILURES: [&str; 8] = [
    "transport error",
    "Connection reset",
    "connection reset",
    "Broken pipe",
    "broken pipe",
    "Connection refused",
    "connection error",
    "stream no longer needed",
];

/// `url` as a user wrote it: without the `/` path `Url` adds.
pub fn display(url: &Url) -> String {
    let text = url.as_str();
    text.strip_suffix('/').filter(|_| url.path() == "/").unwrap_or(text).to_owned()
}

fn availability(message: impl std::fmt::Display) -> DataFusionError {
    DataFusionError::Execution(Exception::WorkerUnavailable.tagged(message))
}

impl Membership {
    pub fn new(workers: Vec<Url>, channels: Channels, max_attempts: usize, retry_writes: bool) -> Arc<Self> {
        let members = workers.iter().map(|_| Member::default()).collect();
        Arc::new(Self {
            workers,
            members: Mutex::new(members),
            channels,
            max_attempts: max_attempts.max(1),
            retry_writes,
            last: Mutex::default(),
        })
    }

    /// Every configured worker, answering or not.
    pub fn workers(&self) -> &[Url] {
        &self.workers
    }

    pub fn max_attempts(&self) -> usize {
        self.max_attempts
    }

    /// How its workers are reached.
    pub fn channels(&self) -> &Channels {
        &self.channels
    }

    /// The membership of the coordinating session whose config this is.
    pub fn of(config: &datafusion::prelude::SessionConfig) -> Option<Arc<Self>> {
        config.get_extension::<Self>()
    }

    /// The workers not marked down (no probing).
    pub fn up(&self) -> Vec<Url> {
        let members = self.members();
        self.workers
            .iter()
            .zip(members.iter())
            .filter(|(_, m)| m.down.is_none())
            .map(|(u, _)| u.clone())
            .collect()
    }

    fn members(&self) -> std::sync::MutexGuard<'_, Vec<Member>> {
        // A panic while holding it leaves nothing half-written: keep going.
        self.members.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The workers not marked down. Starts, in the background, a probe of
    /// each worker marked down that was not probed within [`REPROBE_EVERY`].
    pub fn live(self: &Arc<Self>) -> Vec<Url> {
        let mut due = Vec::new();
        let live = {
            let mut members = self.members();
            let now = Instant::now();
            let mut live = Vec::new();
            for (i, member) in members.iter_mut().enumerate() {
                if member.down.is_none() {
                    live.push(self.workers[i].clone());
                } else if !member.probing && member.last_probe.is_none_or(|t| now - t >= REPROBE_EVERY) {
                    member.probing = true;
                    due.push(i);
                }
            }
            live
        };
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            for i in due {
                let this = Arc::clone(self);
                handle.spawn(async move { this.reprobe(i).await });
            }
        } else if !due.is_empty() {
            // No runtime to probe on: due again next time.
            let mut members = self.members();
            for i in due {
                members[i].probing = false;
            }
        }
        live
    }

    /// Probes worker `i`, marked down, and marks it up when it answers.
    async fn reprobe(&self, i: usize) -> bool {
        let answers = matches!(self.channels.probe(&self.workers[i]).await, Probe::Answers(s) if !s.draining);
        let mut members = self.members();
        let member = &mut members[i];
        member.probing = false;
        member.last_probe = Some(Instant::now());
        if answers {
            member.down = None;
        }
        answers
    }

    /// Marks `url` down, `why`, and forgets its connection.
    pub fn mark_down(&self, url: &Url, why: &str) {
        if let Some(i) = self.workers.iter().position(|w| w == url) {
            let mut members = self.members();
            members[i].down = Some(why.to_owned());
            members[i].last_probe = Some(Instant::now());
        }
        self.channels.forget(url);
    }

    /// Each worker and, when it is marked down, why.
    pub fn states(&self) -> Vec<(String, Option<String>)> {
        let members = self.members();
        self.workers.iter().zip(members.iter()).map(|(url, m)| (display(url), m.down.clone())).collect()
    }

    /// Probes the workers not marked down; marks down the ones that do not
    /// answer or are shutting down. Returns why each was lost, and why each
    /// worker that refuses this process's connections did.
    pub async fn sweep(&self) -> (Vec<String>, Vec<String>) {
        // The workers already marked down cannot be why a query failed.
        let workers = self.up();
        let probes = futures::future::join_all(workers.iter().map(|url| self.channels.probe(url))).await;
        let (mut lost, mut refused) = (Vec::new(), Vec::new());
        for (url, found) in workers.iter().zip(probes) {
            let why = match found {
                Probe::Answers(status) if status.draining => format!("{url} (shutting down)"),
                Probe::Answers(_) => continue,
                Probe::Lost(why) => why,
                Probe::Refused(why) => {
                    refused.push(why);
                    continue;
                }
            };
            self.mark_down(url, &why);
            lost.push(why);
        }
        (lost, refused)
    }

    /// The attempts of the most recent query to finish (run through
    /// [`Membership::run`]).
    pub fn last_attempts(&self) -> Vec<Attempt> {
        self.last.lock().map(|a| a.clone()).unwrap_or_default()
    }

    /// Probes every worker marked down now (not in the background): the
    /// ones that answer are marked up.
    async fn reprobe_all(self: &Arc<Self>) {
        let down: Vec<usize> = {
            let mut members = self.members();
            let down: Vec<usize> = (0..members.len()).filter(|&i| members[i].down.is_some()).collect();
            for &i in &down {
                members[i].probing = true;
            }
            down
        };
        futures::future::join_all(down.into_iter().map(|i| self.reprobe(i))).await;
    }

    /// Runs `query` (one attempt per call) until an attempt succeeds, fails
    /// with an error that is not about availability, or `max_attempts` were
    /// made. `writes`: the query writes, and is run once unless the
    /// session opted in to retrying writes.
    pub async fn run<T, F, Fut>(self: &Arc<Self>, writes: bool, mut query: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let max = if writes && !self.retry_writes { 1 } else { self.max_attempts };
        let mut attempts: Vec<Attempt> = Vec::new();
        let outcome = loop {
            let number = attempts.len() + 1;
            if number > 1 {
                tokio::time::sleep(BACKOFF * u32::try_from(number - 1).unwrap_or(u32::MAX)).await;
            }
            let mut live = self.live();
            if live.is_empty() {
                // Every worker is marked down: some may be back.
                self.reprobe_all().await;
                live = self.live();
            }
            let started = Instant::now();
            let names: Vec<String> = live.iter().map(display).collect();
            let down_before = self.down_set();
            let result = if live.is_empty() { Err(self.none_answers()) } else { query().await };
            if !live.is_empty()
                && result.as_ref().is_err_and(is_availability_error)
                && self.down_set() == down_before
            {
                // Failed before the plan ran (a connection refused while
                // starting it): find out who is gone now.
                self.sweep().await;
            }
            let lost: Vec<String> =
                self.down_set().into_iter().filter(|w| !down_before.contains(w)).collect();
            let seconds = started.elapsed().as_secs_f64();
            match result {
                Ok(value) => {
                    attempts.push(Attempt { workers: names, error: None, lost, seconds });
                    break Ok(value);
                }
                Err(err) => {
                    let retry = is_availability_error(&err) && number < max;
                    attempts.push(Attempt { workers: names, error: Some(err.to_string()), lost, seconds });
                    if !retry {
                        break Err(if number > 1 {
                            // The last error, typed as it was.
                            DataFusionError::Execution(format!(
                                "{err} (each of the query's {number} attempts failed)"
                            ))
                        } else {
                            err
                        });
                    }
                }
            }
        };
        if let Ok(mut last) = self.last.lock() {
            *last = attempts;
        }
        outcome
    }

    fn down_set(&self) -> Vec<String> {
        let members = self.members();
        self.workers
            .iter()
            .zip(members.iter())
            .filter(|(_, m)| m.down.is_some())
            .map(|(u, _)| display(u))
            .collect()
    }

    /// The error when no worker is left: each one and why it is down.
    fn none_answers(&self) -> DataFusionError {
        let members = self.members();
        let why: Vec<String> = self
            .workers
            .iter()
            .zip(members.iter())
            .map(|(u, m)| m.down.clone().unwrap_or_else(|| format!("{} (answers)", display(u))))
            .collect();
        availability(format_args!(
            "none of this session's {} dfship workers answers: {}",
            self.workers.len(),
            why.join(", ")
        ))
    }
}

/// Planning and task routing over the workers of a [`Membership`] that
/// answer.
#[derive(Clone)]
pub struct LiveWorkers(pub Arc<Membership>);

impl WorkerResolver for LiveWorkers {
    fn get_urls(&self) -> Result<Vec<Url>> {
        let live = self.0.live();
        if live.is_empty() {
            return Err(self.0.none_answers());
        }
        Ok(live)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    fn block_on<F: Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime").block_on(future)
    }

    fn closed_port() -> Url {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("address").port();
        drop(listener);
        Url::parse(&format!("http://127.0.0.1:{port}")).expect("url")
    }

    fn membership(retry_writes: bool) -> Arc<Membership> {
        Membership::new(vec![closed_port(), closed_port()], Channels::new(None, None), 3, retry_writes)
    }

    fn unavailable() -> DataFusionError {
        availability("the dfship worker at http://127.0.0.1:9 does not answer")
    }

    #[test]
    fn only_availability_errors_are_retried() {
        assert!(is_availability_error(&unavailable()));
        let busy = DataFusionError::Execution(Exception::WorkerBusy.tagged("busy"));
        assert!(is_availability_error(&busy));
        let reset = DataFusionError::External("h2 protocol error: Connection reset by peer".into());
        assert!(is_availability_error(&reset));
        for other in [
            DataFusionError::Execution(Exception::WorkerAuth.tagged("refused the request's token")),
            DataFusionError::Execution(Exception::QueryTimeout.tagged("transport error after 1 s")),
            DataFusionError::Execution("ValueError: this UDF refuses its input".into()),
            DataFusionError::Plan("no column named x".into()),
        ] {
            assert!(!is_availability_error(&other), "{other}");
        }
    }

    async fn count_runs(
        m: &Arc<Membership>,
        writes: bool,
        err: fn() -> DataFusionError,
    ) -> (usize, Result<()>) {
        let runs = AtomicUsize::new(0);
        let result = m
            .run(writes, || {
                runs.fetch_add(1, Ordering::SeqCst);
                async move { Err::<(), _>(err()) }
            })
            .await;
        (runs.load(Ordering::SeqCst), result)
    }

    #[test]
    fn a_query_error_runs_once() {
        block_on(async {
            let m = membership(false);
            let (runs, result) = count_runs(&m, false, || DataFusionError::Plan("bad".into())).await;
            assert_eq!(runs, 1);
            assert!(result.is_err());
            assert_eq!(m.last_attempts().len(), 1);
            assert!(m.states().iter().all(|(_, down)| down.is_none()), "nothing was lost");
        });
    }

    #[test]
    fn writes_run_once_unless_asked() {
        block_on(async {
            let (runs, _) = count_runs(&membership(false), true, unavailable).await;
            assert_eq!(runs, 1);
            let m = membership(true);
            let (_, result) = count_runs(&m, true, unavailable).await;
            // Retried: the first attempt found both workers gone, the others
            // had none left to run on.
            assert_eq!(m.last_attempts().len(), 3);
            let err = result.expect_err("every worker is gone").to_string();
            assert!(err.contains("none of this session's 2 dfship workers answers"), "{err}");
            assert!(err.contains("[dfship:WorkerUnavailableError]"), "{err}");
        });
    }

    #[test]
    fn lost_workers_are_dropped_from_planning() {
        block_on(async {
            let m = membership(false);
            let (runs, result) = count_runs(&m, false, unavailable).await;
            assert_eq!(runs, 1, "the later attempts had no worker to run on");
            assert!(result.is_err());
            let attempts = m.last_attempts();
            assert_eq!(attempts.len(), 3, "{attempts:?}");
            assert!(attempts[1].workers.is_empty() && attempts[2].workers.is_empty(), "{attempts:?}");
            assert_eq!(attempts[0].lost.len(), 2, "{attempts:?}");
            assert!(m.states().iter().all(|(_, down)| down.is_some()));
            let err = LiveWorkers(Arc::clone(&m)).get_urls().expect_err("none answers").to_string();
            assert!(err.contains("WorkerUnavailableError"), "{err}");
        });
    }
}
