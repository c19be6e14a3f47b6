//! The requests that carry plans to a worker, checked before the crate's
//! service decodes anything of them.
//!
//! datafusion-distributed decodes the plan of a task itself, in its gRPC
//! handler, and gives a worker's session builder only the headers. So the
//! checks sit in front of the whole service, at the HTTP level, where the
//! request body is still bytes:
//!
//! 1. the token ([`RequestGuard`] refuses a request without it before
//!    reading its body);
//! 2. for the two methods whose message holds a plan or plan expressions
//!    ([`PLAN_METHODS`]), the first gRPC message is read ahead, up to the
//!    worker's payload limit, and
//!    * with payload keys, its signature is verified: a coordinator (or a
//!      worker calling another) with keys signs that message
//!      ([`SigningChannel`]) in the [`SIGNATURE_HEADER`] header, HMAC-SHA256
//!      over a label, the method and the message bytes, so a signature made
//!      for one method or one message fits no other. Without keys, a signed
//!      request is refused: a signature nobody checks proves nothing;
//!    * its protobuf nesting is measured without recursion and refused over
//!      the worker's limit ([`WireLimits::proto_levels`], plus the request's
//!      own envelope), as dfship's own decoders do;
//!    * the rest of the request then runs with a stack sized for that
//!      nesting, because the crate decodes the plan recursively while
//!      handling it.
//!
//! Every other message of every request (the later messages of a
//! coordinator stream, which are work units, and the requests of methods
//! without a plan) reaches the service only whole and measured
//! ([`OTHER_MESSAGE_LEVELS`]): prost decodes each without a recursion
//! limit, on an ordinary stack.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use http::{HeaderMap, HeaderValue, Request, Response};
use http_body::{Body as HttpBody, Frame};
use sha2::{Digest, Sha256};
use tonic::Status;
use tonic::body::Body;
use tonic::codegen::{Bytes, Service};
use tonic::server::NamedService;
use tonic::transport::Channel;

use crate::supervise::{Supervision, TaskSlots};
use dfship_core::codec::bounded::{MAX_UNFOLDED, stack_for};
use dfship_core::codec::signing::PayloadKeys;
use dfship_core::codec::{CodecError, WireLimits};
use dfship_core::exceptions::Exception;
use dfship_wire::{Nesting, protobuf_nesting, read_varint, write_varint};

/// The gRPC methods whose request message holds a plan (`SetPlanRequest`,
/// first on a coordinator stream) or plan expressions (the partitioning of
/// an `ExecuteTaskRequest`).
pub const PLAN_METHODS: [&str; 2] =
    ["/worker.WorkerService/CoordinatorChannel", "/worker.WorkerService/ExecuteTask"];

/// The header that carries a request's signature: the 40-byte tag (key id,
/// then MAC), base64 without padding.
pub const SIGNATURE_HEADER: &str = "x-dfship-signature";

/// Domain separation: a request signature can never pass for a frame's.
const SIGNING_LABEL: &[u8] = b"dfship worker request\0";

/// Protobuf levels a request adds around the plan it carries: the stream
/// message, the request, the plan bytes and the crate's extension nodes.
pub const ENVELOPE_LEVELS: usize = 32;

/// A gRPC message's prefix: a compression flag, then its length (u32 BE).
const PREFIX: usize = 5;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

fn carries_plan(path: &str) -> bool {
    PLAN_METHODS.contains(&path)
}

/// The signature header of a request to `path` whose first message is
/// `message`.
pub fn signature(keys: &PayloadKeys, path: &str, message: &[u8]) -> HeaderValue {
    let tag = keys.tag_parts(&[SIGNING_LABEL, path.as_bytes(), b"\0", message]);
    let mut value =
        HeaderValue::try_from(STANDARD_NO_PAD.encode(tag)).unwrap_or_else(|_| HeaderValue::from_static(""));
    value.set_sensitive(true);
    value
}

/// What reading a request's first gRPC message found.
enum FirstMessage {
    /// Its bytes are `buffered[PREFIX..PREFIX + len]`.
    Read { len: usize },
    /// The body ended (or failed) before the message did.
    Incomplete(Option<BoxError>),
    /// The prefix declares more bytes than allowed.
    TooLarge(usize),
    /// The message is compressed, which dfship peers never do.
    Compressed,
}

/// A request body read up to the end of its first gRPC message, and what
/// remains of it.
struct ReadAhead {
    buffered: Vec<u8>,
    first: FirstMessage,
    rest: Option<Body>,
    trailers: Option<HeaderMap>,
}

impl ReadAhead {
    async fn read(mut body: Body, limit: usize) -> Self {
        let mut buffered = Vec::new();
        let first = loop {
            if let Some(prefix) = buffered.get(..PREFIX) {
                if prefix[0] != 0 {
                    break FirstMessage::Compressed;
                }
                let declared = u32::from_be_bytes([prefix[1], prefix[2], prefix[3], prefix[4]]) as usize;
                if declared > limit {
                    break FirstMessage::TooLarge(declared);
                }
                if buffered.len() >= PREFIX + declared {
                    break FirstMessage::Read { len: declared };
                }
            }
            match std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => buffered.extend_from_slice(&data),
                    Err(frame) => {
                        let trailers = frame.into_trailers().ok();
                        return Self {
                            buffered,
                            first: FirstMessage::Incomplete(None),
                            rest: None,
                            trailers,
                        };
                    }
                },
                Some(Err(e)) => {
                    let error: BoxError = Box::new(e);
                    return Self {
                        buffered,
                        first: FirstMessage::Incomplete(Some(error)),
                        rest: None,
                        trailers: None,
                    };
                }
                None => {
                    return Self {
                        buffered,
                        first: FirstMessage::Incomplete(None),
                        rest: None,
                        trailers: None,
                    };
                }
            }
        };
        Self { buffered, first, rest: Some(body), trailers: None }
    }

    fn message(&self) -> Option<&[u8]> {
        match self.first {
            FirstMessage::Read { len } => Some(&self.buffered[PREFIX..PREFIX + len]),
            _ => None,
        }
    }

    /// The whole body again: what was read, then the rest.
    fn into_replay(self) -> Replay {
        let error = match self.first {
            FirstMessage::Incomplete(error) => error,
            _ => None,
        };
        Replay {
            buffered: Some(Bytes::from(self.buffered)).filter(|b| !b.is_empty()),
            error,
            trailers: self.trailers,
            rest: self.rest,
        }
    }
}

/// Yields the bytes read ahead, then whatever the body had left.
struct Replay {
    buffered: Option<Bytes>,
    error: Option<BoxError>,
    trailers: Option<HeaderMap>,
    rest: Option<Body>,
}

impl Replay {
    /// A body of `bytes` alone.
    fn of(bytes: Vec<u8>) -> Self {
        Self { buffered: Some(Bytes::from(bytes)), error: None, trailers: None, rest: None }
    }
}

impl HttpBody for Replay {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if let Some(data) = self.buffered.take() {
            return Poll::Ready(Some(Ok(Frame::data(data))));
        }
        if let Some(error) = self.error.take() {
            return Poll::Ready(Some(Err(error)));
        }
        if let Some(trailers) = self.trailers.take() {
            return Poll::Ready(Some(Ok(Frame::trailers(trailers))));
        }
        match self.rest.as_mut() {
            Some(rest) => Pin::new(rest).poll_frame(cx).map_err(|e| Box::new(e) as BoxError),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.buffered.is_none()
            && self.error.is_none()
            && self.trailers.is_none()
            && self.rest.as_ref().is_none_or(HttpBody::is_end_stream)
    }
}

/// Protobuf nesting accepted in any other message a worker receives: the
/// later messages of a coordinator stream (work units), and the requests
/// of methods that carry no plan. They are decoded on ordinary stacks.
pub const OTHER_MESSAGE_LEVELS: usize = 64;

/// Stack a plan request may always take to be decoded: nesting and the
/// lists that fold into chains, as [`stack_for`] counts them. Raised
/// limits raise it to what they admit ([`Checks::max_stack`]).
pub const MAX_DECODE_STACK: usize = 2 << 30;

/// A request body whose gRPC messages reach the service only whole and
/// checked: each is held back until complete, and one longer than the
/// payload limit, compressed, not protobuf or nested deeper than
/// [`OTHER_MESSAGE_LEVELS`] fails the body before the service decodes it.
/// The first message of a plan request, checked already, passes as is.
struct Checked<B> {
    inner: B,
    pending: Vec<u8>,
    /// Bytes at the start of `pending` that are whole, checked messages.
    ready: usize,
    /// The next whole message is the plan request's first, already checked.
    first_verified: bool,
    max_len: usize,
    done: bool,
    trailers: Option<HeaderMap>,
}

impl<B> Checked<B> {
    fn new(inner: B, first_verified: bool, max_len: usize) -> Self {
        Self { inner, pending: Vec::new(), ready: 0, first_verified, max_len, done: false, trailers: None }
    }

    /// Checks the whole messages after `ready`.
    fn check(&mut self) -> Result<(), Status> {
        while let Some(prefix) = self.pending.get(self.ready..self.ready + PREFIX) {
            let len = u32::from_be_bytes([prefix[1], prefix[2], prefix[3], prefix[4]]) as usize;
            let refuse = |why: String| Status::invalid_argument(Exception::CorruptPayload.tagged(why));
            if prefix[0] != 0 {
                return Err(refuse("a message of the request is compressed".into()));
            }
            if len > self.max_len {
                return Err(Status::resource_exhausted(Exception::PayloadTooLarge.tagged(format_args!(
                    "a message of {len} bytes is over the worker's max_payload_bytes of {}",
                    self.max_len
                ))));
            }
            let Some(message) = self.pending.get(self.ready + PREFIX..self.ready + PREFIX + len) else {
                return Ok(());
            };
            if !std::mem::take(&mut self.first_verified) {
                match protobuf_nesting(message) {
                    None => return Err(refuse("a message of the request is not a protobuf message".into())),
                    Some(n) if n.levels > OTHER_MESSAGE_LEVELS => {
                        return Err(Status::invalid_argument(Exception::ExpressionTooDeep.tagged(
                            format_args!(
                                "a message of the request nests {} protobuf messages deep, over the \
                                 {OTHER_MESSAGE_LEVELS} a message without a plan may",
                                n.levels
                            ),
                        )));
                    }
                    Some(_) => {}
                }
            }
            self.ready += PREFIX + len;
        }
        Ok(())
    }
}

impl<B> HttpBody for Checked<B>
where
    B: HttpBody<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        loop {
            if let Err(status) = self.check() {
                self.done = true;
                self.pending.clear();
                self.ready = 0;
                return Poll::Ready(Some(Err(Box::new(status))));
            }
            if self.ready > 0 {
                let ready = std::mem::take(&mut self.ready);
                let whole: Vec<u8> = self.pending.drain(..ready).collect();
                return Poll::Ready(Some(Ok(Frame::data(Bytes::from(whole)))));
            }
            if self.done {
                // What is left is no whole message: the service refuses it
                // without decoding anything.
                if !self.pending.is_empty() {
                    let rest = std::mem::take(&mut self.pending);
                    return Poll::Ready(Some(Ok(Frame::data(Bytes::from(rest)))));
                }
                return Poll::Ready(self.trailers.take().map(|t| Ok(Frame::trailers(t))));
            }
            match Pin::new(&mut self.inner).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => self.done = true,
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e.into()))),
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) => self.pending.extend_from_slice(&data),
                    Err(frame) => {
                        self.trailers = frame.into_trailers().ok();
                        self.done = true;
                    }
                },
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done && self.pending.is_empty() && self.trailers.is_none()
    }
}

/// A channel to a worker that signs every request carrying a plan.
#[derive(Clone)]
pub struct SigningChannel {
    inner: Channel,
    keys: PayloadKeys,
}

impl SigningChannel {
    pub fn new(inner: Channel, keys: PayloadKeys) -> Self {
        Self { inner, keys }
    }
}

impl Service<Request<Body>> for SigningChannel {
    type Response = Response<Body>;
    type Error = tonic::transport::Error;
    type Future = BoxFuture<Result<Response<Body>, tonic::transport::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        // The clone that `poll_ready` readied serves this request.
        let fresh = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, fresh);
        if !carries_plan(request.uri().path()) {
            return Box::pin(inner.call(request));
        }
        let keys = self.keys.clone();
        Box::pin(async move {
            let (mut parts, body) = request.into_parts();
            // The message is this process's own encoding: no limit.
            let read = ReadAhead::read(body, usize::MAX).await;
            if let Some(message) = read.message() {
                parts.headers.insert(SIGNATURE_HEADER, signature(&keys, parts.uri.path(), message));
            }
            inner.call(Request::from_parts(parts, Body::new(read.into_replay()))).await
        })
    }
}

/// The path a worker answers with its status, before any token check
/// (see [`Checks::status`]). Under the crate's service name, so that the
/// server routes it to the guard; the crate's own service, without dfship
/// in front, answers it "unimplemented".
pub const STATUS_PATH: &str = "/worker.WorkerService/DfshipStatus";
/// The status headers: dfship's version, whether a token is required,
/// whether the probe's was accepted; then, for an accepted probe only,
/// inlining and the tasks running; and whether the worker is draining.
pub const STATUS_VERSION: &str = "x-dfship-version";
pub const STATUS_TOKEN: &str = "x-dfship-token-required";
pub const STATUS_AUTHORIZED: &str = "x-dfship-authorized";
pub const STATUS_INLINING: &str = "x-dfship-inlining";
pub const STATUS_TASKS: &str = "x-dfship-tasks";
pub const STATUS_DRAINING: &str = "x-dfship-draining";

/// What a worker requires of a request.
pub struct Checks {
    /// SHA-256 of the token every request must carry.
    pub token: Option<[u8; 32]>,
    /// Bounds, and the keys plans must be signed with.
    pub limits: WireLimits,
    /// The worker's own URL, for its refusals.
    pub url: Arc<str>,
    /// The tasks it may run at once.
    pub slots: Option<Arc<TaskSlots>>,
    /// Its responses' timeout and error naming.
    pub supervision: Supervision,
    /// Whether it accepts inline Python UDFs (for its status).
    pub inlining: bool,
    /// Set when it shuts down: new tasks are refused.
    pub draining: Arc<AtomicBool>,
}

/// SHA-256 of a token: compared instead of the token, so that the
/// comparison's time says nothing of it.
pub fn token_digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl Checks {
    fn token(&self, headers: &HeaderMap) -> Result<(), Status> {
        let Some(expected) = &self.token else {
            return Ok(());
        };
        let presented = headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        let Some(presented) = presented else {
            return Err(Status::unauthenticated(
                Exception::WorkerAuth
                    .tagged("this dfship worker requires a token and the request carried none"),
            ));
        };
        let difference = token_digest(presented).iter().zip(expected).fold(0u8, |acc, (a, b)| acc | (a ^ b));
        if difference == 0 {
            Ok(())
        } else {
            Err(Status::unauthenticated(
                Exception::WorkerAuth.tagged("this dfship worker refused the request's token"),
            ))
        }
    }

    /// The refusal of a task when every slot is taken: the plan was
    /// checked, so it may speak for the task.
    fn busy(&self, slots: &TaskSlots) -> Refusal {
        let status = Status::resource_exhausted(Exception::WorkerBusy.tagged(format_args!(
            "the dfship worker at {} runs {} tasks, the most its --max-concurrent-tasks allows: run \
             the query again later or on more workers",
            self.url,
            slots.max()
        )));
        Refusal { status, trusted: true }
    }

    /// The refusal of a task while the worker shuts down.
    fn draining(&self) -> Refusal {
        let status = Status::unavailable(Exception::WorkerUnavailable.tagged(format_args!(
            "the dfship worker at {} is shutting down: it finishes its running tasks and takes no \
             new ones",
            self.url
        )));
        Refusal { status, trusted: true }
    }

    /// The answer to [`STATUS_PATH`]. Anyone reaching the worker learns its
    /// version, whether it requires a token and whether it is draining
    /// (what a load balancer's health check needs); the rest only with
    /// the token.
    fn status(&self, headers: &HeaderMap) -> Response<Body> {
        let authorized = self.token(headers).is_ok();
        let yes_no = |b: bool| HeaderValue::from_static(if b { "yes" } else { "no" });
        let mut response = Status::ok("").into_http::<Body>();
        let out = response.headers_mut();
        out.insert(STATUS_VERSION, HeaderValue::from_static(env!("CARGO_PKG_VERSION")));
        out.insert(STATUS_TOKEN, yes_no(self.token.is_some()));
        out.insert(STATUS_AUTHORIZED, yes_no(authorized));
        out.insert(STATUS_DRAINING, yes_no(self.draining.load(Ordering::Acquire)));
        if authorized {
            out.insert(STATUS_INLINING, yes_no(self.inlining));
            let tasks = self.slots.as_ref().map_or(0, |s| s.in_use());
            out.insert(STATUS_TASKS, HeaderValue::from(tasks));
        }
        response
    }

    /// The deepest protobuf nesting accepted in a plan request.
    pub fn max_levels(&self) -> usize {
        self.limits.proto_levels().saturating_add(ENVELOPE_LEVELS)
    }

    /// The most stack decoding a plan request may take: 2 GiB, or what a
    /// plan as deep as the limits allow, with as many folded levels, takes.
    pub fn max_stack(&self) -> usize {
        let levels = self.max_levels();
        MAX_DECODE_STACK.max(stack_for(Nesting { levels, unfolded: levels }))
    }

    fn refuse(&self, code: tonic::Code, err: &CodecError, hint: &str) -> Status {
        Status::new(
            code,
            err.kind().exception().tagged(format_args!(
                "the dfship worker at {} refused the query plan: {err}{hint}",
                self.url
            )),
        )
    }

    /// Checks a plan request read ahead: its signature, then its nesting.
    /// Returns the nesting, which sizes the stack that handles it.
    fn plan(&self, path: &str, headers: &HeaderMap, read: &ReadAhead) -> Result<Nesting, Refusal> {
        // Until the signature is verified, a refusal must not speak for the
        // task the request names.
        let unverified = |status| Refusal { status, trusted: self.limits.keys.is_none() };
        let message = match read.first {
            FirstMessage::Read { .. } => read.message().unwrap_or_default(),
            FirstMessage::Incomplete(_) => {
                let err = CodecError::Malformed("the request ended before its first message".into());
                return Err(unverified(self.refuse(tonic::Code::InvalidArgument, &err, "")));
            }
            FirstMessage::TooLarge(declared) => {
                let err = CodecError::Wire(dfship_wire::WireError::TooLarge {
                    size: declared as u64,
                    limit: self.limits.max_payload_bytes,
                });
                let hint = "; raise the worker session's max_payload_bytes (SessionContext.with_wire_limits)";
                return Err(unverified(self.refuse(tonic::Code::ResourceExhausted, &err, hint)));
            }
            FirstMessage::Compressed => {
                let err = CodecError::Malformed("the request's message is compressed".into());
                return Err(unverified(self.refuse(tonic::Code::InvalidArgument, &err, "")));
            }
        };
        let tag = headers.get(SIGNATURE_HEADER);
        match &self.limits.keys {
            Some(keys) => {
                let tag = match tag.map(|v| STANDARD_NO_PAD.decode(v.as_bytes())) {
                    None => None,
                    Some(Ok(tag)) => Some(tag),
                    Some(Err(_)) => Some(Vec::new()),
                };
                keys.verify_parts(&[SIGNING_LABEL, path.as_bytes(), b"\0", message], tag.as_deref())
                    .map_err(|e| Refusal {
                        status: self.refuse(tonic::Code::PermissionDenied, &e, ""),
                        trusted: false,
                    })?;
            }
            None if tag.is_some() => {
                return Err(Refusal {
                    status: self.refuse(tonic::Code::PermissionDenied, &CodecError::Unverifiable, ""),
                    trusted: false,
                });
            }
            None => {}
        }
        let Some(nesting) = protobuf_nesting(message) else {
            let err = CodecError::Malformed("the request's message is not a protobuf message".into());
            return Err(Refusal {
                status: self.refuse(tonic::Code::InvalidArgument, &err, ""),
                trusted: true,
            });
        };
        let hint = "; raise the worker session's max_depth (SessionContext.with_wire_limits, given to the \
                    worker as ctx=) if the plan is expected";
        if nesting.levels > self.max_levels() {
            let err = CodecError::NestedTooDeep {
                what: "query plan",
                levels: nesting.levels,
                limit: self.max_levels(),
            };
            return Err(Refusal {
                status: self.refuse(tonic::Code::InvalidArgument, &err, hint),
                trusted: true,
            });
        }
        if nesting.unfolded > MAX_UNFOLDED {
            let err = CodecError::NestedTooDeep {
                what: "query plan's flat lists (which fold into chains as deep as they are long)",
                levels: nesting.unfolded,
                limit: MAX_UNFOLDED,
            };
            return Err(Refusal {
                status: self.refuse(tonic::Code::InvalidArgument, &err, ""),
                trusted: true,
            });
        }
        let stack = stack_for(nesting);
        if stack > self.max_stack() {
            let status = Status::invalid_argument(Exception::ExpressionTooDeep.tagged(format_args!(
                "the dfship worker at {} refused the query plan: decoding it would take {} MiB of stack \
                 (its nesting, and the lists that fold into chains), over the {} MiB a worker allows: \
                 refused before decoding",
                self.url,
                stack >> 20,
                self.max_stack() >> 20
            )));
            return Err(Refusal { status, trusted: true });
        }
        Ok(nesting)
    }
}

/// Why a plan request was refused, and whether the task it names may be
/// failed with it (the request was verified, or no key is required).
struct Refusal {
    status: Status,
    trusted: bool,
}

/// The worker's service behind [`Checks`].
#[derive(Clone)]
pub struct RequestGuard<S> {
    inner: S,
    checks: Arc<Checks>,
}

impl<S> RequestGuard<S> {
    pub fn new(inner: S, checks: Checks) -> Self {
        Self { inner, checks: Arc::new(checks) }
    }
}

impl<S: NamedService> NamedService for RequestGuard<S> {
    const NAME: &'static str = S::NAME;
}

impl<S> Service<Request<Body>> for RequestGuard<S>
where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Response<Body>, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let fresh = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, fresh);
        let checks = Arc::clone(&self.checks);
        Box::pin(async move {
            let mut request = request;
            // Only this guard sets it, on the stand-in below.
            request.headers_mut().remove(REFUSED_HEADER);
            if request.uri().path() == STATUS_PATH {
                return Ok(checks.status(request.headers()));
            }
            if let Err(status) = checks.token(request.headers()) {
                return Ok(status.into_http());
            }
            let max_len = checks.limits.max_payload_bytes;
            if !carries_plan(request.uri().path()) {
                let (parts, body) = request.into_parts();
                let body = Body::new(Checked::new(body, false, max_len));
                let response = inner.call(Request::from_parts(parts, body)).await?;
                return Ok(checks.supervision.apply(response, None));
            }
            let (parts, body) = request.into_parts();
            let read = ReadAhead::read(body, max_len).await;
            let admitted = checks.plan(parts.uri.path(), &parts.headers, &read).and_then(|nesting| {
                // A task is the stream its coordinator opens: it holds a
                // slot until that stream ends.
                let new_task = parts.uri.path() == PLAN_METHODS[0];
                if new_task && checks.draining.load(Ordering::Acquire) {
                    return Err(checks.draining());
                }
                let slot = match (&checks.slots, new_task) {
                    (Some(slots), true) => Some(slots.take().ok_or_else(|| checks.busy(slots))?),
                    _ => None,
                };
                Ok((nesting, slot))
            });
            let (nesting, slot) = match admitted {
                Ok(admitted) => admitted,
                Err(refusal) => {
                    // A refused task's plan never reaches the worker, and the
                    // requests that run the task would wait for it to time
                    // out. So the worker records the refusal for that task
                    // instead, through a stand-in request, and they fail
                    // with it at once: only for a task key from a verified
                    // request (or where no key is required), so that no one
                    // else can fail a task.
                    let key = read.buffered.get(PREFIX..).and_then(task_key);
                    let header = HeaderValue::try_from(refusal.status.message()).ok();
                    let coordinator_stream = parts.uri.path() == PLAN_METHODS[0];
                    let (Some(key), Some(header), true, true) =
                        (key, header, coordinator_stream, refusal.trusted)
                    else {
                        return Ok(refusal.status.into_http());
                    };
                    let mut stand_in_parts = parts;
                    stand_in_parts.headers = HeaderMap::new();
                    stand_in_parts
                        .headers
                        .insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
                    stand_in_parts.headers.insert(REFUSED_HEADER, header);
                    let body = Body::new(Replay::of(stand_in(&key, &checks.url)));
                    return inner.call(Request::from_parts(stand_in_parts, body)).await;
                }
            };
            let body = Body::new(Checked::new(read.into_replay(), true, max_len));
            let handled = Box::pin(inner.call(Request::from_parts(parts, body)));
            let response = OnStack { stack: stack_for(nesting), inner: handled }.await?;
            Ok(checks.supervision.apply(response, slot))
        })
    }
}

/// Set by the guard on the stand-in for a refused task: the worker's
/// session builder fails the task with this message.
pub const REFUSED_HEADER: &str = "x-dfship-refused";

/// The task key of a coordinator stream's first message, from as much of
/// it as was read: the `TaskKey` (field 1) of the `SetPlanRequest` (field
/// 1), which encoders write first. Nothing is decoded recursively, and the
/// key is written anew from the fields it must hold (a 16-byte query id,
/// a stage and a task number), or not at all.
pub fn task_key(message: &[u8]) -> Option<Vec<u8>> {
    let delimited = |bytes: &[u8]| -> Option<(u64, usize, usize)> {
        // (field number, start, end) of a length-delimited first field.
        let (key, used) = read_varint(bytes).ok()?;
        if key & 7 != 2 {
            return None;
        }
        let (len, more) = read_varint(&bytes[used..]).ok()?;
        let start = used + more;
        Some((key >> 3, start, start.checked_add(usize::try_from(len).ok()?)?))
    };
    let (1, start, end) = delimited(message)? else { return None };
    let request = message.get(start..end).unwrap_or(&message[start..]);
    let (1, key_start, key_end) = delimited(request)? else { return None };
    let mut fields = request.get(key_start..key_end)?;
    let (mut query_id, mut numbers) = (None, [0u64; 2]);
    while !fields.is_empty() {
        match read_varint(fields).ok()? {
            (key, _) if key == (1 << 3 | 2) => {
                let (_, start, end) = delimited(fields)?;
                query_id = Some(fields.get(start..end).filter(|id| id.len() == 16)?);
                fields = &fields[end..];
            }
            (key, used) if key == (2 << 3) || key == (3 << 3) => {
                let (value, more) = read_varint(&fields[used..]).ok()?;
                numbers[usize::from(key == (3 << 3))] = value;
                fields = &fields[used + more..];
            }
            _ => return None,
        }
    }
    let mut key = Vec::new();
    write_varint(&mut key, 1 << 3 | 2);
    write_varint(&mut key, 16);
    key.extend_from_slice(query_id?);
    for (number, value) in [(2, numbers[0]), (3, numbers[1])] {
        write_varint(&mut key, number << 3);
        write_varint(&mut key, value);
    }
    Some(key)
}

/// A coordinator stream's first message for the task `key`, with an empty
/// plan, addressed to `url`: the worker never decodes its plan, because
/// the request carries [`REFUSED_HEADER`].
pub fn stand_in(key: &[u8], url: &str) -> Vec<u8> {
    let delimited = |out: &mut Vec<u8>, number: u64, bytes: &[u8]| {
        write_varint(out, number << 3 | 2);
        write_varint(out, bytes.len() as u64);
        out.extend_from_slice(bytes);
    };
    let mut request = Vec::new();
    delimited(&mut request, 1, key);
    write_varint(&mut request, 2 << 3); // task_count: 1
    write_varint(&mut request, 1);
    delimited(&mut request, 5, url.as_bytes());
    let mut message = Vec::new();
    delimited(&mut message, 1, &request);
    let mut framed = vec![0];
    framed.extend_from_slice(&u32::try_from(message.len()).unwrap_or(u32::MAX).to_be_bytes());
    framed.extend_from_slice(&message);
    framed
}

/// Polls a future on a stack of at least `stack` bytes: the crate's
/// handler decodes the plan recursively inside it.
struct OnStack<F> {
    stack: usize,
    inner: F,
}

impl<F: Future + Unpin> Future for OnStack<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let stack = self.stack;
        stacker::maybe_grow(stack, stack, || Pin::new(&mut self.inner).poll(cx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stand_in_carries_the_task_key_it_was_made_for() {
        let mut key = vec![0x0a, 16];
        key.extend([9; 16]);
        key.extend([0x10, 3, 0x18, 0x81, 0x01]); // stage 3, task 129
        let message = stand_in(&key, "http://127.0.0.1:1");
        assert_eq!(task_key(&message[PREFIX..]).as_deref(), Some(key.as_slice()));
        // A key with a field a task key does not have, a query id of
        // another length, or a cut-short message yields none.
        assert_eq!(task_key(&stand_in(&[key.as_slice(), &[0x22, 0]].concat(), "u")[PREFIX..]), None);
        assert_eq!(task_key(&stand_in(&[0x0a, 2, 1, 2], "u")[PREFIX..]), None);
        assert_eq!(task_key(&message[PREFIX..PREFIX + 10]), None);
    }
}
