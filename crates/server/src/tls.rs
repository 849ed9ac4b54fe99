//! The server's certificate: the administrator's, or a self-signed one
//! generated on first start into `data_dir/tls/`.
//!
//! A generated certificate is valid for the listen address, this machine's
//! host name, `localhost`, `127.0.0.1`, `::1` and `tls_names`. Clients trust
//! it by giving its file to `--cacert`: pinning one certificate is the
//! right trust for a single backup server on a town's network.

use crate::{Config, ServerError};
use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{self, ServerConfig};

/// The TLS settings and, for a generated certificate, its file.
pub(crate) struct Tls {
    pub config: Arc<ServerConfig>,
    pub generated_cert: Option<PathBuf>,
}

pub(crate) fn load_or_generate(config: &Config) -> Result<Tls, ServerError> {
    let (cert, key, generated) = match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => (cert.clone(), key.clone(), false),
        _ => {
            let dir = config.tls_dir();
            let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
            if !cert.exists() || !key.exists() {
                generate(config, &dir, &cert, &key)?;
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
fn names(config: &Config) -> Vec<String> {
    let mut names = vec!["localhost".to_string(), "127.0.0.1".into(), "::1".into()];
    let ip = config.listen.ip();
    if !ip.is_unspecified() {
        names.push(ip.to_string());
    }
    if let Some(host) = host_name() {
        names.push(host);
    }
    names.extend(config.tls_names.iter().cloned());
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

fn generate(config: &Config, dir: &Path, cert: &Path, key: &Path) -> Result<(), ServerError> {
    let mut params = rcgen::CertificateParams::new(names(config))
        .map_err(|e| ServerError::Tls(format!("certificate names: {e}")))?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "reprise server");
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
        assert!(names(&config).contains(&"backup.mairie.example".to_string()));
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
