//! The long-lived Python driver process (`harness/driver/driver.py`) behind
//! the matrix, spoken to in JSON lines.
//!
//! One process serves every case of a test binary; it keeps its worker pools
//! (fork, spawn, forkserver × receiver registration) alive between cases.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Mutex;
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::Duration;

use base64::Engine;
use serde_json::{Value as Json, json};

use crate::render::{python_context, python_root, python_udf_source};
use crate::spec::Case;

/// The interpreter that runs the driver: `HARNESS_PYTHON`, else the
/// virtualenv's (`VIRTUAL_ENV`, else the workspace's `.venv`).
pub fn python() -> PathBuf {
    if let Ok(p) = std::env::var("HARNESS_PYTHON") {
        return p.into();
    }
    let venv =
        std::env::var("VIRTUAL_ENV").map_or_else(|_| crate::workspace_root().join(".venv"), PathBuf::from);
    venv.join("bin").join("python")
}

/// Set when a driver hung: the reason, repeated by every later request.
static HUNG: Mutex<Option<String>> = Mutex::new(None);

/// How long one request may take before the driver counts as hung:
/// `HARNESS_DRIVER_TIMEOUT` seconds, default 900. The driver bounds each
/// worker task by `HARNESS_TASK_TIMEOUT` (300 s) and replaces a hung pool, so
/// this only fires when the driver itself is stuck.
fn reply_timeout() -> Duration {
    let secs = std::env::var("HARNESS_DRIVER_TIMEOUT").ok().and_then(|s| s.parse().ok()).unwrap_or(900);
    Duration::from_secs(secs)
}

pub struct Driver {
    child: Child,
    stdin: ChildStdin,
    /// Lines the driver printed, read on a thread so a reply can be awaited
    /// with a time limit.
    replies: Receiver<std::io::Result<String>>,
    /// What the driver said about itself.
    pub hello: Json,
}

impl Driver {
    fn start() -> Self {
        let script = crate::workspace_root().join("harness").join("driver").join("driver.py");
        let mut child = Command::new(python())
            .arg(&script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {} {}: {e}", python().display(), script.display()));
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let (tx, replies) = channel();
        std::thread::spawn(move || {
            for line in stdout.lines() {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut driver = Self { child, stdin, replies, hello: Json::Null };
        driver.hello = driver.request(&json!({"op": "hello"}));
        driver
    }

    /// Sends one request and waits for its reply.
    pub fn request(&mut self, request: &Json) -> Json {
        let mut line = serde_json::to_string(request).expect("json");
        line.push('\n');
        self.stdin
            .write_all(line.as_bytes())
            .and_then(|()| self.stdin.flush())
            .expect("the driver is running");
        let limit = reply_timeout();
        let reply = match self.replies.recv_timeout(limit) {
            Ok(line) => line.expect("read from the driver"),
            Err(RecvTimeoutError::Disconnected) => {
                panic!("the driver exited (status {:?})", self.child.try_wait())
            }
            Err(RecvTimeoutError::Timeout) => {
                let _ = self.child.kill();
                let why = format!(
                    "the driver gave no answer in {}s (HARNESS_DRIVER_TIMEOUT); it was killed. Request: {}",
                    limit.as_secs(),
                    request.get("op").unwrap_or(&Json::Null)
                );
                *HUNG.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(why.clone());
                panic!("{why}")
            }
        };
        let reply: Json = serde_json::from_str(&reply).expect("the driver replies in JSON");
        if let Some(error) = reply.get("error") {
            panic!("the driver failed: {}", error.as_str().unwrap_or_default());
        }
        reply
    }

    /// Runs a case through every crossing; returns the driver's report.
    pub fn run_case(&mut self, case: &Case) -> Json {
        let batch = crate::data::ipc_stream(&crate::data::batch(case));
        let udfs: Vec<Json> = (0..case.udfs.len())
            .map(|i| json!({"var": format!("u{i}"), "source": python_udf_source(case, i)}))
            .collect();
        self.request(&json!({
            "op": "case",
            "batch": base64::engine::general_purpose::STANDARD.encode(batch),
            "udfs": udfs,
            "expr": python_root(case),
            "context": python_context(case),
        }))
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.stdin.write_all(b"{\"op\": \"shutdown\"}\n");
        let _ = self.stdin.flush();
        let _ = self.child.wait();
    }
}

/// Runs `f` with the process's driver, started on first use. (It exits
/// when this process does: its stdin closes.)
pub fn with_driver<R>(f: impl FnOnce(&mut Driver) -> R) -> R {
    static DRIVER: Mutex<Option<Driver>> = Mutex::new(None);
    // Once a driver has hung, every later case fails at once (shrinking would
    // otherwise start and wait for a new driver on each step).
    if let Some(why) = HUNG.lock().unwrap_or_else(std::sync::PoisonError::into_inner).as_ref() {
        panic!("{why} (an earlier case)");
    }
    let mut guard = DRIVER.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    f(guard.get_or_insert_with(Driver::start))
}
