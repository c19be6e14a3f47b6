//! Object stores: where a scan's `s3://`, `gs://`, `az://` or `https://`
//! URL is read from, on the driver and on every worker.
//!
//! Credentials never travel with work. A plan names a URL; each process
//! resolves it against its own [`StoreRegistry`]: stores registered
//! explicitly (`SessionContext.register_object_store`, a worker's
//! `--object-store URL`), then, for the cloud schemes, a store built from
//! the process's own environment (`AWS_*`, `GOOGLE_*`, `AZURE_*`) when that
//! environment configures the scheme. Anything else is refused with an error
//! that says which option or variable would configure it.
//!
//! Every store a registry hands out is wrapped ([`NamedStore`]) so that its
//! failures say which URL failed, are sorted into the typed exceptions of
//! [`crate::exceptions`] (tagged, so they survive the trip from a worker as
//! text), and never contain a credential the store was configured with.

use std::collections::BTreeSet;
use std::fmt;
use std::ops::Range;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use datafusion::error::DataFusionError;
use datafusion::execution::object_store::{DefaultObjectStoreRegistry, ObjectStoreRegistry};
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use futures::stream::{BoxStream, StreamExt};
use object_store::path::Path;
use object_store::{
    ClientConfigKey, CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta,
    ObjectStore, PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions, RetryConfig,
    UploadPart,
};
use url::Url;

use crate::error::{DfshipError, Result};
use crate::exceptions::Exception;

/// How long a store keeps retrying a failing request by default (the
/// object_store crate's own default is three minutes).
pub const DEFAULT_RETRY_TIMEOUT: Duration = Duration::from_secs(20);
/// How many times a failing request is retried by default.
pub const DEFAULT_MAX_RETRIES: usize = 3;

/// Options dfship reads itself rather than passing them to the store.
const RETRY_TIMEOUT_OPTION: &str = "retry_timeout";
const MAX_RETRIES_OPTION: &str = "max_retries";

/// The kinds of store dfship builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    AmazonS3,
    GoogleCloud,
    MicrosoftAzure,
    Http,
    Local,
}

impl StoreKind {
    /// The kind a URL scheme names, if dfship knows it.
    pub fn from_scheme(scheme: &str) -> Option<Self> {
        Some(match scheme {
            "s3" | "s3a" => Self::AmazonS3,
            "gs" => Self::GoogleCloud,
            "az" | "azure" | "abfs" | "abfss" | "adl" => Self::MicrosoftAzure,
            "http" | "https" => Self::Http,
            "file" => Self::Local,
            _ => return None,
        })
    }

    /// The prefix of the environment variables that configure this kind.
    fn env_prefix(self) -> Option<&'static str> {
        match self {
            Self::AmazonS3 => Some("AWS_"),
            Self::GoogleCloud => Some("GOOGLE_"),
            Self::MicrosoftAzure => Some("AZURE_"),
            Self::Http | Self::Local => None,
        }
    }

    /// What a user sets so that a process can reach `url` of this kind.
    fn how_to_configure(self, url: &str) -> String {
        let register = format!(
            "register a store for it (SessionContext.register_object_store), or start the worker with \
             --object-store {url}"
        );
        match self {
            Self::AmazonS3 => format!(
                "{register}, or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_REGION, \
                 AWS_ENDPOINT_URL for an S3-compatible server) in the process's environment"
            ),
            Self::GoogleCloud => {
                format!("{register}, or set GOOGLE_SERVICE_ACCOUNT (or GOOGLE_SERVICE_ACCOUNT_KEY)")
            }
            Self::MicrosoftAzure => format!(
                "{register}, or set AZURE_STORAGE_ACCOUNT_NAME and AZURE_STORAGE_ACCOUNT_KEY (or another \
                 AZURE_* credential)"
            ),
            Self::Http | Self::Local => register,
        }
    }
}

/// The part of a URL a store is registered under: `scheme://host[:port]`.
pub fn store_key(url: &Url) -> String {
    format!("{}://{}", url.scheme(), &url[url::Position::BeforeHost..url::Position::AfterPort])
}

/// Whether a configuration key holds a credential (its value is never shown).
pub fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    let id = key.ends_with("key_id") || key.ends_with("client_id") || key.ends_with("account_name");
    !id && ["secret", "token", "key", "password", "sas", "credential"].iter().any(|w| key.contains(w))
}

/// Values no error may show: the credentials of every store built here.
/// One set per process ([`Secrets::global`]): a credential is the process's
/// knowledge, whichever session or store met it.
#[derive(Debug, Default, Clone)]
pub struct Secrets(Arc<RwLock<BTreeSet<String>>>);

impl Secrets {
    /// The process's set.
    pub fn global() -> &'static Self {
        static GLOBAL: OnceLock<Secrets> = OnceLock::new();
        GLOBAL.get_or_init(Secrets::default)
    }

    pub fn add(&self, value: &str) {
        // Very short values would blank out ordinary words.
        if value.len() >= 4
            && let Ok(mut set) = self.0.write()
        {
            set.insert(value.to_owned());
        }
    }

    /// `text` with every known secret replaced.
    pub fn scrub(&self, text: &str) -> String {
        let mut out = text.to_owned();
        if let Ok(set) = self.0.read() {
            for secret in set.iter() {
                if out.contains(secret.as_str()) {
                    out = out.replace(secret.as_str(), "<redacted>");
                }
            }
        }
        out
    }

    /// Adds the value of every secret-looking variable under `prefix`.
    pub fn add_env(&self, prefix: &str) {
        for (key, value) in std::env::vars_os() {
            if let (Some(key), Some(value)) = (key.to_str(), value.to_str())
                && key.starts_with(prefix)
                && is_secret_key(key)
            {
                self.add(value);
            }
        }
    }
}

/// The variables whose presence means the environment configures `kind`
/// (others under the same prefix, such as `AWS_CA_BUNDLE` or `AWS_REGION`,
/// only adjust a store that something else configures).
fn configuring_vars(kind: StoreKind) -> &'static [&'static str] {
    match kind {
        StoreKind::AmazonS3 => &[
            "AWS_ACCESS_KEY_ID",
            "AWS_ENDPOINT_URL",
            "AWS_ENDPOINT",
            "AWS_WEB_IDENTITY_TOKEN_FILE",
            "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            "AWS_SKIP_SIGNATURE",
        ],
        StoreKind::GoogleCloud => &[
            "GOOGLE_SERVICE_ACCOUNT",
            "GOOGLE_SERVICE_ACCOUNT_PATH",
            "GOOGLE_SERVICE_ACCOUNT_KEY",
            "GOOGLE_APPLICATION_CREDENTIALS",
        ],
        StoreKind::MicrosoftAzure => &[
            "AZURE_STORAGE_ACCOUNT_NAME",
            "AZURE_STORAGE_ACCOUNT_KEY",
            "AZURE_STORAGE_ACCESS_KEY",
            "AZURE_STORAGE_SAS_KEY",
            "AZURE_STORAGE_TOKEN",
            "AZURE_STORAGE_USE_EMULATOR",
            "AZURE_FEDERATED_TOKEN_FILE",
        ],
        StoreKind::Http | StoreKind::Local => &[],
    }
}

/// Whether the process's environment configures stores of `kind`.
fn env_configures(kind: StoreKind) -> bool {
    configuring_vars(kind).iter().any(|name| std::env::var_os(name).is_some_and(|v| !v.is_empty()))
}

fn invalid(message: String) -> DfshipError {
    DfshipError::InvalidArgument(message)
}

/// The retry bounds from `options` (dfship's own keys), defaults otherwise.
fn retry_config(options: &[(String, String)]) -> Result<RetryConfig> {
    let mut retry = RetryConfig {
        max_retries: DEFAULT_MAX_RETRIES,
        retry_timeout: DEFAULT_RETRY_TIMEOUT,
        ..Default::default()
    };
    for (key, value) in options {
        match key.as_str() {
            RETRY_TIMEOUT_OPTION => {
                retry.retry_timeout = parse_duration(value).ok_or_else(|| {
                    invalid(format!("{RETRY_TIMEOUT_OPTION} must be a duration such as 10s, not {value:?}"))
                })?;
            }
            MAX_RETRIES_OPTION => {
                retry.max_retries = value.parse().map_err(|_| {
                    invalid(format!("{MAX_RETRIES_OPTION} must be a whole number, not {value:?}"))
                })?;
            }
            _ => {}
        }
    }
    Ok(retry)
}

/// `10s`, `500ms`, `2m` or a plain number of seconds.
fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let (number, unit) =
        text.find(|c: char| !c.is_ascii_digit() && c != '.').map_or((text, "s"), |i| text.split_at(i));
    let n: f64 = number.parse().ok()?;
    let seconds = match unit.trim() {
        "ms" => n / 1000.0,
        "s" | "" => n,
        "m" | "min" => n * 60.0,
        _ => return None,
    };
    (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds))
}

/// A store for `url` (`scheme://host`, a path is ignored) built from the
/// process's environment, then `options` (object_store configuration keys
/// such as `endpoint`, `region`, `allow_http`, `connect_timeout`, and
/// dfship's `retry_timeout` and `max_retries`). Secrets met on the way are
/// added to [`Secrets::global`].
pub fn store_from_url(url: &Url, options: &[(String, String)]) -> Result<Arc<dyn ObjectStore>> {
    let secrets = Secrets::global();
    let kind = StoreKind::from_scheme(url.scheme()).ok_or_else(|| {
        invalid(format!("{}: unknown object store scheme {:?}", store_key(url), url.scheme()))
    })?;
    if let Some(prefix) = kind.env_prefix() {
        secrets.add_env(prefix);
    }
    for (key, value) in options {
        if is_secret_key(key) {
            secrets.add(value);
        }
    }
    let retry = retry_config(options)?;
    let own = |key: &str| key == RETRY_TIMEOUT_OPTION || key == MAX_RETRIES_OPTION;
    let unknown =
        |key: &str, e: &dyn fmt::Display| invalid(format!("{}: option {key:?}: {e}", store_key(url)));
    let built =
        |e: object_store::Error| invalid(format!("{}: {}", store_key(url), secrets.scrub(&e.to_string())));
    let store: Arc<dyn ObjectStore> = match kind {
        StoreKind::AmazonS3 => {
            let mut b = object_store::aws::AmazonS3Builder::from_env().with_url(url.as_str());
            for (k, v) in options.iter().filter(|(k, _)| !own(k)) {
                b = b.with_config(k.parse().map_err(|e| unknown(k, &e))?, v);
            }
            Arc::new(b.with_retry(retry).build().map_err(built)?)
        }
        StoreKind::GoogleCloud => {
            let mut b = object_store::gcp::GoogleCloudStorageBuilder::from_env().with_url(url.as_str());
            for (k, v) in options.iter().filter(|(k, _)| !own(k)) {
                b = b.with_config(k.parse().map_err(|e| unknown(k, &e))?, v);
            }
            Arc::new(b.with_retry(retry).build().map_err(built)?)
        }
        StoreKind::MicrosoftAzure => {
            let mut b = object_store::azure::MicrosoftAzureBuilder::from_env().with_url(url.as_str());
            for (k, v) in options.iter().filter(|(k, _)| !own(k)) {
                b = b.with_config(k.parse().map_err(|e| unknown(k, &e))?, v);
            }
            Arc::new(b.with_retry(retry).build().map_err(built)?)
        }
        StoreKind::Http => {
            // A store asked for by an http:// URL may speak plain HTTP.
            let plain = url.scheme() == "http";
            let mut b = object_store::http::HttpBuilder::new().with_url(store_key(url));
            if plain {
                b = b.with_config(ClientConfigKey::AllowHttp, "true");
            }
            for (k, v) in options.iter().filter(|(k, _)| !own(k)) {
                let key: ClientConfigKey = k.parse().map_err(|e| unknown(k, &e))?;
                b = b.with_config(key, v);
            }
            Arc::new(b.with_retry(retry).build().map_err(built)?)
        }
        StoreKind::Local => Arc::new(object_store::local::LocalFileSystem::new()),
    };
    Ok(store)
}

/// Parses a worker's `--object-store` value: a URL whose query string holds
/// options (`s3://bucket?endpoint=http://host:9000&allow_http=true`).
/// Credentials are refused there: a command line is visible to every user of
/// the machine.
pub fn parse_store_spec(spec: &str) -> Result<(Url, Vec<(String, String)>)> {
    let url = Url::parse(spec).map_err(|e| invalid(format!("object store URL {spec:?}: {e}")))?;
    if StoreKind::from_scheme(url.scheme()).is_none() {
        return Err(invalid(format!(
            "object store URL {}: unknown scheme {:?}",
            store_key(&url),
            url.scheme()
        )));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(format!(
            "object store URL {}: credentials do not belong in a URL; set them in the environment",
            store_key(&url)
        )));
    }
    let options: Vec<(String, String)> =
        url.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    if let Some((key, _)) = options.iter().find(|(k, _)| is_secret_key(k)) {
        return Err(invalid(format!(
            "object store URL {}: option {key:?} is a credential; the process list shows command lines, so \
             set it in the environment instead",
            store_key(&url)
        )));
    }
    Ok((url, options))
}

/// Where an object store failure is sorted.
fn classify(err: &object_store::Error) -> Exception {
    use object_store::Error as E;
    match err {
        E::NotFound { .. } => Exception::ObjectStoreNotFound,
        E::PermissionDenied { .. } | E::Unauthenticated { .. } => Exception::ObjectStoreAuth,
        E::UnknownConfigurationKey { .. } => Exception::ObjectStore,
        other => {
            let text = full_text(other).to_ascii_lowercase();
            let unreachable = [
                "error sending request",
                "connection refused",
                "connect error",
                "dns error",
                "timed out",
                "timeout",
                "connection reset",
                "tcp connect",
            ];
            if text.contains("nosuchbucket") || text.contains("404 not found") {
                Exception::ObjectStoreNotFound
            } else if ["signaturedoesnotmatch", "invalidaccesskeyid", "accessdenied", "403 forbidden"]
                .iter()
                .any(|w| text.contains(w))
            {
                Exception::ObjectStoreAuth
            } else if unreachable.iter().any(|w| text.contains(w)) {
                Exception::ObjectStoreUnavailable
            } else {
                Exception::ObjectStore
            }
        }
    }
}

/// An error and all its sources, one line.
fn full_text(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(e) = source {
        let part = e.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = e.source();
    }
    text
}

/// A store failure in dfship's words: tagged with its exception, naming the
/// URL, with no credential in it.
#[derive(Debug)]
pub struct StoreFailure(String);

impl fmt::Display for StoreFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StoreFailure {}

/// A store that says which URL failed and why, in typed, credential-free
/// errors. Errors keep their object_store variant (DataFusion tells a
/// missing file from other failures by it); only the source is replaced.
#[derive(Debug)]
pub struct NamedStore {
    url: String,
    kind: Option<StoreKind>,
    inner: Arc<dyn ObjectStore>,
}

impl fmt::Display for NamedStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.url, self.inner)
    }
}

impl NamedStore {
    pub fn new(url: String, inner: Arc<dyn ObjectStore>) -> Self {
        let kind = url.split("://").next().and_then(StoreKind::from_scheme);
        Self { url, kind, inner }
    }

    fn location(&self, path: Option<&Path>) -> String {
        match path {
            Some(p) if !p.as_ref().is_empty() => format!("{}/{}", self.url, p),
            _ => self.url.clone(),
        }
    }

    fn wrap(&self, path: Option<&Path>, err: object_store::Error) -> object_store::Error {
        wrap_error(&self.location(path), self.kind, Secrets::global(), err)
    }
}

fn wrap_error(
    location: &str,
    kind: Option<StoreKind>,
    secrets: &Secrets,
    err: object_store::Error,
) -> object_store::Error {
    use object_store::Error as E;
    let class = classify(&err);
    // The source alone: the variant's own words are kept outside the tag.
    let detail = secrets.scrub(&std::error::Error::source(&err).map_or_else(|| err.to_string(), full_text));
    let hint = match (class, kind) {
        (Exception::ObjectStoreAuth, Some(StoreKind::AmazonS3)) => {
            " (check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or the store's credentials)"
        }
        (Exception::ObjectStoreAuth, _) => " (check the store's credentials)",
        (Exception::ObjectStoreUnavailable, _) => " (is the endpoint right and reachable?)",
        _ => "",
    };
    let source: Box<dyn std::error::Error + Send + Sync> =
        Box::new(StoreFailure(class.tagged(format_args!("{location}: {detail}{hint}"))));
    match err {
        E::NotFound { path, .. } => E::NotFound { path, source },
        E::AlreadyExists { path, .. } => E::AlreadyExists { path, source },
        E::Precondition { path, .. } => E::Precondition { path, source },
        E::NotModified { path, .. } => E::NotModified { path, source },
        E::PermissionDenied { path, .. } => E::PermissionDenied { path, source },
        E::Unauthenticated { path, .. } => E::Unauthenticated { path, source },
        _ => E::Generic { store: "dfship", source },
    }
}

#[derive(Debug)]
struct NamedUpload {
    location: String,
    kind: Option<StoreKind>,
    secrets: Secrets,
    inner: Box<dyn MultipartUpload>,
}

#[async_trait]
impl MultipartUpload for NamedUpload {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        let (location, kind, secrets) = (self.location.clone(), self.kind, self.secrets.clone());
        let part = self.inner.put_part(data);
        Box::pin(async move { part.await.map_err(|e| wrap_error(&location, kind, &secrets, e)) })
    }

    async fn complete(&mut self) -> object_store::Result<PutResult> {
        self.inner.complete().await.map_err(|e| wrap_error(&self.location, self.kind, &self.secrets, e))
    }

    async fn abort(&mut self) -> object_store::Result<()> {
        self.inner.abort().await.map_err(|e| wrap_error(&self.location, self.kind, &self.secrets, e))
    }
}

#[async_trait]
impl ObjectStore for NamedStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.inner.put_opts(location, payload, opts).await.map_err(|e| self.wrap(Some(location), e))
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        let inner =
            self.inner.put_multipart_opts(location, opts).await.map_err(|e| self.wrap(Some(location), e))?;
        Ok(Box::new(NamedUpload {
            location: self.location(Some(location)),
            kind: self.kind,
            secrets: Secrets::global().clone(),
            inner,
        }))
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> object_store::Result<GetResult> {
        self.inner.get_opts(location, options).await.map_err(|e| self.wrap(Some(location), e))
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> object_store::Result<Vec<Bytes>> {
        self.inner.get_ranges(location, ranges).await.map_err(|e| self.wrap(Some(location), e))
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        let (url, kind, secrets) = (self.url.clone(), self.kind, Secrets::global().clone());
        self.inner
            .delete_stream(locations)
            .map(move |r| r.map_err(|e| wrap_error(&url, kind, &secrets, e)))
            .boxed()
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        let (location, kind, secrets) = (self.location(prefix), self.kind, Secrets::global().clone());
        self.inner.list(prefix).map(move |r| r.map_err(|e| wrap_error(&location, kind, &secrets, e))).boxed()
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        let (location, kind, secrets) = (self.location(prefix), self.kind, Secrets::global().clone());
        self.inner
            .list_with_offset(prefix, offset)
            .map(move |r| r.map_err(|e| wrap_error(&location, kind, &secrets, e)))
            .boxed()
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await.map_err(|e| self.wrap(prefix, e))
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> object_store::Result<()> {
        self.inner.copy_opts(from, to, options).await.map_err(|e| self.wrap(Some(from), e))
    }

    async fn rename_opts(&self, from: &Path, to: &Path, options: RenameOptions) -> object_store::Result<()> {
        self.inner.rename_opts(from, to, options).await.map_err(|e| self.wrap(Some(from), e))
    }
}

/// The object stores of one process or session: explicit registrations
/// first, then stores built from the environment for the cloud schemes it
/// configures. Every store it returns is a [`NamedStore`].
#[derive(Debug)]
pub struct StoreRegistry {
    stores: DefaultObjectStoreRegistry,
    /// Consulted after this registry's own stores (a worker given a
    /// session uses that session's stores).
    fallback: Option<Arc<dyn ObjectStoreRegistry>>,
    /// Whether unregistered cloud URLs may be built from the environment.
    from_env: bool,
}

impl Default for StoreRegistry {
    fn default() -> Self {
        Self::new()
    }
}

impl StoreRegistry {
    /// Local files, plus stores from the process's environment.
    pub fn new() -> Self {
        Self { stores: DefaultObjectStoreRegistry::new(), fallback: None, from_env: true }
    }

    /// Consults `fallback` for URLs this registry has no store of its own for.
    pub fn with_fallback(mut self, fallback: Arc<dyn ObjectStoreRegistry>) -> Self {
        self.fallback = Some(fallback);
        self
    }

    /// Registers a store built from `spec` (see [`parse_store_spec`]).
    pub fn register_spec(&self, spec: &str) -> Result<String> {
        let (url, options) = parse_store_spec(spec)?;
        let store = store_from_url(&url, &options)?;
        self.register_store(&url, store);
        Ok(store_key(&url))
    }

    fn named(url: &Url, store: Arc<dyn ObjectStore>) -> Arc<dyn ObjectStore> {
        Arc::new(NamedStore::new(store_key(url), store))
    }

    fn not_configured(url: &Url) -> DataFusionError {
        let key = store_key(url);
        let message = match StoreKind::from_scheme(url.scheme()) {
            Some(kind) => format!("no object store is configured for {key}: {}", kind.how_to_configure(&key)),
            None => format!(
                "{key}: unknown object store scheme {:?} (dfship reads s3://, gs://, az://, abfss://, http(s):// \
                 and file://)",
                url.scheme()
            ),
        };
        DataFusionError::Execution(Exception::ObjectStoreNotConfigured.tagged(message))
    }
}

impl ObjectStoreRegistry for StoreRegistry {
    fn register_store(&self, url: &Url, store: Arc<dyn ObjectStore>) -> Option<Arc<dyn ObjectStore>> {
        let store = Self::named(url, store);
        self.stores.register_store(url, store)
    }

    fn deregister_store(&self, url: &Url) -> datafusion::error::Result<Arc<dyn ObjectStore>> {
        self.stores.deregister_store(url)
    }

    fn get_store(&self, url: &Url) -> datafusion::error::Result<Arc<dyn ObjectStore>> {
        if let Ok(store) = self.stores.get_store(url) {
            return Ok(store);
        }
        if let Some(fallback) = &self.fallback
            && let Ok(store) = fallback.get_store(url)
        {
            return Ok(store);
        }
        let kind = StoreKind::from_scheme(url.scheme());
        if kind == Some(StoreKind::Local) {
            // Local files need no configuration (and stay readable after a
            // registered local store is forgotten).
            self.register_store(url, Arc::new(object_store::local::LocalFileSystem::new()));
            return self.stores.get_store(url);
        }
        if self.from_env && kind.is_some_and(env_configures) {
            let store = store_from_url(url, &[])
                .map_err(|e| DataFusionError::Execution(Exception::ObjectStore.tagged(e)))?;
            self.register_store(url, store);
            return self.stores.get_store(url);
        }
        Err(Self::not_configured(url))
    }
}

/// `builder` with dfship's object stores ([`StoreRegistry::new`]).
pub fn with_stores(builder: RuntimeEnvBuilder) -> RuntimeEnvBuilder {
    builder.with_object_store_registry(Arc::new(StoreRegistry::new()))
}

/// The runtime of a session with default settings and dfship's object stores.
pub fn default_runtime() -> Arc<RuntimeEnv> {
    // Building the default runtime cannot fail: nothing in it is configured.
    Arc::new(with_stores(RuntimeEnvBuilder::new()).build().unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_keys_are_told_from_identifiers() {
        for secret in [
            "secret_access_key",
            "AWS_SECRET_ACCESS_KEY",
            "session_token",
            "access_key",
            "client_secret",
            "sas_key",
            "bearer_token",
        ] {
            assert!(is_secret_key(secret), "{secret}");
        }
        for plain in [
            "access_key_id",
            "AWS_ACCESS_KEY_ID",
            "endpoint",
            "region",
            "allow_http",
            "client_id",
            "account_name",
        ] {
            assert!(!is_secret_key(plain), "{plain}");
        }
    }

    #[test]
    fn a_spec_carries_options_but_never_credentials() {
        let (url, options) =
            parse_store_spec("s3://bucket?endpoint=http://127.0.0.1:9000&allow_http=true").expect("spec");
        assert_eq!(store_key(&url), "s3://bucket");
        assert_eq!(
            options,
            vec![("endpoint".into(), "http://127.0.0.1:9000".into()), ("allow_http".into(), "true".into())]
        );
        for refused in ["s3://bucket?secret_access_key=x", "s3://id:pw@bucket", "ftp://host/x", "not a url"] {
            assert!(matches!(parse_store_spec(refused), Err(DfshipError::InvalidArgument(_))), "{refused}");
        }
    }

    #[test]
    fn secrets_are_scrubbed_from_text() {
        let secrets = Secrets::default();
        secrets.add("wJalrXUtnFEMIK7MDENG");
        assert_eq!(secrets.scrub("bad key wJalrXUtnFEMIK7MDENG here"), "bad key <redacted> here");
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("10s"), Some(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("2"), Some(Duration::from_secs(2)));
        assert_eq!(parse_duration("soon"), None);
    }

    #[test]
    fn an_unconfigured_scheme_says_what_to_set() {
        let registry = StoreRegistry { from_env: false, ..StoreRegistry::new() };
        let url = Url::parse("s3://bucket/data.parquet").expect("url");
        let err = registry.get_store(&url).expect_err("not configured").to_string();
        assert!(err.contains("[dfship:ObjectStoreNotConfiguredError]"), "{err}");
        assert!(err.contains("s3://bucket") && err.contains("AWS_ACCESS_KEY_ID"), "{err}");
        let file = Url::parse("file:///tmp").expect("url");
        assert!(registry.get_store(&file).is_ok());
    }

    #[test]
    fn failures_are_classified() {
        let not_found = object_store::Error::NotFound { path: "p".into(), source: "gone".into() };
        assert_eq!(classify(&not_found), Exception::ObjectStoreNotFound);
        let denied = object_store::Error::PermissionDenied { path: "p".into(), source: "no".into() };
        assert_eq!(classify(&denied), Exception::ObjectStoreAuth);
        let refused = object_store::Error::Generic {
            store: "S3",
            source: "error sending request: Connection refused".into(),
        };
        assert_eq!(classify(&refused), Exception::ObjectStoreUnavailable);
        let secrets = Secrets::default();
        secrets.add("topsecretvalue");
        let wrapped = wrap_error(
            "s3://b/k",
            Some(StoreKind::AmazonS3),
            &secrets,
            object_store::Error::Generic {
                store: "S3",
                source: "SignatureDoesNotMatch for topsecretvalue".into(),
            },
        );
        let text = full_text(&wrapped);
        assert!(text.contains("[dfship:ObjectStoreAuthError] s3://b/k"), "{text}");
        assert!(!text.contains("topsecretvalue"), "{text}");
    }
}
