//! TLS client settings shared by the network sinks (rustls with the ring provider).

/// TLS client settings (syslog: `syslog+tls://…?ca=…&cert=…&key=…&server_name=…`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    /// PEM file of the CA(s) to trust (default: the Mozilla root store).
    pub ca_file: Option<String>,
    /// Client certificate chain and key (PEM) for receivers that require one.
    pub cert_file: Option<String>,
    pub key_file: Option<String>,
    /// Name to verify the server certificate against (default: the host).
    pub server_name: Option<String>,
}

/// Build the rustls client configuration: trust the CA file (or Mozilla's roots), present a
/// client certificate when configured. Server-name verification is always on.
pub fn tls_config(tls: &TlsOptions) -> Result<std::sync::Arc<rustls::ClientConfig>, String> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let mut roots = rustls::RootCertStore::empty();
    match &tls.ca_file {
        Some(file) => {
            let certs = CertificateDer::pem_file_iter(file).map_err(|e| format!("cannot read CA file {file}: {e}"))?;
            for cert in certs {
                let cert = cert.map_err(|e| format!("CA file {file}: {e}"))?;
                roots.add(cert).map_err(|e| format!("CA file {file}: {e}"))?;
            }
            if roots.is_empty() {
                return Err(format!("CA file {file} holds no certificate"));
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots);
    let config = match (&tls.cert_file, &tls.key_file) {
        (Some(cert), Some(key)) => {
            let chain = CertificateDer::pem_file_iter(cert)
                .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                .map_err(|e| format!("cannot read client certificate {cert}: {e}"))?;
            let key = PrivateKeyDer::from_pem_file(key).map_err(|e| format!("cannot read client key {key}: {e}"))?;
            builder.with_client_auth_cert(chain, key).map_err(|e| format!("client certificate: {e}"))?
        }
        _ => builder.with_no_client_auth(),
    };
    Ok(std::sync::Arc::new(config))
}
