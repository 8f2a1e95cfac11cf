//! TLS for the S3 listener (`--tls-cert`, `--tls-key`): rustls, HTTP/2 and HTTP/1.1 by ALPN, the
//! certificate chain and key read from PEM files, and read again by [`Tls::reload`] (`cairn
//! serve` calls it on SIGHUP) so a renewed certificate is served without a restart. A reload that
//! fails keeps the certificate served before.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// How long a client has to finish its TLS handshake.
pub const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Certificates a chain may hold (leaf and intermediates).
pub const CERTIFICATE_CHAIN_MAX: usize = 16;

/// The files a certificate is read from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// The certificate being served, replaced by `reload`.
pub struct Tls {
    files: TlsFiles,
    current: RwLock<TlsAcceptor>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls").field("files", &self.files).finish_non_exhaustive()
    }
}

impl Tls {
    /// Reads the certificate and key; an error names the file at fault.
    pub fn load(files: TlsFiles) -> std::io::Result<Tls> {
        let acceptor = acceptor(&files)?;
        Ok(Tls { files, current: RwLock::new(acceptor) })
    }

    /// Reads the files again and serves what they hold to connections from now on.
    pub fn reload(&self) -> std::io::Result<()> {
        let acceptor = acceptor(&self.files)?;
        *self.current.write().unwrap_or_else(std::sync::PoisonError::into_inner) = acceptor;
        Ok(())
    }

    /// The acceptor for a new connection.
    pub fn acceptor(&self) -> TlsAcceptor {
        self.current.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }
}

fn acceptor(files: &TlsFiles) -> std::io::Result<TlsAcceptor> {
    let invalid = |path: &Path, what: String| std::io::Error::other(format!("{}: {what}", path.display()));
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&files.cert)
        .map_err(|e| invalid(&files.cert, e.to_string()))?
        .take(CERTIFICATE_CHAIN_MAX + 1)
        .collect::<Result<_, _>>()
        .map_err(|e| invalid(&files.cert, e.to_string()))?;
    if chain.is_empty() {
        return Err(invalid(&files.cert, "holds no PEM certificate".into()));
    }
    if chain.len() > CERTIFICATE_CHAIN_MAX {
        return Err(invalid(&files.cert, format!("holds more than {CERTIFICATE_CHAIN_MAX} certificates")));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|e| invalid(&files.key, e.to_string()))?;
    let mut config = ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| invalid(&files.key, format!("does not match the certificate: {e}")))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}
