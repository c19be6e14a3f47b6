//! Signed payloads: HMAC-SHA256 over a whole frame, with the id of the key
//! that made it, so that a receiver holding the key refuses anything its
//! holders did not write.
//!
//! The tag of a signed frame (see [`dfship_wire`]) is the signing key's id
//! followed by HMAC-SHA256, under that key, of every byte before the MAC:
//! the frame's header, its body and the key id. A key id is the first
//! [`KEY_ID_LEN`] bytes of SHA-256 of a fixed label and the key: it names a
//! key without revealing it.
//!
//! A session with keys signs with its current key and, on decode, accepts
//! frames signed with its current key or any of its previous ones
//! (rotation). It refuses an unsigned frame, a frame signed with a key it
//! does not hold and a frame whose MAC does not match, before any of the
//! body is decoded. MACs are compared in constant time, and keys appear in
//! no error, `Debug` output or log: only their ids do.

use std::fmt;
use std::sync::Arc;

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

use super::error::CodecError;
use dfship_wire::{Frame, TAG_LEN};

/// Bytes of a key id at the start of a tag.
pub const KEY_ID_LEN: usize = 8;
/// Bytes of the MAC after the key id.
pub const MAC_LEN: usize = TAG_LEN - KEY_ID_LEN;
const KEY_ID_LABEL: &[u8] = b"dfship payload key id\0";

type HmacSha256 = Hmac<Sha256>;

/// One key: its bytes and its id.
struct PayloadKey {
    id: [u8; KEY_ID_LEN],
    secret: Vec<u8>,
}

impl PayloadKey {
    fn new(secret: &[u8]) -> Result<Self, CodecError> {
        if secret.is_empty() {
            return Err(CodecError::BadKey("a payload key must not be empty".into()));
        }
        let digest = Sha256::new().chain_update(KEY_ID_LABEL).chain_update(secret).finalize();
        let mut id = [0; KEY_ID_LEN];
        id.copy_from_slice(&digest[..KEY_ID_LEN]);
        Ok(Self { id, secret: secret.to_vec() })
    }

    fn mac(&self) -> HmacSha256 {
        // HMAC takes keys of any length.
        <HmacSha256 as KeyInit>::new_from_slice(&self.secret).unwrap_or_else(|_| unreachable!())
    }
}

impl Drop for PayloadKey {
    fn drop(&mut self) {
        // Best effort: do not leave the key in freed memory.
        self.secret.fill(0);
        std::hint::black_box(&self.secret);
    }
}

/// The keys of a session: the one it signs with and every one it accepts.
#[derive(Clone)]
pub struct PayloadKeys {
    current: Arc<PayloadKey>,
    previous: Arc<[PayloadKey]>,
}

impl PayloadKeys {
    /// Signs with `current`; accepts `current` and every key of `previous`.
    pub fn new(current: &[u8], previous: &[&[u8]]) -> Result<Self, CodecError> {
        let previous = previous.iter().map(|k| PayloadKey::new(k)).collect::<Result<Vec<_>, _>>()?;
        Ok(Self { current: Arc::new(PayloadKey::new(current)?), previous: previous.into() })
    }

    /// The id of the signing key, as hex.
    pub fn key_id(&self) -> String {
        hex(&self.current.id)
    }

    /// The ids of the keys accepted besides the signing key, as hex.
    pub fn previous_key_ids(&self) -> Vec<String> {
        self.previous.iter().map(|k| hex(&k.id)).collect()
    }

    /// The tag for a frame whose bytes so far are `signed`.
    pub fn tag(&self, signed: &[u8]) -> [u8; TAG_LEN] {
        self.tag_parts(&[signed])
    }

    /// The tag over the concatenation of `parts`: for messages signed
    /// outside a frame, such as the requests that carry plans to workers.
    pub fn tag_parts(&self, parts: &[&[u8]]) -> [u8; TAG_LEN] {
        let key = &self.current;
        let mut mac = key.mac();
        for part in parts {
            mac.update(part);
        }
        mac.update(&key.id);
        let mut tag = [0; TAG_LEN];
        tag[..KEY_ID_LEN].copy_from_slice(&key.id);
        tag[KEY_ID_LEN..].copy_from_slice(&mac.finalize().into_bytes());
        tag
    }

    /// Checks that `frame` is signed by one of these keys.
    pub fn verify(&self, frame: &Frame<'_>) -> Result<(), CodecError> {
        self.verify_parts(&[frame.signed_bytes], frame.tag)
    }

    /// Checks that `tag` was made by [`Self::tag_parts`] over `parts` with
    /// one of these keys; `None` is an unsigned message.
    pub fn verify_parts(&self, parts: &[&[u8]], tag: Option<&[u8]>) -> Result<(), CodecError> {
        let Some(tag) = tag else {
            return Err(CodecError::Unsigned { key_id: self.key_id() });
        };
        if tag.len() != TAG_LEN {
            return Err(CodecError::BadSignature { key_id: hex(&tag[..tag.len().min(KEY_ID_LEN)]) });
        }
        let (id, mac) = tag.split_at(KEY_ID_LEN);
        let key = std::iter::once(self.current.as_ref())
            .chain(self.previous.iter())
            .find(|k| k.id == id)
            .ok_or_else(|| CodecError::UnknownKey { found: hex(id), accepted: self.accepted_ids() })?;
        let mut check = key.mac();
        for part in parts {
            check.update(part);
        }
        check.update(&key.id);
        // `verify_slice` compares in constant time.
        check.verify_slice(mac).map_err(|_| CodecError::BadSignature { key_id: hex(id) })
    }

    fn accepted_ids(&self) -> Vec<String> {
        std::iter::once(self.key_id()).chain(self.previous_key_ids()).collect()
    }
}

impl fmt::Debug for PayloadKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PayloadKeys")
            .field("key_id", &self.key_id())
            .field("previous", &self.previous_key_ids())
            .finish()
    }
}

impl PartialEq for PayloadKeys {
    fn eq(&self, other: &Self) -> bool {
        self.accepted_ids() == other.accepted_ids()
    }
}

impl Eq for PayloadKeys {}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use dfship_wire::{MAGIC_LOGICAL_EXPR, read_frame, write_frame};

    fn read(bytes: &[u8]) -> Result<Frame<'_>, CodecError> {
        read_frame(bytes, &[MAGIC_LOGICAL_EXPR], 1 << 20).map_err(CodecError::from)
    }

    fn signed(keys: &PayloadKeys, body: &[u8]) -> Vec<u8> {
        let sign = |bytes: &[u8]| keys.tag(bytes);
        write_frame(MAGIC_LOGICAL_EXPR, 0, body, Some(&sign))
    }

    #[test]
    fn hmac_matches_rfc_4231_case_2() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let mut mac = <HmacSha256 as KeyInit>::new_from_slice(b"Jefe").unwrap_or_else(|_| unreachable!());
        mac.update(b"what do ya want for nothing?");
        assert_eq!(
            hex(&mac.finalize().into_bytes()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn round_trip_rotation_and_refusals() {
        let old = PayloadKeys::new(b"old key", &[]).unwrap_or_else(|_| unreachable!());
        let new = PayloadKeys::new(b"new key", &[b"old key"]).unwrap_or_else(|_| unreachable!());
        let other = PayloadKeys::new(b"someone else", &[]).unwrap_or_else(|_| unreachable!());
        let frame = signed(&new, b"body");
        assert!(new.verify(&read(&frame).unwrap_or_else(|_| unreachable!())).is_ok());
        // Rotation: the new session still accepts the old key's frames; the
        // old session does not accept the new key's.
        let by_old = signed(&old, b"body");
        assert!(new.verify(&read(&by_old).unwrap_or_else(|_| unreachable!())).is_ok());
        let refused = old.verify(&read(&frame).unwrap_or_else(|_| unreachable!()));
        assert!(matches!(refused, Err(CodecError::UnknownKey { .. })), "{refused:?}");
        assert!(matches!(
            other.verify(&read(&frame).unwrap_or_else(|_| unreachable!())),
            Err(CodecError::UnknownKey { .. })
        ));
        let unsigned = write_frame(MAGIC_LOGICAL_EXPR, 0, b"body", None);
        assert!(matches!(
            new.verify(&read(&unsigned).unwrap_or_else(|_| unreachable!())),
            Err(CodecError::Unsigned { .. })
        ));
    }

    #[test]
    fn every_tampered_byte_is_refused() {
        let keys = PayloadKeys::new(b"k", &[]).unwrap_or_else(|_| unreachable!());
        let frame = signed(&keys, b"some body bytes");
        let check_at = frame.len() - 4;
        for i in 0..check_at {
            for bit in 0..8 {
                let mut bad = frame.clone();
                bad[i] ^= 1 << bit;
                // Re-seal the CRC, as an attacker would.
                let crc = crc32fast::hash(&bad[..check_at]);
                bad[check_at..].copy_from_slice(&crc.to_le_bytes());
                let outcome = read_frame(&bad, &[MAGIC_LOGICAL_EXPR], 1 << 20)
                    .map_err(CodecError::from)
                    .and_then(|f| keys.verify(&f));
                assert!(outcome.is_err(), "flipping bit {bit} of byte {i} went unnoticed");
            }
        }
    }

    #[test]
    fn keys_never_show() {
        let keys = PayloadKeys::new(b"super secret", &[b"older secret"]).unwrap_or_else(|_| unreachable!());
        let shown = format!("{keys:?}");
        assert!(!shown.contains("secret") && shown.contains(&keys.key_id()), "{shown}");
        assert!(PayloadKeys::new(b"", &[]).is_err());
    }
}
