//! TLS for guests' outbound HTTPS: rustls with the ring provider, trusting
//! the webpki roots (Mozilla's list, built in: no OpenSSL and no system
//! store to depend on) plus the certificate authorities of the operator's
//! `outbound-ca` file (a private CA for internal services, or a test's).

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use std::path::Path;
use std::sync::Arc;

/// TLS client settings shared by every application: the webpki roots plus
/// the operator's `outbound-ca` file.
#[derive(Debug, Clone)]
pub struct Tls {
    pub(super) config: Arc<rustls::ClientConfig>,
}

impl Tls {
    /// Builds the settings; the error names the file and what is wrong.
    pub fn new(extra_ca: Option<&Path>) -> Result<Tls, String> {
        let mut roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        if let Some(path) = extra_ca {
            for cert in read_ca_file(path)? {
                roots.add(cert).map_err(|err| {
                    format!(
                        "outbound-ca {}: a certificate cannot be a trust anchor: {err}",
                        path.display()
                    )
                })?;
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|err| format!("TLS settings: {err}"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        // The client speaks HTTP/1.1 only (super::send).
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Tls {
            config: Arc::new(config),
        })
    }
}

/// The certificates of the PEM file at `path`; at least one.
fn read_ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let file = path.display();
    let bytes =
        std::fs::read(path).map_err(|err| format!("outbound-ca {file}: cannot read it: {err}"))?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| format!("outbound-ca {file}: not a PEM file of certificates: {err}"))?;
    if certs.is_empty() {
        return Err(format!(
            "outbound-ca {file}: no certificate in it: give a PEM file with -----BEGIN CERTIFICATE----- blocks"
        ));
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_roots_alone_and_a_bad_ca_file() {
        assert!(Tls::new(None).is_ok());
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.pem");
        let err = Tls::new(Some(&missing)).unwrap_err();
        assert!(
            err.contains("nope.pem") && err.contains("cannot read"),
            "{err}"
        );

        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "just text\n").unwrap();
        let err = Tls::new(Some(&empty)).unwrap_err();
        assert!(
            err.contains("empty.pem") && err.contains("no certificate"),
            "{err}"
        );

        let garbage = dir.path().join("garbage.pem");
        std::fs::write(
            &garbage,
            "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let err = Tls::new(Some(&garbage)).unwrap_err();
        assert!(err.contains("garbage.pem"), "{err}");
    }
}
