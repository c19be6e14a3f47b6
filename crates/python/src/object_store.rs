//! `dfship.object_store`: stores a session reads `s3://`, `gs://`, `az://`,
//! `http(s)://` and `file://` URLs from. Each class builds its store at once
//! (bad options fail here, not in a query); the handles cannot be pickled,
//! so credentials stay in the process that was given them.

use std::collections::BTreeMap;
use std::sync::Arc;

use object_store::ObjectStore;
use pyo3::prelude::*;
use url::Url;

use dfship_core::error::DfshipError;
use dfship_core::stores::{Secrets, StoreKind, store_from_url};

/// A store, and the host it is registered under when none is given.
#[pyclass(name = "ObjectStore", module = "dfship._internal", subclass, frozen)]
pub struct PyObjectStore {
    pub(crate) store: Arc<dyn ObjectStore>,
    pub(crate) scheme: &'static str,
    pub(crate) host: String,
}

impl PyObjectStore {
    fn build(
        scheme: &'static str,
        host: &str,
        options: Vec<(&str, Option<String>)>,
        client_options: Option<BTreeMap<String, String>>,
    ) -> PyResult<Self> {
        let url = Url::parse(&format!("{scheme}://{host}"))
            .map_err(|e| DfshipError::InvalidArgument(format!("{scheme}://{host}: {e}")))?;
        let mut all: Vec<(String, String)> =
            options.into_iter().filter_map(|(k, v)| v.map(|v| (k.to_owned(), v))).collect();
        all.extend(client_options.unwrap_or_default());
        let store = store_from_url(&url, &all)?;
        Ok(Self { store, scheme, host: host.to_owned() })
    }

    /// The URL the store is registered under for `schema` and `host`
    /// (defaults: the store's own).
    pub(crate) fn url(&self, schema: Option<&str>, host: Option<&str>) -> PyResult<Url> {
        let name = schema.map_or(self.scheme, |s| s.trim_end_matches('/').trim_end_matches(':'));
        if StoreKind::from_scheme(name).is_none() {
            return Err(DfshipError::InvalidArgument(format!(
                "unknown object store scheme {name:?} (s3, gs, az, abfss, http, https, file)"
            ))
            .into());
        }
        let text = format!("{name}://{}", host.unwrap_or(&self.host));
        Url::parse(&text).map_err(|e| DfshipError::InvalidArgument(format!("{text}: {e}")).into())
    }
}

#[pymethods]
impl PyObjectStore {
    /// Refused: a store holds credentials, which stay in the process that
    /// was given them. Workers configure their own stores.
    fn __reduce__(&self) -> PyResult<()> {
        Err(pyo3::exceptions::PyTypeError::new_err(format!(
            "a dfship object store ({}://{}) is not pickled: its credentials stay in this process. \
             Configure each worker's stores itself (--object-store, AWS_* variables, or the ctx given to Worker)",
            self.scheme, self.host
        )))
    }

    fn __repr__(&self) -> String {
        format!("ObjectStore({}://{})", self.scheme, self.host)
    }
}

fn flag(value: bool) -> Option<String> {
    Some(value.to_string())
}

fn maybe_flag(value: Option<bool>) -> Option<String> {
    value.map(|v| v.to_string())
}

/// Amazon S3 or an S3-compatible server. Unset settings come from the
/// process's `AWS_*` environment variables.
#[pyclass(name = "AmazonS3", module = "dfship._internal", extends = PyObjectStore, frozen)]
pub struct PyAmazonS3;

#[pymethods]
impl PyAmazonS3 {
    #[new]
    #[pyo3(signature = (bucket_name, region=None, access_key_id=None, secret_access_key=None, session_token=None, endpoint=None, allow_http=false, imdsv1_fallback=false, *, client_options=None))]
    fn new(
        bucket_name: &str,
        region: Option<String>,
        access_key_id: Option<String>,
        secret_access_key: Option<String>,
        session_token: Option<String>,
        endpoint: Option<String>,
        allow_http: bool,
        imdsv1_fallback: bool,
        client_options: Option<BTreeMap<String, String>>,
    ) -> PyResult<PyClassInitializer<Self>> {
        // Only what the caller set: the environment fills the rest.
        let options = vec![
            ("aws_region", region),
            ("aws_access_key_id", access_key_id),
            ("aws_secret_access_key", secret_access_key),
            ("aws_session_token", session_token),
            ("aws_endpoint", endpoint),
            ("aws_allow_http", allow_http.then(|| flag(true)).flatten()),
            ("aws_imdsv1_fallback", imdsv1_fallback.then(|| flag(true)).flatten()),
        ];
        Ok(PyClassInitializer::from(PyObjectStore::build("s3", bucket_name, options, client_options)?)
            .add_subclass(Self))
    }
}

/// Google Cloud Storage. Unset settings come from `GOOGLE_*` variables.
#[pyclass(name = "GoogleCloud", module = "dfship._internal", extends = PyObjectStore, frozen)]
pub struct PyGoogleCloud;

#[pymethods]
impl PyGoogleCloud {
    #[new]
    #[pyo3(signature = (bucket_name, service_account_path=None, *, client_options=None))]
    fn new(
        bucket_name: &str,
        service_account_path: Option<String>,
        client_options: Option<BTreeMap<String, String>>,
    ) -> PyResult<PyClassInitializer<Self>> {
        let options = vec![("google_service_account", service_account_path)];
        Ok(PyClassInitializer::from(PyObjectStore::build("gs", bucket_name, options, client_options)?)
            .add_subclass(Self))
    }
}

/// Azure Blob Storage (and Data Lake). Unset settings come from `AZURE_*`
/// variables.
#[pyclass(name = "MicrosoftAzure", module = "dfship._internal", extends = PyObjectStore, frozen)]
pub struct PyMicrosoftAzure;

#[pymethods]
impl PyMicrosoftAzure {
    #[new]
    #[pyo3(signature = (container_name, account=None, access_key=None, bearer_token=None, client_id=None, client_secret=None, tenant_id=None, sas_query_pairs=None, use_emulator=None, allow_http=None, use_fabric_endpoint=None, *, client_options=None))]
    fn new(
        container_name: &str,
        account: Option<String>,
        access_key: Option<String>,
        bearer_token: Option<String>,
        client_id: Option<String>,
        client_secret: Option<String>,
        tenant_id: Option<String>,
        sas_query_pairs: Option<Vec<(String, String)>>,
        use_emulator: Option<bool>,
        allow_http: Option<bool>,
        use_fabric_endpoint: Option<bool>,
        client_options: Option<BTreeMap<String, String>>,
    ) -> PyResult<PyClassInitializer<Self>> {
        let sas = sas_query_pairs.map(|pairs| {
            let mut query = url::form_urlencoded::Serializer::new(String::new());
            for (k, v) in &pairs {
                query.append_pair(k, v);
            }
            query.finish()
        });
        if let Some(sas) = &sas {
            Secrets::global().add(sas);
        }
        let options = vec![
            ("azure_storage_account_name", account),
            ("azure_storage_account_key", access_key),
            ("azure_storage_token", bearer_token),
            ("azure_storage_client_id", client_id),
            ("azure_storage_client_secret", client_secret),
            ("azure_storage_tenant_id", tenant_id),
            ("azure_storage_sas_key", sas),
            ("azure_storage_use_emulator", maybe_flag(use_emulator)),
            ("azure_allow_http", maybe_flag(allow_http)),
            ("azure_use_fabric_endpoint", maybe_flag(use_fabric_endpoint)),
        ];
        Ok(PyClassInitializer::from(PyObjectStore::build("az", container_name, options, client_options)?)
            .add_subclass(Self))
    }
}

/// Files served over HTTP(S): `url` is the server (`https://host:port`).
#[pyclass(name = "Http", module = "dfship._internal", extends = PyObjectStore, frozen)]
pub struct PyHttp;

#[pymethods]
impl PyHttp {
    #[new]
    #[pyo3(signature = (url, client_options=None))]
    fn new(
        url: &str,
        client_options: Option<BTreeMap<String, String>>,
    ) -> PyResult<PyClassInitializer<Self>> {
        let parsed = Url::parse(url).map_err(|e| DfshipError::InvalidArgument(format!("{url}: {e}")))?;
        let scheme = match parsed.scheme() {
            "http" => "http",
            "https" => "https",
            other => {
                return Err(DfshipError::InvalidArgument(format!(
                    "{url}: an Http store serves http:// or https://, not {other}://"
                ))
                .into());
            }
        };
        let host = &parsed[url::Position::BeforeHost..url::Position::AfterPort];
        Ok(PyClassInitializer::from(PyObjectStore::build(scheme, host, vec![], client_options)?)
            .add_subclass(Self))
    }
}

/// Local files, optionally under `prefix` (paths are then relative to it).
#[pyclass(name = "LocalFileSystem", module = "dfship._internal", extends = PyObjectStore, frozen)]
pub struct PyLocalFileSystem;

#[pymethods]
impl PyLocalFileSystem {
    #[new]
    #[pyo3(signature = (prefix=None))]
    fn new(prefix: Option<std::path::PathBuf>) -> PyResult<PyClassInitializer<Self>> {
        let store = match prefix {
            Some(p) => object_store::local::LocalFileSystem::new_with_prefix(&p)
                .map_err(|e| DfshipError::InvalidArgument(format!("{}: {e}", p.display())))?,
            None => object_store::local::LocalFileSystem::new(),
        };
        Ok(PyClassInitializer::from(PyObjectStore {
            store: Arc::new(store),
            scheme: "file",
            host: String::new(),
        })
        .add_subclass(Self))
    }
}
