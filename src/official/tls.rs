//! The TLS client of the feed poller: owns which certificates an `https://`
//! feed is checked against and how a failed handshake is told to operators.
//!
//! Two sources of trust and no third: the system's roots, read once at
//! start (a real authority's feed is signed by a public CA), and
//! `--cap-feed-ca` for a private PKI. There is no way to switch
//! verification off: a feed is where the public's warnings come from, and
//! whoever sits between it and us could otherwise write them.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use rustls::{CertificateError, ClientConfig, RootCertStore};

/// Reads `--cap-feed-ca`: one or more PEM certificates, each usable as a
/// trust anchor. The error names the file, for the start-up message.
pub fn read_ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let name = path.display();
    let text = std::fs::read(path).map_err(|e| format!("{name}: {e}"))?;
    let certs = CertificateDer::pem_slice_iter(&text)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{name}: not readable as PEM: {e}"))?;
    if certs.is_empty() {
        return Err(format!(
            "{name}: holds no PEM certificate (-----BEGIN CERTIFICATE-----)"
        ));
    }
    // Checked now, so that a broken anchor stops the start instead of
    // failing every https poll later.
    let mut store = RootCertStore::empty();
    for (i, cert) in certs.iter().enumerate() {
        store
            .add(cert.clone())
            .map_err(|e| format!("{name}: certificate {} cannot be a trust anchor: {e}", i + 1))?;
    }
    Ok(certs)
}

/// The client configuration of every feed request: the system's roots
/// plus `extra`. A machine without system roots still starts (an http or
/// private-PKI deployment needs none) and says so in the log.
pub fn client_config(extra: &[CertificateDer<'static>]) -> Result<Arc<ClientConfig>, String> {
    let mut roots = RootCertStore::empty();
    let found = rustls_native_certs::load_native_certs();
    let (system, unusable) = roots.add_parsable_certificates(found.certs);
    if system == 0 {
        let why: Vec<String> = found.errors.iter().map(ToString::to_string).collect();
        tracing::warn!(
            errors = %why.join("; "),
            "no system root certificates found: https feeds will fail unless their CA is given with --cap-feed-ca"
        );
    } else if !found.errors.is_empty() || unusable > 0 {
        tracing::debug!(
            system,
            unusable,
            errors = found.errors.len(),
            "some system root certificates could not be read"
        );
    }
    let (private, _) = roots.add_parsable_certificates(extra.iter().cloned());
    tracing::info!(system, private, "https feeds are checked against these roots");
    // Named here, not installed as the process default: which provider
    // checks the feeds cannot depend on which crate happened to set one first.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS client: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A failed handshake in words an operator can act on, with rustls' own
/// text after it for whoever debugs it.
pub fn explain(error: &rustls::Error, host: &str) -> String {
    let plain = match error {
        rustls::Error::InvalidCertificate(e) => match e {
            CertificateError::UnknownIssuer => format!(
                "the certificate of {host} is not signed by an authority this server trusts \
                 (for a private CA, give it with --cap-feed-ca)"
            ),
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                format!("the certificate presented is not valid for the host name {host}")
            }
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                format!("the certificate of {host} has expired")
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                format!("the certificate of {host} is not valid yet (or this machine's clock is wrong)")
            }
            CertificateError::Revoked => format!("the certificate of {host} has been revoked"),
            CertificateError::BadSignature => format!(
                "the certificate of {host} is not signed by the authority it names \
                 (forged, or made by another CA of the same name)"
            ),
            _ => format!("the certificate of {host} was refused"),
        },
        rustls::Error::AlertReceived(_) => format!("{host} broke off the TLS handshake"),
        rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. } => {
            format!("{host} does not speak TLS on this port")
        }
        rustls::Error::PeerIncompatible(_) => {
            format!("{host} offers no TLS version or cipher suite this server accepts")
        }
        _ => format!("the TLS handshake with {host} failed"),
    };
    format!("{plain} ({error})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ca_file_must_exist_hold_certificates_and_each_must_be_an_anchor() {
        let dir = tempfile::tempdir().expect("temp dir");
        let missing = dir.path().join("missing.pem");
        let error = read_ca_file(&missing).expect_err("missing");
        assert!(error.contains("missing.pem"), "{error}");

        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "no certificate here\n").expect("write");
        let error = read_ca_file(&empty).expect_err("empty");
        assert!(
            error.contains("empty.pem") && error.contains("no PEM certificate"),
            "{error}"
        );

        let garbage = dir.path().join("garbage.pem");
        std::fs::write(
            &garbage,
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        )
        .expect("write");
        let error = read_ca_file(&garbage).expect_err("garbage");
        assert!(error.contains("garbage.pem"), "{error}");
    }

    #[test]
    fn handshake_failures_read_as_plain_words() {
        let unknown = explain(
            &rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer),
            "alerts.example",
        );
        assert!(
            unknown.starts_with("the certificate of alerts.example is not signed"),
            "{unknown}"
        );
        assert!(unknown.contains("--cap-feed-ca"), "{unknown}");
        let name = explain(
            &rustls::Error::InvalidCertificate(CertificateError::NotValidForName),
            "alerts.example",
        );
        assert!(name.contains("not valid for the host name alerts.example"), "{name}");
        let expired = explain(
            &rustls::Error::InvalidCertificate(CertificateError::Expired),
            "alerts.example",
        );
        assert!(expired.contains("has expired"), "{expired}");
    }

    #[test]
    fn a_client_is_built_with_the_extra_roots_whatever_the_system_holds() {
        assert!(client_config(&[]).is_ok());
    }
}
