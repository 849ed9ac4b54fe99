//! A server's certificate: the administrator's, or a self-signed one
//! generated on first start into a directory of the server's (`data_dir/tls/`
//! for `reprise serve`; the dashboard of `reprise web` uses the same code).
//!
//! A generated certificate is valid for the listen address, this machine's
//! host name, `localhost`, `127.0.0.1`, `::1` and `tls_names`. Clients trust
//! it by giving its file to `--cacert`: pinning one certificate is the
//! right trust for a single backup server on a town's network.

use crate::{Config, ServerError};
use std::fs;
use std::io::Write;
use std::net::IpAddr;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{self, ServerConfig};

/// The TLS settings and, for a generated certificate, its file.
pub struct Tls {
    pub config: Arc<ServerConfig>,
    pub generated_cert: Option<PathBuf>,
}

/// Where a server's certificate comes from.
#[derive(Debug, Clone)]
pub struct CertificateSource {
    /// The administrator's certificate chain and key, when both are given.
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    /// Where a self-signed pair is generated and kept otherwise.
    pub dir: PathBuf,
    /// The address the server listens on (named in the certificate unless
    /// unspecified).
    pub listen: IpAddr,
    /// Extra DNS names or addresses for a generated certificate.
    pub names: Vec<String>,
    /// Whether a generated certificate also names this machine.
    pub include_host_name: bool,
    /// The generated certificate's common name ("reprise server").
    pub common_name: String,
}

pub(crate) fn load_or_generate(config: &Config) -> Result<Tls, ServerError> {
    load_or_generate_from(&CertificateSource {
        cert: config.tls_cert.clone(),
        key: config.tls_key.clone(),
        dir: config.tls_dir(),
        listen: config.listen.ip(),
        names: config.tls_names.clone(),
        include_host_name: true,
        common_name: "reprise server".into(),
    })
}

/// The TLS settings of `source`: its given pair, or the pair generated
/// into its directory on the first start and reused after.
pub fn load_or_generate_from(source: &CertificateSource) -> Result<Tls, ServerError> {
    let (cert, key, generated) = match (&source.cert, &source.key) {
        (Some(cert), Some(key)) => (cert.clone(), key.clone(), false),
        _ => {
            let dir = &source.dir;
            let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
            if !cert.exists() || !key.exists() {
                generate(source, dir, &cert, &key)?;
            }
            (cert, key, true)
        }
    };
    let server = server_config(&cert, &key)?;
    Ok(Tls {
        config: Arc::new(server),
        generated_cert: generated.then_some(cert),
    })
}

fn server_config(cert: &Path, key: &Path) -> Result<ServerConfig, ServerError> {
    let tls_err = |what: &Path, e: &dyn std::fmt::Display| {
        ServerError::Tls(format!("cannot read {}: {e}", what.display()))
    };
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(|e| tls_err(cert, &e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| tls_err(cert, &e))?;
    if chain.is_empty() {
        return Err(tls_err(cert, &"no certificate in the file"));
    }
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| tls_err(key, &e))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut server = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ServerError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key_der)
        .map_err(|e| ServerError::Tls(format!("{} and {}: {e}", cert.display(), key.display())))?;
    server.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(server)
}

/// The names a generated certificate is valid for.
fn names(source: &CertificateSource) -> Vec<String> {
    let mut names = vec!["localhost".to_string(), "127.0.0.1".into(), "::1".into()];
    let ip = source.listen;
    if !ip.is_unspecified() {
        names.push(ip.to_string());
    }
    if let Some(host) = host_name().filter(|_| source.include_host_name) {
        names.push(host);
    }
    names.extend(source.names.iter().cloned());
    names.sort();
    names.dedup();
    names
}

fn host_name() -> Option<String> {
    let name = fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    let name = name.trim();
    // rcgen refuses names that are not valid DNS names; skip odd ones.
    (!name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.".contains(&b)))
    .then(|| name.to_ascii_lowercase())
}

fn generate(
    source: &CertificateSource,
    dir: &Path,
    cert: &Path,
    key: &Path,
) -> Result<(), ServerError> {
    let mut params = rcgen::CertificateParams::new(names(source))
        .map_err(|e| ServerError::Tls(format!("certificate names: {e}")))?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, source.common_name.as_str());
    let pair = rcgen::KeyPair::generate().map_err(|e| ServerError::Tls(e.to_string()))?;
    let signed = params
        .self_signed(&pair)
        .map_err(|e| ServerError::Tls(e.to_string()))?;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| ServerError::io(dir, e))?;
    // The key first: a certificate without its key would be reused broken.
    write_new(key, pair.serialize_pem().as_bytes(), 0o600)?;
    write_new(cert, signed.pem().as_bytes(), 0o644)
}

fn write_new(path: &Path, data: &[u8], mode: u32) -> Result<(), ServerError> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)
        .map_err(|e| ServerError::io(path, e))?;
    f.write_all(data)
        .and_then(|()| f.sync_all())
        .map_err(|e| ServerError::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_certificate_is_generated_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let text = format!(
            "listen = \"0.0.0.0:0\"\ndata_dir = {:?}\ntls_names = [\"backup.mairie.example\"]\n",
            dir.path()
        );
        let config = Config::parse(&text, dir.path()).unwrap();
        let first = load_or_generate(&config).unwrap();
        let cert = first.generated_cert.unwrap();
        assert_eq!(cert, dir.path().join("tls/cert.pem"));
        let pem = fs::read(&cert).unwrap();
        let again = load_or_generate(&config).unwrap();
        assert_eq!(fs::read(again.generated_cert.unwrap()).unwrap(), pem);
        use std::os::unix::fs::PermissionsExt;
        let key_mode = fs::metadata(dir.path().join("tls/key.pem"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(key_mode & 0o777, 0o600);
        let source = CertificateSource {
            cert: None,
            key: None,
            dir: config.tls_dir(),
            listen: config.listen.ip(),
            names: config.tls_names.clone(),
            include_host_name: true,
            common_name: "reprise server".into(),
        };
        assert!(names(&source).contains(&"backup.mairie.example".to_string()));
    }

    #[test]
    fn a_missing_certificate_file_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let text = format!(
            "listen = \"127.0.0.1:0\"\ndata_dir = {:?}\ntls_cert = \"nope.pem\"\ntls_key = \"nope.key\"\n",
            dir.path()
        );
        let config = Config::parse(&text, dir.path()).unwrap();
        let err = load_or_generate(&config).err().unwrap().to_string();
        assert!(err.contains("nope.pem"), "{err}");
    }
}
