//! TLS on worker connections: rustls on ring, through tonic.
//!
//! ring rather than aws-lc-rs: the object stores' HTTP client already
//! builds rustls on ring, so TLS here adds no crypto library (and no C
//! toolchain step) to a cold build.
//!
//! A worker serves TLS with its certificate and key ([`ServerTls`]); with a
//! client CA it also requires a certificate of every caller (mutual TLS).
//! Whoever calls a worker over `https://` (a coordinator, or a worker
//! calling another for a shuffle) verifies it against a CA and, for mutual
//! TLS, presents a certificate of its own ([`ClientTls`]).

use std::error::Error as StdError;
use std::fmt;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tonic::transport::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig};

use dfship_core::error::DfshipError;

/// How long a TLS handshake with a worker may take.
pub const HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

fn invalid(message: String) -> DfshipError {
    DfshipError::InvalidArgument(message)
}

/// PEM certificates (at least one), checked to parse.
fn certificates(pem: &[u8], what: &str) -> Result<Certificate, DfshipError> {
    let mut count = 0;
    for cert in CertificateDer::pem_slice_iter(pem) {
        cert.map_err(|e| invalid(format!("the {what} is not valid PEM: {e}")))?;
        count += 1;
    }
    if count == 0 {
        return Err(invalid(format!("the {what} holds no PEM certificate")));
    }
    Ok(Certificate::from_pem(pem))
}

/// A certificate chain and its private key, checked to parse. The key's
/// bytes never enter a message.
fn identity(cert: &[u8], key: &[u8], what: &str) -> Result<Identity, DfshipError> {
    certificates(cert, &format!("{what} certificate"))?;
    PrivateKeyDer::from_pem_slice(key)
        .map_err(|_| invalid(format!("the {what} key holds no PEM private key (PKCS#8, PKCS#1 or SEC1)")))?;
    Ok(Identity::from_pem(cert, key))
}

/// What a worker serves TLS with.
#[derive(Clone)]
pub struct ServerTls {
    identity: Identity,
    client_ca: Option<Certificate>,
}

impl ServerTls {
    /// The worker's certificate chain and key (PEM); with `client_ca`,
    /// every caller must present a certificate that CA issued.
    pub fn from_pem(cert: &[u8], key: &[u8], client_ca: Option<&[u8]>) -> Result<Self, DfshipError> {
        Ok(Self {
            identity: identity(cert, key, "worker's TLS")?,
            client_ca: client_ca.map(|ca| certificates(ca, "client CA")).transpose()?,
        })
    }

    /// Whether callers must present a certificate.
    pub fn mutual(&self) -> bool {
        self.client_ca.is_some()
    }

    pub fn config(&self) -> ServerTlsConfig {
        let config = ServerTlsConfig::new().identity(self.identity.clone()).timeout(HANDSHAKE_TIMEOUT);
        match &self.client_ca {
            Some(ca) => config.client_ca_root(ca.clone()),
            None => config,
        }
    }
}

impl fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerTls").field("mutual", &self.mutual()).finish_non_exhaustive()
    }
}

/// What a process verifies the workers it calls over `https://` with, and
/// the certificate it presents to workers that require one.
#[derive(Clone)]
pub struct ClientTls {
    ca: Option<Certificate>,
    identity: Option<Identity>,
}

impl ClientTls {
    /// `ca` (PEM) is the CA that issued the workers' certificates (the
    /// system's roots without it); `cert` and `key` go together.
    pub fn from_pem(ca: Option<&[u8]>, cert: Option<&[u8]>, key: Option<&[u8]>) -> Result<Self, DfshipError> {
        let identity = match (cert, key) {
            (Some(cert), Some(key)) => Some(identity(cert, key, "client")?),
            (None, None) => None,
            _ => {
                return Err(invalid(
                    "a client certificate and its key go together: give both or neither".into(),
                ));
            }
        };
        Ok(Self { ca: ca.map(|ca| certificates(ca, "TLS CA")).transpose()?, identity })
    }

    /// Whether it presents a certificate.
    pub fn presents_certificate(&self) -> bool {
        self.identity.is_some()
    }

    pub fn config(&self) -> ClientTlsConfig {
        let mut config = ClientTlsConfig::new().timeout(HANDSHAKE_TIMEOUT);
        config = match &self.ca {
            Some(ca) => config.ca_certificate(ca.clone()),
            None => config.with_native_roots(),
        };
        match &self.identity {
            Some(identity) => config.identity(identity.clone()),
            None => config,
        }
    }
}

impl fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientTls")
            .field("ca", &if self.ca.is_some() { "given" } else { "system roots" })
            .field("presents_certificate", &self.presents_certificate())
            .finish_non_exhaustive()
    }
}

/// The TLS failure somewhere in `err`'s causes, if any: a certificate
/// refused by either side, an alert, a peer that does not speak TLS.
pub fn tls_failure(err: &(dyn StdError + 'static)) -> Option<String> {
    let mut next = Some(err);
    while let Some(e) = next {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return Some(tls.to_string());
        }
        // io::Error hides the error it wraps from `source`.
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && let Some(tls) = io.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            return Some(tls.to_string());
        }
        next = e.source();
    }
    None
}
