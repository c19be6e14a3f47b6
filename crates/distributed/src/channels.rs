//! How workers and the coordinator reach workers: endpoints, timeouts, the
//! token header and the channel cache.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use datafusion::error::{DataFusionError, Result};
use datafusion_distributed::grpc::{BoxCloneSyncChannel, create_worker_client};
use datafusion_distributed::{ChannelResolver, WorkerChannel};
use http::header::AUTHORIZATION;
use http::{HeaderName, HeaderValue};
use tonic::codegen::Service;
use tonic::transport::{Channel, Endpoint};
use url::Url;

use dfship_core::codec::signing::PayloadKeys;
use dfship_core::error::DfshipError;
use dfship_core::exceptions::Exception;

use crate::supervise::LimitResponses;
use crate::tls::{ClientTls, tls_failure};

/// How long connecting to a worker may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// A worker that answers no HTTP/2 ping within this long after one is
/// sent is taken as gone, so a query never waits on a dead peer for longer.
pub const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(5);
pub const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(10);

/// The header a token travels in.
pub fn auth_header(token: &str) -> Result<(HeaderName, HeaderValue)> {
    let mut value = HeaderValue::try_from(format!("Bearer {token}"))
        .map_err(|_| DataFusionError::Configuration("a worker token must be printable ASCII".into()))?;
    value.set_sensitive(true);
    Ok((AUTHORIZATION, value))
}

/// Checks a worker token before any connection uses it: not empty, and
/// printable ASCII (it travels in an HTTP header).
pub fn validate_token(token: Option<&str>) -> std::result::Result<(), DfshipError> {
    match token {
        Some("") => Err(DfshipError::InvalidArgument("a worker token must not be empty".into())),
        Some(t) => auth_header(t).map(drop).map_err(|e| DfshipError::InvalidArgument(e.to_string())),
        None => Ok(()),
    }
}

/// Parses worker URLs: each must be `http://host:port`, or `https://` for
/// a worker serving TLS.
pub fn parse_worker_urls(workers: &[String]) -> std::result::Result<Vec<Url>, DfshipError> {
    if workers.is_empty() {
        return Err(DfshipError::InvalidArgument(
            "a DistributedContext needs at least one worker URL".into(),
        ));
    }
    workers
        .iter()
        .map(|w| match Url::parse(w) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => Ok(url),
            Ok(_) => Err(DfshipError::InvalidArgument(format!(
                "worker URL '{w}' must be http://host:port or https://host:port"
            ))),
            Err(e) => Err(DfshipError::InvalidArgument(format!("worker URL '{w}' is not a URL: {e}"))),
        })
        .collect()
}

/// A channel, with the runtime it was opened on.
type OpenChannel = (Option<tokio::runtime::Id>, BoxCloneSyncChannel);

/// Connections to workers: one channel per URL, made once and reused, with
/// a connect timeout and keep-alive pings so that an unreachable or vanished
/// worker fails a query instead of stalling it. With payload keys, the
/// requests that carry plans are signed ([`crate::guard::SigningChannel`]).
///
/// A channel's connection is driven by tasks on the runtime that opened it,
/// so it is reused only on that runtime: a query that runs on another one (a
/// deep query's own runtime, the runtime made anew after a fork) connects
/// again.
#[derive(Clone)]
pub struct Channels {
    open: Arc<Mutex<HashMap<Url, OpenChannel>>>,
    keys: Option<PayloadKeys>,
    /// What `https://` workers are verified with; without it, they are
    /// refused.
    tls: Option<ClientTls>,
    /// The most one message a worker sends back may declare.
    max_response: usize,
    /// The `authorization` value probes carry (requests to run tasks carry
    /// the session's own headers).
    token: Option<HeaderValue>,
}

/// The most one message from a worker may take unless told otherwise.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 256 << 20;

impl std::fmt::Debug for Channels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Channels").field("tls", &self.tls).finish_non_exhaustive()
    }
}

impl Channels {
    pub fn new(keys: Option<PayloadKeys>, tls: Option<ClientTls>) -> Self {
        Self { open: Arc::default(), keys, tls, max_response: DEFAULT_MAX_RESPONSE_BYTES, token: None }
    }

    /// Probes present `token`.
    pub fn with_probe_token(mut self, token: Option<&str>) -> Result<Self> {
        self.token = token.map(auth_header).transpose()?.map(|(_, value)| value);
        Ok(self)
    }

    /// Drops the cached channel to `url`: the next request connects anew.
    pub fn forget(&self, url: &Url) {
        if let Ok(mut open) = self.open.lock() {
            open.remove(url);
        }
    }

    /// Bounds every message a worker sends back to `bytes`.
    pub fn with_max_response(mut self, bytes: usize) -> Self {
        self.max_response = bytes;
        self
    }

    /// An endpoint for `url`, TLS for `https://`, connecting within
    /// `connect_timeout`.
    pub fn endpoint(&self, url: &Url, connect_timeout: Duration) -> Result<Endpoint> {
        let endpoint = Endpoint::from_shared(url.to_string())
            .map_err(|e| DataFusionError::Configuration(format!("invalid worker URL '{url}': {e}")))?
            .connect_timeout(connect_timeout)
            .http2_keep_alive_interval(KEEPALIVE_INTERVAL)
            .keep_alive_timeout(KEEPALIVE_TIMEOUT)
            .keep_alive_while_idle(true)
            .tcp_nodelay(true);
        if url.scheme() != "https" {
            return Ok(endpoint);
        }
        let Some(tls) = &self.tls else {
            return Err(DataFusionError::Execution(Exception::WorkerAuth.tagged(format_args!(
                "the dfship worker at {url} serves TLS, and this process has no TLS settings to \
                 verify it with (tls= on the context, --tls-ca on a worker)"
            ))));
        };
        endpoint.tls_config(tls.config()).map_err(|e| {
            DataFusionError::Execution(
                Exception::WorkerAuth.tagged(format_args!("the TLS settings for {url} are unusable: {e}")),
            )
        })
    }

    async fn channel(&self, url: &Url) -> Result<BoxCloneSyncChannel> {
        let runtime = tokio::runtime::Handle::try_current().ok().map(|h| h.id());
        if let Some((opened_on, channel)) = self.open.lock().map_err(poisoned)?.get(url)
            && *opened_on == runtime
        {
            return Ok(channel.clone());
        }
        let mut channel =
            self.endpoint(url, CONNECT_TIMEOUT)?.connect().await.map_err(|e| connect_error(url, &e))?;
        if url.scheme() == "https" {
            // A worker that requires a client certificate refuses a missing
            // or unknown one only after the handshake (TLS 1.3), by closing
            // the connection: find out now, while it can be named, rather
            // than as a broken pipe in the middle of a query.
            let answered = tokio::time::timeout(CONNECT_TIMEOUT, ask(&mut channel, None)).await;
            match answered {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => {
                    return Err(DataFusionError::Execution(
                        Exception::WorkerAuth.tagged(refused_after_handshake(url, &e)),
                    ));
                }
                Err(_) => {
                    return Err(DataFusionError::Execution(
                        Exception::WorkerUnavailable
                            .tagged(format_args!("the dfship worker at {url} does not answer")),
                    ));
                }
            }
        }
        let max = self.max_response;
        let channel = match &self.keys {
            Some(keys) => BoxCloneSyncChannel::new(LimitResponses::new(
                crate::guard::SigningChannel::new(channel, keys.clone()),
                max,
            )),
            None => BoxCloneSyncChannel::new(LimitResponses::new(channel, max)),
        };
        self.open.lock().map_err(poisoned)?.insert(url.clone(), (runtime, channel.clone()));
        Ok(channel)
    }
}

/// How long a probed worker has to answer.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// What a probe asks for: a dfship worker answers it with its status
/// ([`crate::guard::STATUS_PATH`]); anything else that answers at the gRPC
/// level (an "unimplemented" status) is there, too.
const PROBE_PATH: &str = crate::guard::STATUS_PATH;

/// What a worker says of itself when probed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkerStatus {
    /// dfship's version on the worker; `None` for a server that is no
    /// dfship worker.
    pub version: Option<String>,
    /// Whether it requires a token.
    pub token_required: bool,
    /// Whether the probe's token (if any) was accepted: the fields below
    /// are told only then.
    pub authorized: bool,
    /// Whether it accepts inline Python UDFs.
    pub inlining: Option<bool>,
    /// How many tasks it runs now.
    pub tasks: Option<usize>,
    /// It is shutting down: it finishes its tasks and takes no new ones.
    pub draining: bool,
}

impl WorkerStatus {
    fn from_headers(headers: &http::HeaderMap) -> Self {
        let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let yes = |name: &str| get(name) == Some("yes");
        Self {
            version: get(crate::guard::STATUS_VERSION).map(str::to_owned),
            token_required: yes(crate::guard::STATUS_TOKEN),
            authorized: yes(crate::guard::STATUS_AUTHORIZED),
            inlining: get(crate::guard::STATUS_INLINING).map(|v| v == "yes"),
            tasks: get(crate::guard::STATUS_TASKS).and_then(|v| v.parse().ok()),
            draining: yes(crate::guard::STATUS_DRAINING),
        }
    }
}

/// What probing a worker found.
pub enum Probe {
    /// It answered at the gRPC level.
    Answers(WorkerStatus),
    /// It accepts no connection, or accepts one and does not answer.
    Lost(String),
    /// It answers, but refuses this process's connections (TLS).
    Refused(String),
}

/// Asks `channel` for the worker's status: `Ok` (with the answer's headers)
/// when any answer comes back.
async fn ask(
    channel: &mut Channel,
    token: Option<&HeaderValue>,
) -> std::result::Result<http::HeaderMap, tonic::transport::Error> {
    let mut request = http::Request::new(tonic::body::Body::empty());
    *request.method_mut() = http::Method::POST;
    *request.uri_mut() = http::Uri::from_static(PROBE_PATH);
    request.headers_mut().insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    if let Some(token) = token {
        request.headers_mut().insert(AUTHORIZATION, token.clone());
    }
    std::future::poll_fn(|cx| channel.poll_ready(cx)).await?;
    channel.call(request).await.map(|response| response.headers().clone())
}

/// Whether `url` answers plaintext with a TLS alert record (content type
/// 21, version 3.x): a TLS server refusing what it cannot parse.
async fn speaks_tls(url: &Url) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Some(address) = url.socket_addrs(|| None).ok().and_then(|a| a.first().copied()) else {
        return false;
    };
    let attempt = async {
        let mut stream = tokio::net::TcpStream::connect(address).await.ok()?;
        stream.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").await.ok()?;
        let mut head = [0u8; 2];
        stream.read_exact(&mut head).await.ok()?;
        Some(head == [0x15, 0x03])
    };
    matches!(tokio::time::timeout(PROBE_TIMEOUT, attempt).await, Ok(Some(true)))
}

fn refused_after_handshake(url: &Url, err: &tonic::transport::Error) -> String {
    match tls_failure(err) {
        Some(tls) => format!("the dfship worker at {url} refused the TLS connection: {tls}"),
        None => format!(
            "the dfship worker at {url} completed the TLS handshake, then closed the connection: it \
             requires a client certificate, and this process presented none or one it does not \
             trust ({err})"
        ),
    }
}

impl Channels {
    /// Asks `url` for an answer on a connection of its own: a connected
    /// socket is not enough (a stopped process's kernel still accepts
    /// connections).
    pub async fn probe(&self, url: &Url) -> Probe {
        let endpoint = match self.endpoint(url, PROBE_TIMEOUT) {
            Ok(endpoint) => endpoint,
            Err(e) => return Probe::Refused(e.to_string()),
        };
        let mut connected = false;
        let token = self.token.clone();
        let attempt = async {
            let mut channel = endpoint.connect().await?;
            connected = true;
            ask(&mut channel, token.as_ref()).await
        };
        match tokio::time::timeout(PROBE_TIMEOUT, attempt).await {
            Ok(Ok(headers)) => Probe::Answers(WorkerStatus::from_headers(&headers)),
            Err(_) => Probe::Lost(format!("{url} (no answer within {} s)", PROBE_TIMEOUT.as_secs())),
            Ok(Err(e)) if !connected => match tls_failure(&e) {
                Some(tls) => Probe::Refused(format!("{url} refused the TLS connection: {tls}")),
                None => Probe::Lost(format!("{url} (does not accept connections)")),
            },
            // Connected, then the connection closed under the request: a
            // worker serving TLS, or one dying (its listening socket can
            // outlive it by a moment). Only the first answers in TLS.
            Ok(Err(e)) if url.scheme() == "http" => {
                if speaks_tls(url).await {
                    Probe::Refused(format!(
                        "{url} answers in TLS, not plaintext HTTP/2: a worker serving TLS is \
                         reached with an https:// URL and TLS settings ({e})"
                    ))
                } else {
                    Probe::Lost(format!("{url} (closed the connection)"))
                }
            }
            Ok(Err(e)) => Probe::Refused(refused_after_handshake(url, &e)),
        }
    }
}

/// Why connecting to `url` failed: a TLS refusal (a certificate either
/// side does not accept) is `WorkerAuthError`, anything else
/// `WorkerUnavailableError`.
pub fn connect_error(url: &Url, err: &tonic::transport::Error) -> DataFusionError {
    let message = match tls_failure(err) {
        Some(tls) => Exception::WorkerAuth
            .tagged(format_args!("the TLS handshake with the dfship worker at {url} failed: {tls}")),
        None => Exception::WorkerUnavailable
            .tagged(format_args!("cannot reach the dfship worker at {url}: {err}")),
    };
    DataFusionError::Execution(message)
}

fn poisoned<T>(_: T) -> DataFusionError {
    DataFusionError::Internal("a worker channel lock was poisoned".into())
}

#[async_trait]
impl ChannelResolver for Channels {
    async fn get_worker_client_for_url(&self, url: &Url) -> Result<Box<dyn WorkerChannel>> {
        self.channel(url).await.map(create_worker_client)
    }
}
