//! Ed25519 signing keys kept as PKCS#8: the console's key (tokens and check policies) and
//! each edge agent's key (its proof of identity when it dials the console).

use base64::Engine as _;
use jsonwebtoken::{DecodingKey, EncodingKey};

/// A private key and its public halves.
pub struct SigningKey {
    encoding: EncodingKey,
    public_raw: [u8; 32],
    public_pem: String,
}

impl SigningKey {
    /// A new key, as PKCS#8 DER.
    pub fn generate() -> Result<Vec<u8>, String> {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        aws_lc_rs::signature::Ed25519KeyPair::generate_pkcs8(&rng)
            .map(|doc| doc.as_ref().to_vec())
            .map_err(|e| e.to_string())
    }

    pub fn from_pkcs8(der: &[u8]) -> Result<Self, String> {
        use aws_lc_rs::signature::KeyPair as _;
        let pair =
            aws_lc_rs::signature::Ed25519KeyPair::from_pkcs8(der).map_err(|e| e.to_string())?;
        let public_raw: [u8; 32] = pair
            .public_key()
            .as_ref()
            .try_into()
            .map_err(|_| "an Ed25519 public key is 32 bytes".to_owned())?;
        Ok(Self {
            encoding: EncodingKey::from_ed_der(der),
            public_raw,
            public_pem: public_pem(&public_raw),
        })
    }

    pub fn encoding(&self) -> &EncodingKey {
        &self.encoding
    }

    /// The public key, 32 bytes.
    pub fn public_raw(&self) -> &[u8; 32] {
        &self.public_raw
    }

    /// The public key as a PEM SubjectPublicKeyInfo.
    pub fn public_pem(&self) -> &str {
        &self.public_pem
    }
}

/// A PEM SubjectPublicKeyInfo of a raw Ed25519 public key.
pub fn public_pem(raw: &[u8; 32]) -> String {
    // SubjectPublicKeyInfo for Ed25519: a fixed prefix and the 32-byte key.
    let mut spki = vec![
        0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
    ];
    spki.extend_from_slice(raw);
    let b64 = base64::engine::general_purpose::STANDARD.encode(&spki);
    format!("-----BEGIN PUBLIC KEY-----\n{b64}\n-----END PUBLIC KEY-----\n")
}

/// What verifies signatures of the key whose public half is `raw`.
pub fn verifier(raw: &[u8; 32]) -> DecodingKey {
    DecodingKey::from_ed_der(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_key_loads_with_the_same_public_half() {
        let der = SigningKey::generate().unwrap();
        let a = SigningKey::from_pkcs8(&der).unwrap();
        let b = SigningKey::from_pkcs8(&der).unwrap();
        assert_eq!(a.public_raw(), b.public_raw());
        assert!(a
            .public_pem()
            .starts_with("-----BEGIN PUBLIC KEY-----\nMCowBQYDK2Vw"));
        assert!(SigningKey::from_pkcs8(b"not a key").is_err());
    }
}
