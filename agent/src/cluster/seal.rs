//! Sealing gossip packets: every packet is encrypted and authenticated with a key derived
//! from the cluster secret and carries the time it was sealed, so that forged, corrupted
//! and stale packets are dropped before the membership protocol sees them.
//!
//! Layout: `version (1) | unix seconds (8, big endian) | nonce (12) | ciphertext | tag (16)`;
//! the version and time are authenticated as associated data.

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};

use crate::secret::Secret;

const VERSION: u8 = 1;
const HEADER: usize = 1 + 8 + NONCE_LEN;
/// How far a packet's time may be from ours: replays older than this are dropped, and
/// clocks of the cluster's hosts may disagree this much.
pub const MAX_AGE_SECS: u64 = 60;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    #[error("packet too short or of an unknown version")]
    Malformed,
    #[error("packet sealed {0} s away from now")]
    Stale(u64),
    #[error("packet does not open with the cluster key (forged, corrupted or another cluster's)")]
    Forged,
}

pub struct Sealer {
    key: LessSafeKey,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer")
    }
}

impl Sealer {
    pub fn new(secret: &Secret) -> Self {
        let bytes = secret.derive("gossip");
        // AES-256 takes any 32-byte key, so this cannot fail.
        let key = UnboundKey::new(&AES_256_GCM, &bytes).map(LessSafeKey::new);
        Self {
            key: key.unwrap_or_else(|_| unreachable!("AES-256-GCM accepts 32-byte keys")),
        }
    }

    /// Seals `payload` at time `now` (unix seconds).
    pub fn seal(&self, payload: &[u8], now: u64) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        // Without OS randomness there is no safe nonce; the packet is then not sent.
        if getrandom::fill(&mut nonce).is_err() {
            return Vec::new();
        }
        let mut out = Vec::with_capacity(HEADER + payload.len() + 16);
        out.push(VERSION);
        out.extend_from_slice(&now.to_be_bytes());
        out.extend_from_slice(&nonce);
        let mut body = payload.to_vec();
        let aad = Aad::from(&out[..9]);
        if self
            .key
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), aad, &mut body)
            .is_err()
        {
            return Vec::new();
        }
        out.extend_from_slice(&body);
        out
    }

    /// Opens a packet received at time `now`; returns its payload.
    pub fn open<'a>(&self, packet: &'a mut [u8], now: u64) -> Result<&'a [u8], OpenError> {
        if packet.len() < HEADER + 16 || packet[0] != VERSION {
            return Err(OpenError::Malformed);
        }
        let mut time = [0u8; 8];
        time.copy_from_slice(&packet[1..9]);
        let sealed_at = u64::from_be_bytes(time);
        let age = now.abs_diff(sealed_at);
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&packet[9..HEADER]);
        let (header, body) = packet.split_at_mut(HEADER);
        let opened = self
            .key
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(&header[..9]),
                body,
            )
            .map_err(|_| OpenError::Forged)?;
        // Judged after authentication so that a forged time is reported as forged.
        if age > MAX_AGE_SECS {
            return Err(OpenError::Stale(age));
        }
        Ok(opened)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealer(s: &str) -> Sealer {
        Sealer::new(&Secret::from_text(s).expect("secret"))
    }

    #[test]
    fn a_sealed_packet_opens_with_the_same_secret_only() {
        let a = sealer("0123456789abcdef0123456789abcdef");
        let b = sealer("ffffffffffffffffffffffffffffffff");
        let mut packet = a.seal(b"hello members", 1000);
        let mut copy = packet.clone();
        assert_eq!(a.open(&mut packet, 1000), Ok(&b"hello members"[..]));
        assert_eq!(b.open(&mut copy, 1000), Err(OpenError::Forged));
    }

    #[test]
    fn tampering_and_staleness_are_caught() {
        let a = sealer("0123456789abcdef0123456789abcdef");
        let packet = a.seal(b"payload", 1000);
        for i in 0..packet.len() {
            let mut bad = packet.clone();
            bad[i] ^= 0x01;
            assert!(a.open(&mut bad, 1000).is_err(), "byte {i} flipped");
        }
        let mut old = packet.clone();
        assert_eq!(
            a.open(&mut old, 1000 + MAX_AGE_SECS + 1),
            Err(OpenError::Stale(61))
        );
        let mut fine = packet.clone();
        assert!(a.open(&mut fine, 1000 + MAX_AGE_SECS).is_ok());
        assert_eq!(a.open(&mut [1u8; 10], 1000), Err(OpenError::Malformed));
    }
}
