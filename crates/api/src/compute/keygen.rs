//! Keypair generation for `POST /os-keypairs` without a `public_key` (microversions before
//! 2.92, where Nova still generates keys). The private half goes back to the caller once and
//! is never stored, as in Nova.
//!
//! Nova generates RSA keys; orrery generates Ed25519 ones, which every current OpenSSH and TLS
//! stack reads and which need no big-number arithmetic:
//! - `ssh`: an `ssh-ed25519` public key line and an OpenSSH (`openssh-key-v1`) private key;
//! - `x509`: a self-signed certificate for `CN={user id}` valid for ten years with the
//!   client-authentication key usage (Nova's WinRM certificate), and a PKCS#8 private key.

use std::time::{SystemTime, UNIX_EPOCH};

use ed25519_dalek::{Signer, SigningKey};

/// A generated keypair: what Nova stores as the public key, and the private key in PEM.
pub struct Generated {
    /// An OpenSSH public key line, or a PEM certificate.
    pub public_key: String,
    /// The private key, PEM-armoured.
    pub private_key: String,
}

/// The comment Nova puts on the keys it generates.
const COMMENT: &str = "Generated-by-Nova";

/// Fresh key material from the operating system.
fn signing_key() -> Result<SigningKey, getrandom::Error> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed)?;
    Ok(SigningKey::from_bytes(&seed))
}

/// A new SSH keypair.
pub fn ssh() -> Result<Generated, getrandom::Error> {
    let key = signing_key()?;
    let public = key.verifying_key().to_bytes();
    let mut blob = Vec::new();
    ssh_string(&mut blob, b"ssh-ed25519");
    ssh_string(&mut blob, &public);
    let mut check = [0u8; 4];
    getrandom::fill(&mut check)?;
    let mut private = Vec::new();
    private.extend_from_slice(&check);
    private.extend_from_slice(&check);
    ssh_string(&mut private, b"ssh-ed25519");
    ssh_string(&mut private, &public);
    let mut both = key.to_bytes().to_vec();
    both.extend_from_slice(&public);
    ssh_string(&mut private, &both);
    ssh_string(&mut private, COMMENT.as_bytes());
    let mut pad = 1u8;
    while private.len() % 8 != 0 {
        private.push(pad);
        pad += 1;
    }
    let mut file = b"openssh-key-v1\0".to_vec();
    ssh_string(&mut file, b"none");
    ssh_string(&mut file, b"none");
    ssh_string(&mut file, b"");
    file.extend_from_slice(&1u32.to_be_bytes());
    ssh_string(&mut file, &blob);
    ssh_string(&mut file, &private);
    Ok(Generated { public_key: format!("ssh-ed25519 {} {COMMENT}", base64(&blob)), private_key: pem("OPENSSH PRIVATE KEY", &file, 70) })
}

/// A new self-signed X.509 certificate for `user`, and its key.
pub fn x509(user: &str) -> Result<Generated, getrandom::Error> {
    let key = signing_key()?;
    let mut serial = [0u8; 9];
    getrandom::fill(&mut serial[1..])?;
    serial[1] &= 0x7f;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    const TEN_YEARS: u64 = 3650 * 86_400;
    let name = der(0x30, &der(0x31, &der(0x30, &[der(0x06, &[0x55, 0x04, 0x03]), der(0x0c, user.as_bytes())].concat())));
    let spki = der(0x30, &[algorithm(), der(0x03, &[&[0u8][..], &key.verifying_key().to_bytes()].concat())].concat());
    let client_auth = der(0x30, &der(0x06, &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x02]));
    let eku = der(0x30, &[der(0x06, &[0x55, 0x1d, 0x25]), der(0x04, &client_auth)].concat());
    let tbs = der(
        0x30,
        &[
            der(0xa0, &der(0x02, &[2])),
            der(0x02, &serial[1..]),
            algorithm(),
            name.clone(),
            der(0x30, &[time(now), time(now + TEN_YEARS)].concat()),
            name,
            spki,
            der(0xa3, &der(0x30, &eku)),
        ]
        .concat(),
    );
    let signature = key.sign(&tbs).to_bytes();
    let cert = der(0x30, &[tbs, algorithm(), der(0x03, &[&[0u8][..], &signature].concat())].concat());
    let pkcs8 = der(0x30, &[der(0x02, &[0]), algorithm(), der(0x04, &der(0x04, &key.to_bytes()))].concat());
    Ok(Generated { public_key: pem("CERTIFICATE", &cert, 64), private_key: pem("PRIVATE KEY", &pkcs8, 64) })
}

/// The Ed25519 algorithm identifier (OID 1.3.101.112, no parameters).
fn algorithm() -> Vec<u8> {
    der(0x30, &der(0x06, &[0x2b, 0x65, 0x70]))
}

/// A DER element: tag, definite length, content.
fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let n = content.len();
    if n < 0x80 {
        out.push(n as u8);
    } else {
        let bytes: Vec<u8> = n.to_be_bytes().into_iter().skip_while(|&b| b == 0).collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend_from_slice(&bytes);
    }
    out.extend_from_slice(content);
    out
}

/// A UTCTime (`YYMMDDHHMMSSZ`) for a moment before 2050, else a GeneralizedTime.
fn time(secs: u64) -> Vec<u8> {
    let text = crate::util::iso(orrery_kernel::Time::from_secs(secs));
    let digits: String = text.chars().filter(char::is_ascii_digit).collect();
    let year: u32 = digits[..4].parse().unwrap_or(0);
    if year < 2050 {
        der(0x17, format!("{}Z", &digits[2..]).as_bytes())
    } else {
        der(0x18, format!("{digits}Z").as_bytes())
    }
}

/// An SSH wire-format string: a 32-bit big-endian length, then the bytes.
fn ssh_string(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
    out.extend_from_slice(bytes);
}

/// Standard base64 with padding.
pub fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// PEM armour with lines of `width` characters.
fn pem(label: &str, der: &[u8], width: usize) -> String {
    let text = base64(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in text.as_bytes().chunks(width) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::{Signature, Verifier, VerifyingKey};

    use super::*;
    use crate::compute::keypairs::{ssh_fingerprint, x509_fingerprint};

    #[test]
    fn base64_pads_like_the_standard() {
        assert_eq!(
            (base64(b""), base64(b"f"), base64(b"fo"), base64(b"foo"), base64(b"foob")),
            ("".into(), "Zg==".into(), "Zm8=".into(), "Zm9v".into(), "Zm9vYg==".into())
        );
    }

    #[test]
    fn der_lengths_use_the_long_form_past_127() {
        assert_eq!(der(0x04, &[1, 2]), vec![0x04, 2, 1, 2]);
        assert_eq!(&der(0x04, &[0; 200])[..3], &[0x04, 0x81, 200]);
        assert_eq!(&der(0x04, &[0; 300])[..4], &[0x04, 0x82, 0x01, 0x2c]);
    }

    #[test]
    fn ssh_keys_are_fresh_parse_as_openssh_and_have_a_fingerprint() {
        let (a, b) = (ssh().unwrap(), ssh().unwrap());
        assert_ne!(a.public_key, b.public_key);
        assert!(a.public_key.starts_with("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5") && a.public_key.ends_with(" Generated-by-Nova"));
        assert!(ssh_fingerprint(&a.public_key).is_some());
        assert!(a.private_key.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjE"), "{}", a.private_key);
        assert!(a.private_key.lines().all(|l| l.len() <= 70));
    }

    #[test]
    fn certificates_are_signed_by_their_own_key() {
        let g = x509("8d1fa2c4").unwrap();
        assert!(x509_fingerprint(&g.public_key).is_some());
        let body: String = g.public_key.lines().filter(|l| !l.starts_with("-----")).collect();
        let cert = crate::compute::keypairs::base64_decode(&body).unwrap();
        // The certificate is SEQUENCE { tbs, algorithm, BIT STRING signature }; read the tbs
        // back by its length and check the signature with the key inside it.
        assert_eq!(cert[0], 0x30);
        let tbs_start = if cert[1] & 0x80 != 0 { 2 + (cert[1] & 0x7f) as usize } else { 2 };
        let tbs_len_bytes = if cert[tbs_start + 1] & 0x80 != 0 { (cert[tbs_start + 1] & 0x7f) as usize } else { 0 };
        let tbs_len = cert[tbs_start + 2..tbs_start + 2 + tbs_len_bytes].iter().fold(0usize, |n, &b| n << 8 | b as usize);
        let tbs = &cert[tbs_start..tbs_start + 2 + tbs_len_bytes + tbs_len];
        let signature = Signature::from_slice(&cert[cert.len() - 64..]).unwrap();
        let spki = tbs.windows(5).position(|w| w == [0x2b, 0x65, 0x70, 0x03, 0x21]).map(|i| i + 6).expect("the key's bit string");
        let key = VerifyingKey::from_bytes(tbs[spki..spki + 32].try_into().unwrap()).unwrap();
        assert!(key.verify(tbs, &signature).is_ok());
        assert!(tbs.windows(8).any(|w| w == b"8d1fa2c4"), "CN is the user");
        assert!(g.private_key.starts_with("-----BEGIN PRIVATE KEY-----\n"));
    }
}
