//! The cluster CA: creating it, loading it, and issuing server and client certificates.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use time::{Duration, OffsetDateTime};

use crate::secret::write_private_file;

pub const CA_CERT_FILE: &str = "ca.pem";
pub const CA_KEY_FILE: &str = "ca-key.pem";

#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: already exists; a cluster keeps its CA (remove it first if a new cluster is really wanted)")]
    Exists { path: PathBuf },
    #[error("{path}: not a usable PEM {what}: {reason}")]
    BadPem {
        path: PathBuf,
        what: &'static str,
        reason: String,
    },
    #[error("certificate: {0}")]
    Cert(#[from] rcgen::Error),
    #[error("certificate: {0}")]
    Issue(String),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> PkiError + '_ {
    move |source| {
        if source.kind() == std::io::ErrorKind::AlreadyExists {
            PkiError::Exists {
                path: path.to_path_buf(),
            }
        } else {
            PkiError::Io {
                path: path.to_path_buf(),
                source,
            }
        }
    }
}

/// A certificate and its private key, as PEM text.
#[derive(Clone)]
pub struct IssuedCert {
    pub cert_pem: String,
    pub key_pem: String,
}

/// The cluster CA, able to issue certificates.
pub struct Ca {
    cert_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl std::fmt::Debug for Ca {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Ca")
    }
}

impl Ca {
    /// Makes a new CA valid for ten years.
    pub fn generate(common_name: &str) -> Result<(Self, String), PkiError> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name = name(common_name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let now = OffsetDateTime::now_utc();
        params.not_before = now - Duration::hours(1);
        params.not_after = now + Duration::days(3650);
        let cert = params.self_signed(&key)?;
        let key_pem = key.serialize_pem();
        let ca = Self {
            cert_pem: cert.pem(),
            issuer: Issuer::new(params, key),
        };
        Ok((ca, key_pem))
    }

    /// Writes a new CA into `dir` (`ca.pem`, and `ca-key.pem` with mode 0600); never
    /// overwrites an existing one.
    pub fn init_dir(dir: &Path) -> Result<Self, PkiError> {
        let cert_path = dir.join(CA_CERT_FILE);
        let key_path = dir.join(CA_KEY_FILE);
        for path in [&cert_path, &key_path] {
            if path.exists() {
                return Err(PkiError::Exists { path: path.clone() });
            }
        }
        let (ca, key_pem) = Self::generate("Bosun cluster CA")?;
        write_private_file(&key_path, key_pem.as_bytes()).map_err(io_err(&key_path))?;
        std::fs::write(&cert_path, ca.cert_pem.as_bytes()).map_err(io_err(&cert_path))?;
        Ok(ca)
    }

    /// Loads the CA from `dir/ca.pem` and `dir/ca-key.pem`.
    pub fn load_dir(dir: &Path) -> Result<Self, PkiError> {
        Self::load(&dir.join(CA_CERT_FILE), &dir.join(CA_KEY_FILE))
    }

    pub fn load(cert_path: &Path, key_path: &Path) -> Result<Self, PkiError> {
        let cert_pem = std::fs::read_to_string(cert_path).map_err(io_err(cert_path))?;
        let key_pem = std::fs::read_to_string(key_path).map_err(io_err(key_path))?;
        let key = KeyPair::from_pem(&key_pem).map_err(|e| PkiError::BadPem {
            path: key_path.to_path_buf(),
            what: "private key",
            reason: e.to_string(),
        })?;
        let issuer = Issuer::from_ca_cert_pem(&cert_pem, key).map_err(|e| PkiError::BadPem {
            path: cert_path.to_path_buf(),
            what: "CA certificate",
            reason: e.to_string(),
        })?;
        Ok(Self { cert_pem, issuer })
    }

    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    pub fn cert_der(&self) -> Result<CertificateDer<'static>, PkiError> {
        CertificateDer::from_pem_slice(self.cert_pem.as_bytes()).map_err(|e| PkiError::BadPem {
            path: PathBuf::from(CA_CERT_FILE),
            what: "CA certificate",
            reason: e.to_string(),
        })
    }

    /// A server certificate for every name and address the agent can be reached by.
    pub fn issue_server(
        &self,
        common_name: &str,
        dns_names: &[String],
        ips: &[IpAddr],
        days: i64,
    ) -> Result<IssuedCert, PkiError> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name = name(common_name);
        let mut sans = Vec::new();
        for dns in dns_names {
            // A name that is not a valid DNS name (a node name with spaces, say) is left
            // out rather than failing the start.
            if let Ok(ia5) = dns.as_str().try_into() {
                sans.push(SanType::DnsName(ia5));
            }
        }
        sans.extend(ips.iter().map(|ip| SanType::IpAddress(*ip)));
        params.subject_alt_names = sans;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        // Server only: a node's key must not double as a client credential.
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.sign(params, Duration::days(days))
    }

    /// A client certificate whose common name is the client's identity and whose
    /// organizational unit names its profile (`profile=NAME`), valid for `validity`.
    pub fn issue_client(
        &self,
        common_name: &str,
        profile: &str,
        validity: std::time::Duration,
    ) -> Result<IssuedCert, PkiError> {
        let validity = Duration::try_from(validity)
            .map_err(|_| PkiError::Issue("the validity is too long".into()))?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name = name(common_name);
        params.distinguished_name.push(
            DnType::OrganizationalUnitName,
            format!("{}{profile}", PROFILE_OU_PREFIX),
        );
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.sign(params, validity)
    }

    fn sign(
        &self,
        mut params: CertificateParams,
        validity: Duration,
    ) -> Result<IssuedCert, PkiError> {
        let now = OffsetDateTime::now_utc();
        // Backdated a little for clock skew; short-lived certificates less so.
        params.not_before = now - std::cmp::min(Duration::hours(1), validity / 4);
        params.not_after = now + validity;
        let mut serial = [0u8; 16];
        getrandom::fill(&mut serial)
            .map_err(|e| PkiError::Issue(format!("no randomness for a serial number: {e}")))?;
        serial[0] &= 0x7f;
        params.serial_number = Some(rcgen::SerialNumber::from_slice(&serial));
        params.use_authority_key_identifier_extension = true;
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(IssuedCert {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

/// A self-signed server certificate, for an agent that has no CA.
pub fn self_signed_server(dns_names: &[String], ips: &[IpAddr]) -> Result<IssuedCert, PkiError> {
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.distinguished_name = name("bosun-agent (self-signed)");
    let mut sans: Vec<SanType> = dns_names
        .iter()
        .filter_map(|d| d.as_str().try_into().ok().map(SanType::DnsName))
        .collect();
    sans.extend(ips.iter().map(|ip| SanType::IpAddress(*ip)));
    params.subject_alt_names = sans;
    let now = OffsetDateTime::now_utc();
    params.not_before = now - Duration::hours(1);
    params.not_after = now + Duration::days(3650);
    let cert = params.self_signed(&key)?;
    Ok(IssuedCert {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// Writes a client bundle for `DOCKER_CERT_PATH`: `ca.pem`, `cert.pem`, `key.pem` (0600).
pub fn write_client_bundle(out: &Path, ca: &Ca, client: &IssuedCert) -> Result<(), PkiError> {
    std::fs::create_dir_all(out).map_err(io_err(out))?;
    let key_path = out.join("key.pem");
    if key_path.exists() {
        return Err(PkiError::Exists { path: key_path });
    }
    write_private_file(&key_path, client.key_pem.as_bytes()).map_err(io_err(&key_path))?;
    let cert_path = out.join("cert.pem");
    std::fs::write(&cert_path, client.cert_pem.as_bytes()).map_err(io_err(&cert_path))?;
    let ca_path = out.join("ca.pem");
    std::fs::write(&ca_path, ca.cert_pem().as_bytes()).map_err(io_err(&ca_path))?;
    Ok(())
}

/// Reads every certificate of a PEM file.
pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, PkiError> {
    let bytes = std::fs::read(path).map_err(io_err(path))?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| PkiError::BadPem {
            path: path.to_path_buf(),
            what: "certificate",
            reason: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(PkiError::BadPem {
            path: path.to_path_buf(),
            what: "certificate",
            reason: "no CERTIFICATE block".into(),
        });
    }
    Ok(certs)
}

/// Reads the private key of a PEM file.
pub fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, PkiError> {
    let bytes = std::fs::read(path).map_err(io_err(path))?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| PkiError::BadPem {
        path: path.to_path_buf(),
        what: "private key",
        reason: e.to_string(),
    })
}

fn name(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    dn.push(DnType::OrganizationName, "Bosun");
    dn
}

/// What a client certificate tells the policy about its holder.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CertSubject {
    /// Shared rather than copied by every request's identity.
    pub common_name: Arc<str>,
    pub organizational_units: Vec<String>,
    /// The profile the certificate names itself (`profile=NAME`), read once.
    pub named_profile: Option<Arc<str>>,
    /// Lower-case hex, no separators.
    pub serial: Arc<str>,
}

impl CertSubject {
    /// A certificate's subject; `serial` is normalized already ([`normalize_serial`]).
    pub fn new(common_name: Arc<str>, organizational_units: Vec<String>, serial: &str) -> Self {
        let named_profile = organizational_units
            .iter()
            .find_map(|ou| ou.strip_prefix(PROFILE_OU_PREFIX))
            .map(Arc::from);
        Self {
            common_name,
            organizational_units,
            named_profile,
            serial: serial.into(),
        }
    }
}

/// The organizational unit `certs client --profile NAME` writes: `profile=NAME`.
pub const PROFILE_OU_PREFIX: &str = "profile=";

/// `ab:CD:01` and `abcd01` are one serial; leading zeros do not count.
pub fn normalize_serial(serial: &str) -> String {
    let hex: String = serial
        .chars()
        .filter(|c| *c != ':' && !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase();
    let trimmed = hex.trim_start_matches('0');
    if trimmed.is_empty() && !hex.is_empty() {
        "0".into()
    } else {
        trimmed.to_owned()
    }
}

/// The common name of a DER certificate, if it has one.
pub fn common_name(cert: &CertificateDer<'_>) -> Option<String> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref()).ok()?;
    let cn = parsed.subject().iter_common_name().next()?;
    cn.as_str().ok().map(str::to_owned)
}

/// What a client certificate says of its holder, once its chain is trusted. Refuses a
/// certificate that is not for clients only: one that also serves (a node's) is no
/// client credential, whoever signed it.
pub fn cert_subject(cert: &CertificateDer<'_>) -> Result<CertSubject, String> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref())
        .map_err(|e| format!("unreadable certificate: {e}"))?;
    let eku = parsed
        .extended_key_usage()
        .map_err(|e| format!("unreadable key usage: {e}"))?;
    match eku {
        Some(eku) if eku.value.client_auth && !eku.value.server_auth => {}
        Some(eku) if eku.value.server_auth => {
            return Err("it is a server certificate, not a client credential".into())
        }
        _ => return Err("it is not issued for client authentication".into()),
    }
    let subject = parsed.subject();
    let common_name = subject
        .iter_common_name()
        .next()
        .and_then(|a| a.as_str().ok())
        .map(Arc::from)
        .unwrap_or_else(|| "unnamed-client".into());
    let organizational_units: Vec<String> = subject
        .iter_organizational_unit()
        .filter_map(|a| a.as_str().ok().map(str::to_owned))
        .collect();
    let serial = normalize_serial(&parsed.raw_serial_as_string());
    Ok(CertSubject::new(common_name, organizational_units, &serial))
}

/// The serial number of a PEM certificate, in hex, as the policy's revocation list takes it.
pub fn serial_of_pem(pem: &str) -> Option<String> {
    let der = CertificateDer::from_pem_slice(pem.as_bytes()).ok()?;
    let (_, parsed) = x509_parser::parse_x509_certificate(der.as_ref()).ok()?;
    Some(normalize_serial(&parsed.raw_serial_as_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ca_round_trips_through_its_files_and_issues_named_clients() {
        let dir = tempfile::tempdir().expect("tempdir");
        Ca::init_dir(dir.path()).expect("init");
        assert!(matches!(
            Ca::init_dir(dir.path()),
            Err(PkiError::Exists { .. })
        ));
        let ca = Ca::load_dir(dir.path()).expect("load");
        let client = ca
            .issue_client(
                "alice",
                "admin",
                std::time::Duration::from_secs(30 * 86_400),
            )
            .expect("issue");
        let der = CertificateDer::from_pem_slice(client.cert_pem.as_bytes()).expect("pem");
        assert_eq!(common_name(&der).as_deref(), Some("alice"));
    }
}
