//! Requests a token holder could craft, sent as raw gRPC to a running
//! worker: every one that carries a plan must be refused before the
//! crate's service decodes it, and the worker must go on serving.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use dfship_core::codec::WireLimits;
use dfship_core::codec::signing::PayloadKeys;
use dfship_core::session::ShipSettings;
use dfship_distributed::guard::{ENVELOPE_LEVELS, PLAN_METHODS, SIGNATURE_HEADER, signature};
use dfship_distributed::policy::Policy;
use dfship_distributed::worker::{RunningWorker, WorkerSettings};
use dfship_wire::{protobuf_depth, write_varint};
use http::{HeaderValue, Request};
use http_body::{Body as HttpBody, Frame};
use tonic::body::Body;
use tonic::codegen::{Bytes, Service};
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status};

const SET_PLAN: &str = PLAN_METHODS[0];
const EXECUTE_TASK: &str = PLAN_METHODS[1];
const WORKER_INFO: &str = "/worker.WorkerService/GetWorkerInfo";

/// A request body of fixed bytes.
struct Fixed(Option<Bytes>);

impl HttpBody for Fixed {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Poll::Ready(self.0.take().map(|b| Ok(Frame::data(b))))
    }
}

fn worker(keys: Option<PayloadKeys>, limits: WireLimits) -> RunningWorker {
    worker_with(keys, limits, Policy::default())
}

fn worker_with(keys: Option<PayloadKeys>, limits: WireLimits, policy: Policy) -> RunningWorker {
    let settings = WorkerSettings {
        ship: ShipSettings { inlining: true, limits: WireLimits { keys, ..limits } },
        token: None,
        functions: None,
        stores: std::sync::Arc::default(),
        tls: None,
        client_tls: None,
        limits: dfship_distributed::worker::WorkerLimits::default(),
        policy,
    };
    RunningWorker::start("127.0.0.1", 0, 2, settings).expect("worker starts")
}

/// One gRPC message: the uncompressed flag, its length, its bytes.
fn grpc(message: &[u8]) -> Vec<u8> {
    let mut out = vec![0];
    out.extend_from_slice(&u32::try_from(message.len()).expect("small").to_be_bytes());
    out.extend_from_slice(message);
    out
}

fn field(out: &mut Vec<u8>, number: u64, bytes: &[u8]) {
    write_varint(out, number << 3 | 2);
    write_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// A coordinator stream's first message: a `SetPlanRequest` for a task of
/// its own, whose plan is `plan`.
fn set_plan(plan: &[u8]) -> Vec<u8> {
    set_plan_for(&next_task(), plan)
}

/// A task key of its own: the worker keeps one entry per task.
fn next_task() -> Vec<u8> {
    static TASKS: AtomicU64 = AtomicU64::new(1);
    let mut query_id = [0; 16];
    query_id[..8].copy_from_slice(&TASKS.fetch_add(1, Ordering::Relaxed).to_le_bytes());
    let mut task_key = Vec::new();
    field(&mut task_key, 1, &query_id);
    task_key
}

fn set_plan_for(task_key: &[u8], plan: &[u8]) -> Vec<u8> {
    let mut request = Vec::new();
    field(&mut request, 1, task_key);
    field(&mut request, 3, plan);
    field(&mut request, 5, b"http://127.0.0.1:1");
    let mut message = Vec::new();
    field(&mut message, 1, &request);
    message
}

/// A valid plan: `n` `CoalescePartitionsExec` nodes over an empty scan,
/// two protobuf levels per node. The crate decodes and builds it
/// recursively, a node at a time. Written backwards, innermost first, so
/// that each level costs only its own bytes.
fn merge_chain(n: usize) -> Vec<u8> {
    // Wraps the (reversed) message so far in a length-delimited field.
    let wrap = |reversed: &mut Vec<u8>, number: u64| {
        let mut head = Vec::new();
        write_varint(&mut head, number << 3 | 2);
        write_varint(&mut head, reversed.len() as u64);
        reversed.extend(head.iter().rev());
    };
    let mut reversed = Vec::new();
    wrap(&mut reversed, 1); // the empty scan's (empty) schema
    wrap(&mut reversed, 3); // EmptyExec
    for _ in 0..n {
        wrap(&mut reversed, 1); // the input
        wrap(&mut reversed, 13); // CoalescePartitionsExec
    }
    reversed.reverse();
    reversed
}

/// A plan of `levels` nested groups in a field no plan node has: prost
/// skips an unknown group by recursion, once per level.
fn nested_groups(levels: usize) -> Vec<u8> {
    let (mut start, mut end) = (Vec::new(), Vec::new());
    write_varint(&mut start, 5000 << 3 | 3);
    write_varint(&mut end, 5000 << 3 | 4);
    let mut out = start.repeat(levels);
    out.extend(end.repeat(levels));
    out
}

/// Sends `body` to `path` and returns the gRPC status the worker answered.
async fn send(channel: &mut Channel, path: &str, body: Vec<u8>, signed: Option<HeaderValue>) -> Status {
    let mut request = Request::post(path)
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(Body::new(Fixed(Some(Bytes::from(body)))))
        .expect("request");
    if let Some(tag) = signed {
        request.headers_mut().insert(SIGNATURE_HEADER, tag);
    }
    std::future::poll_fn(|cx| channel.poll_ready(cx)).await.expect("ready");
    let response = channel.call(request).await.expect("the worker answers");
    if let Some(status) = Status::from_header_map(response.headers()) {
        return status;
    }
    let mut body = response.into_body();
    while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
        match frame {
            Ok(frame) => {
                if let Some(status) = frame.trailers_ref().and_then(Status::from_header_map) {
                    return status;
                }
            }
            Err(status) => return status,
        }
    }
    Status::ok("")
}

/// Runs a test's requests on a client runtime of their own (the worker
/// has its own).
fn client(requests: impl Future<Output = ()>) {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime").block_on(requests);
}

async fn connect(worker: &RunningWorker) -> Channel {
    Endpoint::from_shared(worker.url().to_owned()).expect("url").connect().await.expect("connects")
}

/// The worker still answers a request without a plan.
async fn still_serving(channel: &mut Channel) {
    let status = send(channel, WORKER_INFO, grpc(&[]), None).await;
    assert_eq!(status.code(), Code::Ok, "{status:?}");
}

/// What a refusal says: a worker fails a refused task's coordinator stream
/// through datafusion-distributed, which carries the error in the details.
fn text(status: &Status) -> String {
    match status.message() {
        "DataFusionError" => String::from_utf8_lossy(status.details()).into_owned(),
        message => message.to_owned(),
    }
}

fn refused(status: &Status, code: Code, exception: &str, words: &str) {
    assert!(status.code() == code || status.code() == Code::Internal, "{status:?}");
    let message = text(status);
    assert!(message.contains(&format!("[dfship:{exception}] the dfship worker at")), "{message}");
    assert!(message.contains("refused the query plan"), "{message}");
    assert!(message.contains(words), "{message}");
}

fn keys(key: &[u8], previous: &[&[u8]]) -> PayloadKeys {
    PayloadKeys::new(key, previous).expect("key")
}

#[test]
fn a_plan_nested_past_the_limit_is_refused_before_decoding() {
    let mut w = worker(None, WireLimits::default());
    client(async {
        let mut channel = connect(&w).await;
        // A million levels: the crate's decoder would overflow any stack.
        let deadly = set_plan(&nested_groups(1_000_000));
        let status = send(&mut channel, SET_PLAN, grpc(&deadly), None).await;
        refused(&status, Code::InvalidArgument, "ExpressionTooDeepError", "max_depth");
        assert!(text(&status).contains("1000003 protobuf messages deep"), "{status:?}");
        // The partitioning an ExecuteTask request carries is checked alike.
        let mut execute = Vec::new();
        field(&mut execute, 8, &nested_groups(1_000_000));
        let status = send(&mut channel, EXECUTE_TASK, grpc(&execute), None).await;
        refused(&status, Code::InvalidArgument, "ExpressionTooDeepError", "max_depth");
        // A flat list long enough that folding it into a chain would take
        // more stack than a worker allows.
        let wide: Vec<u8> = std::iter::repeat_n([0x0a, 2, 0x08, 1], 150_000).flatten().collect();
        let status = send(&mut channel, SET_PLAN, grpc(&set_plan(&wide)), None).await;
        refused(&status, Code::InvalidArgument, "ExpressionTooDeepError", "MiB of stack");
        still_serving(&mut channel).await;
    });
    w.stop();
}

#[test]
fn a_plan_as_deep_as_the_limit_is_decoded_and_runs() {
    // The tallest valid plan a worker with raised limits accepts: the
    // crate decodes and builds it recursively, on a stack sized for it.
    let limits = WireLimits { max_depth: 20_000, ..WireLimits::default() };
    let mut w = worker(None, limits.clone());
    client(async {
        let mut channel = connect(&w).await;
        let tallest = set_plan(&merge_chain(limits.max_depth - 1));
        let status = send(&mut channel, SET_PLAN, grpc(&tallest), None).await;
        assert_eq!(status.code(), Code::Ok, "{status:?}");
        // One node more nests within the protobuf bound (two levels a node),
        // and is measured once decoded, before it is registered.
        let taller = set_plan(&merge_chain(limits.max_depth));
        assert!(protobuf_depth(&taller) < Some(limits.proto_levels()));
        let status = send(&mut channel, SET_PLAN, grpc(&taller), None).await;
        refused(
            &status,
            Code::Internal,
            "ExpressionTooDeepError",
            "20001 levels deep, over the limit of 20000",
        );
        // Past the protobuf bound, nothing is decoded.
        let most = limits.proto_levels() + ENVELOPE_LEVELS;
        let over = set_plan(&nested_groups(most));
        assert!(protobuf_depth(&over) > Some(most));
        let status = send(&mut channel, SET_PLAN, grpc(&over), None).await;
        refused(&status, Code::InvalidArgument, "ExpressionTooDeepError", "refused before decoding");
        still_serving(&mut channel).await;
    });
    w.stop();
}

#[test]
fn a_refused_task_fails_its_execution_at_once() {
    // Without the refusal recorded for the task, the request that runs it
    // would wait ten seconds for a plan that never comes.
    let mut w = worker(None, WireLimits::default());
    client(async {
        let mut channel = connect(&w).await;
        let task = next_task();
        let deadly = set_plan_for(&task, &nested_groups(1_000_000));
        let status = send(&mut channel, SET_PLAN, grpc(&deadly), None).await;
        refused(&status, Code::InvalidArgument, "ExpressionTooDeepError", "refused before decoding");
        let mut execute = Vec::new();
        field(&mut execute, 1, &task);
        field(&mut execute, 6, &[]); // no producer head
        let started = Instant::now();
        let status = send(&mut channel, EXECUTE_TASK, grpc(&execute), None).await;
        assert!(started.elapsed() < Duration::from_secs(5), "waited {:?}", started.elapsed());
        refused(&status, Code::Internal, "ExpressionTooDeepError", "refused before decoding");
    });
    w.stop();
}

#[test]
fn a_keyed_worker_takes_only_plans_signed_with_its_keys() {
    let mut w = worker(Some(keys(b"new", &[b"old".as_slice()])), WireLimits::default());
    client(async {
        let mut channel = connect(&w).await;
        // Each request is for a task of its own: the worker records one
        // outcome per task.
        let fresh = || set_plan(b"");
        let signed = |k: &PayloadKeys, path: &str, m: &[u8]| Some(signature(k, path, m));

        for k in [keys(b"new", &[]), keys(b"old", &[])] {
            let message = fresh();
            let status = send(&mut channel, SET_PLAN, grpc(&message), signed(&k, SET_PLAN, &message)).await;
            // Past the guard: the crate refuses an empty plan on its own.
            assert!(!text(&status).contains("[dfship:"), "{status:?}");
        }
        let status = send(&mut channel, SET_PLAN, grpc(&fresh()), None).await;
        refused(&status, Code::PermissionDenied, "SignatureError", "not signed");
        let message = fresh();
        let status =
            send(&mut channel, SET_PLAN, grpc(&message), signed(&keys(b"other", &[]), SET_PLAN, &message))
                .await;
        refused(&status, Code::PermissionDenied, "SignatureError", "unknown key");
        // Every byte changed after signing, and a signature made for another
        // method, fail the check.
        for i in 0..fresh().len() {
            let message = fresh();
            let good = signed(&keys(b"new", &[]), SET_PLAN, &message);
            let mut tampered = message.clone();
            tampered[i] ^= 0x01;
            let status = send(&mut channel, SET_PLAN, grpc(&tampered), good).await;
            refused(&status, Code::PermissionDenied, "SignatureError", "does not match");
        }
        let message = fresh();
        let for_execute = signed(&keys(b"new", &[]), EXECUTE_TASK, &message);
        let status = send(&mut channel, SET_PLAN, grpc(&message), for_execute).await;
        refused(&status, Code::PermissionDenied, "SignatureError", "does not match");
        let garbage = Some(HeaderValue::from_static("not a signature"));
        let status = send(&mut channel, SET_PLAN, grpc(&fresh()), garbage).await;
        refused(&status, Code::PermissionDenied, "SignatureError", "does not match");
        // The signature is checked first: a deadly plan without one is never
        // even measured.
        let deadly = set_plan(&nested_groups(1_000_000));
        let status = send(&mut channel, SET_PLAN, grpc(&deadly), None).await;
        refused(&status, Code::PermissionDenied, "SignatureError", "not signed");
        still_serving(&mut channel).await;
    });
    w.stop();
}

#[test]
fn a_worker_without_keys_refuses_signed_plans() {
    let mut w = worker(None, WireLimits::default());
    client(async {
        let mut channel = connect(&w).await;
        let message = set_plan(b"");
        let tag = signature(&keys(b"k", &[]), SET_PLAN, &message);
        let status = send(&mut channel, SET_PLAN, grpc(&message), Some(tag)).await;
        refused(&status, Code::PermissionDenied, "UnsupportedFormatError", "holds no payload key");
    });
    w.stop();
}

#[test]
fn oversized_compressed_and_cut_short_requests_are_refused() {
    let limits = WireLimits { max_payload_bytes: 1024, ..WireLimits::default() };
    let mut w = worker(None, limits);
    client(async {
        let mut channel = connect(&w).await;
        // Only the prefix is sent: the declared length alone is refused.
        let mut declared = vec![0];
        declared.extend_from_slice(&(1u32 << 30).to_be_bytes());
        let status = send(&mut channel, SET_PLAN, declared, None).await;
        refused(&status, Code::ResourceExhausted, "PayloadTooLargeError", "max_payload_bytes");
        let mut compressed = grpc(&set_plan(b""));
        compressed[0] = 1;
        let status = send(&mut channel, SET_PLAN, compressed, None).await;
        refused(&status, Code::InvalidArgument, "CorruptPayloadError", "compressed");
        let mut short = grpc(&set_plan(b"0123456789"));
        short.truncate(short.len() - 3);
        let status = send(&mut channel, EXECUTE_TASK, short, None).await;
        refused(&status, Code::InvalidArgument, "CorruptPayloadError", "ended before");
        let status = send(&mut channel, SET_PLAN, grpc(&[0xff; 7]), None).await;
        refused(&status, Code::InvalidArgument, "CorruptPayloadError", "not a protobuf message");
        still_serving(&mut channel).await;
    });
    w.stop();
}

#[test]
fn every_message_of_every_method_is_measured_before_it_is_decoded() {
    // prost decodes every message without a recursion limit: a deadly one
    // must not reach it in a request without a plan, after a plan request's
    // first message, or as an extra message of a unary call.
    let mut w = worker(None, WireLimits::default());
    client(async {
        let mut channel = connect(&w).await;
        let deadly = nested_groups(1_000_000);
        let status = send(&mut channel, WORKER_INFO, grpc(&deadly), None).await;
        assert!(
            text(&status).contains("[dfship:ExpressionTooDeepError] a message of the request nests"),
            "{status:?}"
        );
        // The crate reads a stream's later messages in a task of its own,
        // and stops at the refused one: the worker survives it.
        let mut stream = grpc(&set_plan(&merge_chain(1)));
        stream.extend(grpc(&deadly));
        send(&mut channel, SET_PLAN, stream, None).await;
        still_serving(&mut channel).await;
        let mut execute = Vec::new();
        field(&mut execute, 1, &next_task());
        field(&mut execute, 6, &[]);
        let mut unary = grpc(&execute);
        unary.extend(grpc(&deadly));
        let status = send(&mut channel, EXECUTE_TASK, unary, None).await;
        assert!(text(&status).contains("over the 64 a message without a plan may"), "{status:?}");
        still_serving(&mut channel).await;
    });
    w.stop();
}

#[test]
fn an_unverified_request_cannot_fail_a_task() {
    // A refusal of a request whose signature did not verify is not recorded
    // for the task it names: the coordinator's own plan for that task is
    // still accepted.
    let keys = keys(b"k", &[]);
    let mut w = worker(Some(keys.clone()), WireLimits::default());
    client(async {
        let mut channel = connect(&w).await;
        let task = next_task();
        let forged = set_plan_for(&task, &nested_groups(10_000));
        let status = send(&mut channel, SET_PLAN, grpc(&forged), None).await;
        refused(&status, Code::PermissionDenied, "SignatureError", "not signed");
        let genuine = set_plan_for(&task, &merge_chain(3));
        let status =
            send(&mut channel, SET_PLAN, grpc(&genuine), Some(signature(&keys, SET_PLAN, &genuine))).await;
        assert_eq!(status.code(), Code::Ok, "{status:?}");
    });
    w.stop();
}

/// The physical plan of `sql` over a Parquet file `t` at `table`, as a
/// coordinator would send it.
async fn physical_plan(sql: &str, table: &std::path::Path) -> Vec<u8> {
    use datafusion::prelude::{ParquetReadOptions, SessionContext};
    let ctx = SessionContext::new();
    let path = table.to_str().expect("utf-8 path");
    ctx.register_parquet("t", path, ParquetReadOptions::default()).await.expect("table");
    let plan = ctx.sql(sql).await.expect("sql").create_physical_plan().await.expect("plan");
    datafusion_proto::bytes::physical_plan_to_bytes(plan).expect("encodes").to_vec()
}

/// A directory of its own with a small Parquet file in it.
fn parquet_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("dfship-policy-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    client(async {
        let ctx = datafusion::prelude::SessionContext::new();
        let file = dir.join("t.parquet");
        ctx.sql("SELECT 1 AS x")
            .await
            .expect("sql")
            .write_parquet(
                file.to_str().expect("utf-8"),
                datafusion::dataframe::DataFrameWriteOptions::default(),
                None,
            )
            .await
            .expect("writes");
    });
    dir
}

fn policy_refusal(status: &Status, words: &str) {
    let message = text(status);
    assert!(message.contains("[dfship:WorkerPolicyError] the dfship worker at"), "{message}");
    assert!(message.contains(words), "{message}");
}

#[test]
fn plans_that_write_are_refused_unless_writes_are_allowed() {
    let data = parquet_dir("writes");
    let out = data.join("out");
    let copy = format!("COPY (SELECT x FROM t) TO '{}' STORED AS PARQUET", out.display());
    let mut closed = worker(None, WireLimits::default());
    let roots = [data.display().to_string()];
    let mut open = worker_with(None, WireLimits::default(), Policy::new(&roots, true).expect("roots"));
    client(async {
        let plan = physical_plan(&copy, &data.join("t.parquet")).await;
        let mut channel = connect(&closed).await;
        let status = send(&mut channel, SET_PLAN, grpc(&set_plan(&plan)), None).await;
        policy_refusal(&status, "without --allow-writes");
        still_serving(&mut channel).await;
        let mut channel = connect(&open).await;
        let status = send(&mut channel, SET_PLAN, grpc(&set_plan(&plan)), None).await;
        assert_eq!(status.code(), Code::Ok, "{status:?}");
        // Allowed to write, but only under its roots.
        let elsewhere = std::env::temp_dir().join("dfship-policy-elsewhere");
        let escape = format!("COPY (SELECT x FROM t) TO '{}' STORED AS PARQUET", elsewhere.display());
        let plan = physical_plan(&escape, &data.join("t.parquet")).await;
        let status = send(&mut channel, SET_PLAN, grpc(&set_plan(&plan)), None).await;
        policy_refusal(&status, "refused to write");
    });
    closed.stop();
    open.stop();
    let _ = std::fs::remove_dir_all(data);
}

#[test]
fn scans_outside_the_data_roots_are_refused_before_they_run() {
    let inside = parquet_dir("inside");
    let outside = parquet_dir("inside-not");
    let roots = [inside.display().to_string()];
    let mut w = worker_with(None, WireLimits::default(), Policy::new(&roots, false).expect("roots"));
    client(async {
        let mut channel = connect(&w).await;
        let plan = physical_plan("SELECT x FROM t", &inside.join("t.parquet")).await;
        let status = send(&mut channel, SET_PLAN, grpc(&set_plan(&plan)), None).await;
        assert_eq!(status.code(), Code::Ok, "{status:?}");
        // A sibling whose name starts with the root's is not under it.
        let plan = physical_plan("SELECT x FROM t", &outside.join("t.parquet")).await;
        let status = send(&mut channel, SET_PLAN, grpc(&set_plan(&plan)), None).await;
        policy_refusal(&status, "refused to read file://");
        policy_refusal(&status, "outside its --data-root");
        still_serving(&mut channel).await;
    });
    w.stop();
    let _ = std::fs::remove_dir_all(inside);
    let _ = std::fs::remove_dir_all(outside);
}
