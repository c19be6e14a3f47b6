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
use tonic::transport::Endpoint;
use url::Url;

use dfship_core::codec::signing::PayloadKeys;
use dfship_core::error::DfshipError;
use dfship_core::exceptions::Exception;

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

/// Parses worker URLs: each must be `http://host:port` (or https).
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
            Ok(_) => Err(DfshipError::InvalidArgument(format!("worker URL '{w}' must be http://host:port"))),
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
#[derive(Clone, Default)]
pub struct Channels {
    open: Arc<Mutex<HashMap<Url, OpenChannel>>>,
    keys: Option<PayloadKeys>,
}

impl Channels {
    pub fn new(keys: Option<PayloadKeys>) -> Self {
        Self { open: Arc::default(), keys }
    }

    async fn channel(&self, url: &Url) -> Result<BoxCloneSyncChannel> {
        let runtime = tokio::runtime::Handle::try_current().ok().map(|h| h.id());
        if let Some((opened_on, channel)) = self.open.lock().map_err(poisoned)?.get(url)
            && *opened_on == runtime
        {
            return Ok(channel.clone());
        }
        let endpoint = Endpoint::from_shared(url.to_string())
            .map_err(|e| DataFusionError::Configuration(format!("invalid worker URL '{url}': {e}")))?
            .connect_timeout(CONNECT_TIMEOUT)
            .http2_keep_alive_interval(KEEPALIVE_INTERVAL)
            .keep_alive_timeout(KEEPALIVE_TIMEOUT)
            .keep_alive_while_idle(true)
            .tcp_nodelay(true);
        let channel = endpoint.connect().await.map_err(|e| {
            DataFusionError::Execution(
                Exception::WorkerUnavailable
                    .tagged(format_args!("cannot reach the dfship worker at {url}: {e}")),
            )
        })?;
        let channel = match &self.keys {
            Some(keys) => BoxCloneSyncChannel::new(crate::guard::SigningChannel::new(channel, keys.clone())),
            None => BoxCloneSyncChannel::new(channel),
        };
        self.open.lock().map_err(poisoned)?.insert(url.clone(), (runtime, channel.clone()));
        Ok(channel)
    }
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
