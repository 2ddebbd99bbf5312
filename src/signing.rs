//! Ed25519 keys (PKCS#8 / SubjectPublicKeyInfo PEM, as `openssl genpkey -algorithm ed25519`
//! writes them) and signatures: shared by report manifests and export chain anchors.

use std::path::Path;

/// A signing key could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    #[error("cannot read key {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not an Ed25519 {kind} key in PEM (make one with `openssl genpkey -algorithm ed25519 -out key.pem`, its public key with `openssl pkey -in key.pem -pubout -out pub.pem`): {message}")]
    Invalid { path: String, kind: &'static str, message: String },
}

fn read_key(path: &Path) -> Result<String, KeyError> {
    std::fs::read_to_string(path).map_err(|source| KeyError::Io { path: path.display().to_string(), source })
}

/// The signing key in `path` (PKCS#8 PEM).
pub fn signing_key(path: &Path) -> Result<ed25519_dalek::SigningKey, KeyError> {
    use ed25519_dalek::pkcs8::DecodePrivateKey;
    ed25519_dalek::SigningKey::from_pkcs8_pem(&read_key(path)?).map_err(|e| KeyError::Invalid {
        path: path.display().to_string(),
        kind: "private",
        message: e.to_string(),
    })
}

/// The public key in `path` (SubjectPublicKeyInfo PEM).
pub fn verifying_key(path: &Path) -> Result<ed25519_dalek::VerifyingKey, KeyError> {
    use ed25519_dalek::pkcs8::DecodePublicKey;
    ed25519_dalek::VerifyingKey::from_public_key_pem(&read_key(path)?).map_err(|e| KeyError::Invalid {
        path: path.display().to_string(),
        kind: "public",
        message: e.to_string(),
    })
}

/// Sign `message`: the raw 64-byte Ed25519 signature.
pub fn sign(key: &ed25519_dalek::SigningKey, message: &[u8]) -> Vec<u8> {
    use ed25519_dalek::Signer;
    key.sign(message).to_bytes().to_vec()
}

/// Whether `signature` (raw 64 bytes) is `key`'s signature of `message`.
pub fn verify(key: &ed25519_dalek::VerifyingKey, message: &[u8], signature: &[u8]) -> bool {
    ed25519_dalek::Signature::from_slice(signature).is_ok_and(|s| key.verify_strict(message, &s).is_ok())
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}

/// Bytes from hex (either case); `None` if it is not hex.
pub fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_only_with_the_right_key_and_bytes() {
        let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
        let sig = sign(&key, b"manifest");
        assert_eq!(sig.len(), 64);
        assert!(verify(&key.verifying_key(), b"manifest", &sig));
        assert!(!verify(&key.verifying_key(), b"manifesT", &sig));
        assert!(!verify(&key.verifying_key(), b"manifest", &sig[..63]));
        let other = ed25519_dalek::SigningKey::from_bytes(&[8; 32]);
        assert!(!verify(&other.verifying_key(), b"manifest", &sig));
    }

    #[test]
    fn hex_round_trips() {
        assert_eq!(hex(&[0, 0xab, 0x10]), "00ab10");
        assert_eq!(unhex("00AB10"), Some(vec![0, 0xab, 0x10]));
        assert_eq!(unhex("0g"), None);
        assert_eq!(unhex("abc"), None);
    }
}
