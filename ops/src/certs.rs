//! A development certificate authority: one CA, a server certificate for the coordinator and a
//! client certificate for workers and submitters, as PEM files.
//!
//! For local clusters (`archetype tls-certs`, `deploy/local-cluster.sh`) and the tests. On
//! Kubernetes the chart takes certificates from cert-manager or Secrets made by the platform.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

#[derive(Debug, thiserror::Error)]
pub enum CertError {
    #[error("cannot make a certificate: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// Where [`write_dev_pki`] put the files.
#[derive(Clone, Debug)]
pub struct DevPki {
    pub ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
}

/// PEM text of one certificate and its key.
#[derive(Clone, Debug)]
pub struct Pem {
    pub cert: String,
    pub key: String,
}

/// A CA (`common_name`) that can sign server and client certificates.
pub struct DevCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl DevCa {
    pub fn new(common_name: &str) -> Result<DevCa, CertError> {
        let mut p = CertificateParams::new(Vec::<String>::new())?;
        p.distinguished_name
            .push(DnType::CommonName, common_name.to_string());
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        Ok(DevCa {
            issuer: CertifiedIssuer::self_signed(p, KeyPair::generate()?)?,
        })
    }

    pub fn cert_pem(&self) -> String {
        self.issuer.pem()
    }

    /// A certificate for `names` (DNS names or IP addresses), for a server or a client.
    pub fn issue(&self, names: &[String], server: bool) -> Result<Pem, CertError> {
        let mut p = CertificateParams::new(names.to_vec())?;
        if let Some(first) = names.first() {
            p.distinguished_name
                .push(DnType::CommonName, first.to_string());
        }
        p.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        p.extended_key_usages = vec![if server {
            ExtendedKeyUsagePurpose::ServerAuth
        } else {
            ExtendedKeyUsagePurpose::ClientAuth
        }];
        let key = KeyPair::generate()?;
        let cert = p.signed_by(&key, &self.issuer)?;
        Ok(Pem {
            cert: cert.pem(),
            key: key.serialize_pem(),
        })
    }
}

fn write(path: &Path, text: &str) -> Result<(), CertError> {
    std::fs::write(path, text).map_err(|source| CertError::Write {
        path: path.display().to_string(),
        source,
    })?;
    #[cfg(unix)]
    if path.extension().is_some_and(|e| e == "key") {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
    }
    Ok(())
}

/// Writes `ca.crt`, `server.crt`/`server.key` (for `server_names`) and `client.crt`/
/// `client.key` (named `client_name`) into `dir`.
pub fn write_dev_pki(
    dir: &Path,
    server_names: &[String],
    client_name: &str,
) -> Result<DevPki, CertError> {
    std::fs::create_dir_all(dir).map_err(|source| CertError::Write {
        path: dir.display().to_string(),
        source,
    })?;
    let ca = DevCa::new("archetype development CA")?;
    let server = ca.issue(server_names, true)?;
    let client = ca.issue(&[client_name.to_string()], false)?;
    let pki = DevPki {
        ca: dir.join("ca.crt"),
        server_cert: dir.join("server.crt"),
        server_key: dir.join("server.key"),
        client_cert: dir.join("client.crt"),
        client_key: dir.join("client.key"),
    };
    write(&pki.ca, &ca.cert_pem())?;
    write(&pki.server_cert, &server.cert)?;
    write(&pki.server_key, &server.key)?;
    write(&pki.client_cert, &client.cert)?;
    write(&pki.client_key, &client.key)?;
    Ok(pki)
}
