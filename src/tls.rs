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

/// Why a database URL leaves the connection open to reading or tampering on the network: a
/// PostgreSQL `sslmode` that does not verify the server (libpq's default `prefer` included), or
/// plain HTTP to ClickHouse — unless the host is this machine. `None` when it is verified, local
/// or not a database URL.
pub fn unverified(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit('@').next().unwrap_or("");
    let host = if let Some(v6) = host_port.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        host_port.split(':').next().unwrap_or("")
    };
    let query = rest.split_once('?').map_or("", |(_, q)| q);
    let param = |name: &str| query.split('&').find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='));
    // A Unix socket (`?host=/run/postgresql`) or this machine.
    let local = host.is_empty()
        || host == "localhost"
        || host == "::1"
        || host.starts_with("127.")
        || param("host").is_some_and(|h| h.starts_with('/'));
    if local {
        return None;
    }
    match scheme.to_ascii_lowercase().as_str() {
        "postgres" | "postgresql" => {
            let mode = param("sslmode").unwrap_or("prefer");
            (!matches!(mode, "verify-full" | "verify-ca")).then(|| {
                format!(
                    "the PostgreSQL server {host} is not verified (sslmode={mode}): the audit data and the password \
                     can be read or changed on the network; use sslmode=verify-full&sslrootcert=CA.pem"
                )
            })
        }
        "clickhouse" | "http" => Some(format!(
            "ClickHouse at {host} is reached over plain HTTP: the audit data and the password travel unencrypted; \
             use clickhouses:// or https://"
        )),
        _ => None,
    }
}

/// Say on stderr when `url` is [`unverified`] (once per process and reason; the URL is not shown).
pub fn warn_if_unverified(url: &str) {
    static SAID: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    if let Some(why) = unverified(url) {
        let mut said = SAID.lock().unwrap_or_else(|e| e.into_inner());
        if !said.contains(&why) {
            tracing::warn!("{why}");
            said.push(why);
        }
    }
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

#[cfg(test)]
mod tests {
    #[test]
    fn unverified_database_connections_are_named() {
        use super::unverified;
        let pg = unverified("postgres://u:pw@db.example:5432/gitlab").unwrap();
        assert!(pg.starts_with("the PostgreSQL server db.example is not verified (sslmode=prefer)"), "{pg}");
        assert!(!pg.contains("pw"));
        assert!(unverified("postgres://u:pw@db.example/g?sslmode=require").unwrap().contains("sslmode=require"));
        assert_eq!(unverified("postgres://u@db.example/g?sslmode=verify-full&sslrootcert=ca.pem"), None);
        assert_eq!(unverified("postgres://u@db.example/g?sslrootcert=ca.pem&sslmode=verify-ca"), None);
        assert_eq!(unverified("postgres://u:pw@127.0.0.1:5432/g"), None);
        assert_eq!(unverified("postgres://u@localhost/g"), None);
        assert_eq!(unverified("postgres://u@[::1]:5432/g"), None);
        assert_eq!(unverified("postgresql:///gitlab?host=/var/run/postgresql"), None);
        assert!(unverified("clickhouse://default:pw@ch.example:8123/db").unwrap().contains("plain HTTP"));
        assert_eq!(unverified("clickhouses://default:pw@ch.example/db"), None);
        assert_eq!(unverified("https://ch.example/"), None);
        assert_eq!(unverified("/var/log/audit.log"), None);
    }
}
