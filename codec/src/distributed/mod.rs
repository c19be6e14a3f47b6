//! Query-level distribution on datafusion-distributed.
//!
//! A coordinating session plans a query into stages with the crate's
//! planner and sends each stage's tasks to dfship workers, which run them
//! and stream Arrow batches back. Built-in functions and FFI UDFs travel by
//! name and resolve in each worker's registry, as the crate intends.
//!
//! # Python UDFs
//!
//! The crate composes its own physical codec before any user codec, and a
//! composed datafusion-proto codec stops at the first codec that accepts a
//! function: the crate's accepts every one (by name), so a user codec can
//! never write a Python UDF inline into the plan. Rather than patch the
//! crate, the coordinator sends the query's Python UDFs in a request header
//! ([`bundle`]): dfship frames, signed with the coordinator's key if it has
//! one. The worker's session builder, which runs before the plan is decoded,
//! checks them under the worker's own settings (inlining, keys, limits) and
//! registers them, so the by-name lookup in the plan finds them. A worker
//! with inlining off refuses them; one with a key refuses them unsigned.
//!
//! # Tokens
//!
//! With a token, every request carries `authorization: Bearer <token>`,
//! and a worker refuses any request without it before the request reaches
//! the crate's service. Workers add their token to the requests they make
//! of each other.
//!
//! # Errors across the wire
//!
//! An error crosses from worker to coordinator as text. A worker's refusal
//! starts with `[dfship:<ExceptionName>]` so that the coordinator raises
//! the same typed exception a local decode would.

pub mod bundle;
pub mod coordinator;
pub mod guard;
pub mod worker;

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

use crate::codec::signing::PayloadKeys;

/// How long connecting to a worker may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// A worker that answers no HTTP/2 ping within this long after one is
/// sent is taken as gone, so a query never waits on a dead peer for longer.
pub const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(5);
pub const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(10);

/// The start of a worker's refusal, before the exception's name.
pub const ERROR_TAG: &str = "[dfship:";

/// The header a token travels in.
pub fn auth_header(token: &str) -> Result<(HeaderName, HeaderValue)> {
    let mut value = HeaderValue::try_from(format!("Bearer {token}"))
        .map_err(|_| DataFusionError::Configuration("a worker token must be printable ASCII".into()))?;
    value.set_sensitive(true);
    Ok((AUTHORIZATION, value))
}

/// A channel, with the runtime it was opened on.
type OpenChannel = (Option<tokio::runtime::Id>, BoxCloneSyncChannel);

/// Connections to workers: one channel per URL, made once and reused, with
/// a connect timeout and keep-alive pings so that an unreachable or vanished
/// worker fails a query instead of stalling it. With payload keys, the
/// requests that carry plans are signed ([`guard::SigningChannel`]).
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
            DataFusionError::Execution(format!(
                "{ERROR_TAG}WorkerUnavailableError] cannot reach the dfship worker at {url}: {e}"
            ))
        })?;
        let channel = match &self.keys {
            Some(keys) => BoxCloneSyncChannel::new(guard::SigningChannel::new(channel, keys.clone())),
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
