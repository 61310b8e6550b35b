//! Certificates, the admin token and the kubeconfig for the embedded API server.
//!
//! Layout under the data directory:
//!
//! ```text
//! <data_dir>/pki/ca.crt      CA certificate (PEM)
//! <data_dir>/pki/ca.key      CA private key (PEM, mode 0600)
//! <data_dir>/pki/server.crt  serving certificate signed by the CA (PEM)
//! <data_dir>/pki/server.key  serving private key (PEM, mode 0600)
//! <data_dir>/token           admin bearer token (mode 0600)
//! ```
//!
//! Everything is created on first start and reused afterwards, so kubeconfigs handed out
//! earlier keep working across restarts. The serving certificate alone is reissued (by the
//! same CA) when it no longer covers the names asked for or no longer verifies.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};

/// Names every serving certificate covers, so local clients work whatever address they use.
const DEFAULT_SANS: &[&str] = &["127.0.0.1", "::1", "localhost"];

/// Common name of the CA; also what lets us rebuild the issuer from the stored key alone.
const CA_COMMON_NAME: &str = "everynode-ca";

/// Everything a server and its clients need to trust each other: the CA, the serving
/// certificate and key, and the admin bearer token.
#[derive(Clone)]
pub struct Credentials {
    /// CA certificate, PEM (goes into kubeconfig `certificate-authority-data`).
    pub ca_pem: String,
    /// CA certificate, DER (for `kube::Config::root_cert`).
    pub ca_der: Vec<u8>,
    /// Serving certificate, PEM.
    pub cert_pem: String,
    /// Serving private key, PEM (PKCS#8).
    pub key_pem: String,
    /// Admin bearer token.
    pub token: String,
}

impl std::fmt::Debug for Credentials {
    // Keys and tokens must never end up in logs through a stray `{:?}`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("ca_pem", &self.ca_pem)
            .field("cert_pem", &self.cert_pem)
            .field("key_pem", &"<redacted>")
            .field("token", &"<redacted>")
            .finish()
    }
}

/// Failures while creating, loading or writing credentials and kubeconfigs.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file or directory could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Generating or signing a key or certificate failed.
    #[error("generating {what}: {source}")]
    Generate {
        /// What was being generated.
        what: &'static str,
        /// The underlying error.
        source: rcgen::Error,
    },
    /// A stored PEM file does not hold what it should.
    #[error("{}: {reason}", path.display())]
    BadPem {
        /// The file involved.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The stored token file is empty or not a single printable line.
    #[error("{}: the token file is empty or malformed", path.display())]
    BadToken {
        /// The file involved.
        path: PathBuf,
    },
    /// rustls refused the configuration (bad key, unsupported algorithm, ...).
    #[error("building the TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
    /// An extra subject alternative name is neither an IP address nor a DNS name.
    #[error("invalid subject alternative name {0:?}")]
    BadSan(String),
    /// The kubeconfig could not be rendered.
    #[error("rendering the kubeconfig: {0}")]
    Kubeconfig(String),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> TlsError + '_ {
    move |source| TlsError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Loads `<data_dir>/pki/{ca.crt,ca.key,server.crt,server.key}` and `<data_dir>/token`,
/// creating what is missing: a CA, a serving certificate for `127.0.0.1`, `::1` and
/// `localhost` plus `extra_sans`, and a random 32-byte base64url admin token. Private keys
/// and the token are written with mode 0600; `data_dir` is created if missing.
pub fn load_or_create(data_dir: &Path, extra_sans: &[String]) -> Result<Credentials, TlsError> {
    let pki = data_dir.join("pki");
    std::fs::create_dir_all(&pki).map_err(io_err(&pki))?;
    let sans = wanted_sans(extra_sans)?;

    let ca_crt = pki.join("ca.crt");
    let ca_key = pki.join("ca.key");
    let server_crt = pki.join("server.crt");
    let server_key = pki.join("server.key");

    // A CA missing either half cannot sign anything, so regenerate both; everything it
    // signed before is then invalid too and gets reissued below.
    let (ca_pem, ca_key_pem) = match (read_opt(&ca_crt)?, read_opt(&ca_key)?) {
        (Some(cert), Some(key)) => (cert, key),
        _ => {
            let key = KeyPair::generate().map_err(|source| TlsError::Generate {
                what: "CA key",
                source,
            })?;
            let cert = ca_params()
                .self_signed(&key)
                .map_err(|source| TlsError::Generate {
                    what: "CA certificate",
                    source,
                })?;
            let (cert_pem, key_pem) = (cert.pem(), key.serialize_pem());
            // Key first: a crash in between leaves a key without a cert, which regenerates.
            write_atomic(&ca_key, key_pem.as_bytes(), 0o600)?;
            write_atomic(&ca_crt, cert_pem.as_bytes(), 0o644)?;
            (cert_pem, key_pem)
        }
    };
    let ca_der =
        CertificateDer::from_pem_slice(ca_pem.as_bytes()).map_err(|e| TlsError::BadPem {
            path: ca_crt.clone(),
            reason: e.to_string(),
        })?;

    let existing = match (read_opt(&server_crt)?, read_opt(&server_key)?) {
        (Some(cert), Some(key)) if serving_cert_usable(&ca_der, &cert, &sans) => Some((cert, key)),
        _ => None,
    };
    let (cert_pem, key_pem) = match existing {
        Some(pair) => pair,
        None => {
            let ca_signing_key = KeyPair::from_pem(&ca_key_pem).map_err(|e| TlsError::BadPem {
                path: ca_key.clone(),
                reason: e.to_string(),
            })?;
            // The issuer only needs the CA's name, key-id method and key usages, all of which
            // are fixed by `ca_params`, so no certificate parsing is needed to sign.
            let issuer = Issuer::new(ca_params(), ca_signing_key);
            let key = KeyPair::generate().map_err(|source| TlsError::Generate {
                what: "server key",
                source,
            })?;
            let cert = serving_params(&sans)?
                .signed_by(&key, &issuer)
                .map_err(|source| TlsError::Generate {
                    what: "server certificate",
                    source,
                })?;
            let (cert_pem, key_pem) = (cert.pem(), key.serialize_pem());
            write_atomic(&server_key, key_pem.as_bytes(), 0o600)?;
            write_atomic(&server_crt, cert_pem.as_bytes(), 0o644)?;
            (cert_pem, key_pem)
        }
    };

    let token = load_or_create_token(&data_dir.join("token"))?;
    Ok(Credentials {
        ca_pem,
        ca_der: ca_der.to_vec(),
        cert_pem,
        key_pem,
        token,
    })
}

/// The names the serving certificate must cover, defaults first, without duplicates.
fn wanted_sans(extra: &[String]) -> Result<Vec<String>, TlsError> {
    let mut out: Vec<String> = DEFAULT_SANS.iter().map(|s| (*s).to_owned()).collect();
    for san in extra {
        let san = san.trim();
        if san.is_empty() || ServerName::try_from(san).is_err() {
            return Err(TlsError::BadSan(san.to_owned()));
        }
        if !out.iter().any(|s| s == san) {
            out.push(san.to_owned());
        }
    }
    Ok(out)
}

fn ca_params() -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, CA_COMMON_NAME);
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params
}

fn serving_params(sans: &[String]) -> Result<CertificateParams, TlsError> {
    let mut params =
        CertificateParams::new(sans.to_vec()).map_err(|source| TlsError::Generate {
            what: "server certificate parameters",
            source,
        })?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "everynode-apiserver");
    params.distinguished_name = dn;
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    Ok(params)
}

/// True when `cert_pem` chains to the CA and is valid now for every wanted name.
fn serving_cert_usable(ca_der: &CertificateDer<'_>, cert_pem: &str, sans: &[String]) -> bool {
    let Ok(cert) = CertificateDer::from_pem_slice(cert_pem.as_bytes()) else {
        return false;
    };
    sans.iter()
        .all(|san| verify_server_cert(ca_der, &cert, san).is_ok())
}

/// Verifies `cert` as a serving certificate for `name` against the CA `ca_der`, the way a
/// rustls client would (chain, validity period, key usage, subject alternative name).
pub fn verify_server_cert(
    ca_der: &CertificateDer<'_>,
    cert: &CertificateDer<'_>,
    name: &str,
) -> Result<(), TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca_der.clone().into_owned())?;
    let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
        Arc::new(roots),
        Arc::new(rustls::crypto::ring::default_provider()),
    )
    .build()
    .map_err(|e| TlsError::Rustls(rustls::Error::General(e.to_string())))?;
    let server_name =
        ServerName::try_from(name.to_owned()).map_err(|_| TlsError::BadSan(name.to_owned()))?;
    use rustls::client::danger::ServerCertVerifier;
    verifier.verify_server_cert(cert, &[], &server_name, &[], UnixTime::now())?;
    Ok(())
}

fn load_or_create_token(path: &Path) -> Result<String, TlsError> {
    if let Some(text) = read_opt(path)? {
        let token = text.trim();
        if token.is_empty() || token.contains(char::is_whitespace) || !token.is_ascii() {
            return Err(TlsError::BadToken {
                path: path.to_path_buf(),
            });
        }
        return Ok(token.to_owned());
    }
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes[..]);
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    write_atomic(path, format!("{token}\n").as_bytes(), 0o600)?;
    Ok(token)
}

/// Builds the rustls server configuration for axum-server: the ring provider, safe default
/// protocol versions, no client certificates, ALPN `h2` then `http/1.1`.
pub fn server_config(creds: &Credentials) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let cert = CertificateDer::from_pem_slice(creds.cert_pem.as_bytes()).map_err(|e| {
        TlsError::BadPem {
            path: PathBuf::from("server.crt"),
            reason: e.to_string(),
        }
    })?;
    let key =
        PrivateKeyDer::from_pem_slice(creds.key_pem.as_bytes()).map_err(|e| TlsError::BadPem {
            path: PathBuf::from("server.key"),
            reason: e.to_string(),
        })?;
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_single_cert(vec![cert], key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Writes a kubeconfig with cluster `everynode` (`server_url`, the CA as
/// `certificate-authority-data`), user `admin` (the token) and context `everynode` as the
/// current context. Mode 0600, written atomically (temporary file, fsync, rename).
pub fn write_kubeconfig(
    path: &Path,
    server_url: &str,
    creds: &Credentials,
) -> Result<(), TlsError> {
    let ca_data = base64::engine::general_purpose::STANDARD.encode(creds.ca_pem.as_bytes());
    let doc = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{
            "name": "everynode",
            "cluster": { "server": server_url, "certificate-authority-data": ca_data },
        }],
        "users": [{ "name": "admin", "user": { "token": creds.token } }],
        "contexts": [{
            "name": "everynode",
            "context": { "cluster": "everynode", "user": "admin", "namespace": "default" },
        }],
        "current-context": "everynode",
        "preferences": {},
    });
    let text = serde_saphyr::to_string(&doc).map_err(|e| TlsError::Kubeconfig(e.to_string()))?;
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(io_err(parent))?;
    }
    write_atomic(path, text.as_bytes(), 0o600)
}

fn read_opt(path: &Path) -> Result<Option<String>, TlsError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err(path)(e)),
    }
}

/// Writes `bytes` to `path` through a temporary file in the same directory so readers see
/// either the old or the new content, never a torn file; secrets never exist with wider
/// permissions than `mode`, not even briefly.
fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), TlsError> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // Unique per process and call, so concurrent writers never share a temporary file.
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = dir.join(format!(".{file_name}.tmp.{}.{seq}", std::process::id()));
    let result = (|| {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(mode);
        }
        let mut file = options.open(&tmp).map_err(io_err(&tmp))?;
        #[cfg(unix)]
        {
            // `mode` at open time is filtered by the umask and ignored for an existing file.
            use std::os::unix::fs::PermissionsExt;
            file.set_permissions(std::fs::Permissions::from_mode(mode))
                .map_err(io_err(&tmp))?;
        }
        file.write_all(bytes).map_err(io_err(&tmp))?;
        file.sync_all().map_err(io_err(&tmp))?;
        std::fs::rename(&tmp, path).map_err(io_err(path))?;
        // Make the rename itself durable.
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
