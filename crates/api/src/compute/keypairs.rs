//! Compute API: keypairs (`os-keypairs`). Keys are imported, or generated before 2.92 (see
//! [`keygen`]): the API checks the public key, computes its fingerprint (MD5 of an SSH key
//! blob, SHA-1 of an X.509 certificate, as Nova does) and passes both to the kernel.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use orrery_kernel::compute::keypairs::{self as kkeypairs, Cmd, KeyType, Keypair};
use orrery_kernel::compute::{self as kcompute};
use orrery_kernel::{Command, Error, Uuid};
use serde::Deserialize;
use serde_json::{json, Value};

use super::keygen;
use super::versions::{apply, ask, auth, layer, read, Microversion};
use crate::error::{ApiError, Service};
use crate::util::{iso_micros, parse_json};
use crate::AppState;
use orrery_kernel::ask::compute as kask;

const S: Service = Service::Compute;

/// Routes for keypairs.
pub fn routes() -> Router<AppState> {
    layer(Router::new().route("/v2.1/os-keypairs", get(list).post(create)).route("/v2.1/os-keypairs/{name}", get(show).delete(delete)))
}

fn summary(kp: &Keypair, mv: Microversion) -> Value {
    let mut o = json!({"name": kp.name, "public_key": kp.public_key, "fingerprint": kp.fingerprint});
    if mv.at_least(2) {
        o["type"] = json!(kp.kind.name());
    }
    o
}

fn full(kp: &Keypair, mv: Microversion) -> Value {
    let mut o = summary(kp, mv);
    o["user_id"] = json!(kp.user.simple());
    o["id"] = json!(kp.id);
    o["created_at"] = json!(iso_micros(kp.created_at));
    o["updated_at"] = Value::Null;
    o["deleted_at"] = Value::Null;
    o["deleted"] = json!(false);
    o
}

/// The `user_id` query parameter (2.10+), else the caller.
fn user_param(q: &BTreeMap<String, String>, mv: Microversion) -> Result<Option<Uuid>, ApiError> {
    match q.get("user_id") {
        Some(u) if mv.at_least(10) => u.parse().map(Some).map_err(|_| ApiError::not_found(S, format!("User {u} could not be found."))),
        _ => Ok(None),
    }
}

async fn list(State(s): State<AppState>, mv: Microversion, h: HeaderMap, Query(q): Query<BTreeMap<String, String>>) -> Result<Json<Value>, ApiError> {
    let user = user_param(&q, mv)?;
    let paged = mv.at_least(35);
    let limit = match q.get("limit") {
        Some(l) if paged => Some(l.parse::<usize>().map_err(|_| ApiError::bad_request(S, format!("Invalid input for query parameters limit. Value: {l}.")))?),
        _ => None,
    };
    let marker = q.get("marker").filter(|_| paged).cloned();
    let (owner, kps) = read(&s, S, auth(&h, S)?, move |k, c| {
        let owner = kkeypairs::owner(c, user)?;
        if let Some(m) = &marker {
            kkeypairs::find(k, &owner, m).map_err(|_| Error::bad_request("compute.bad_request", format!("marker [{m}] not found")))?;
        }
        let all = kkeypairs::of_user(k, &owner).filter(|kp| marker.as_ref().is_none_or(|m| &kp.name > m));
        Ok((owner, all.take(limit.unwrap_or(usize::MAX)).cloned().collect::<Vec<_>>()))
    })
    .await?;
    let mut body = json!({"keypairs": kps.iter().map(|kp| json!({"keypair": summary(kp, mv)})).collect::<Vec<_>>()});
    if let (Some(l), Some(last)) = (limit, kps.last()) {
        if kps.len() == l {
            let mut href = format!("{}/compute/v2.1/os-keypairs?limit={l}&marker={}", s.site.base_url, last.name);
            if user.is_some() {
                href.push_str(&format!("&user_id={}", owner.simple()));
            }
            body["keypairs_links"] = json!([{"rel": "next", "href": href}]);
        }
    }
    Ok(Json(body))
}

async fn show(
    State(s): State<AppState>,
    mv: Microversion,
    h: HeaderMap,
    Path(name): Path<String>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let user = user_param(&q, mv)?;
    let kp = read(&s, S, auth(&h, S)?, move |k, c| {
        let owner = kkeypairs::owner(c, user)?;
        kkeypairs::find(k, &owner, &name).cloned()
    })
    .await?;
    Ok(Json(json!({"keypair": full(&kp, mv)})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    keypair: CreateKeypair,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateKeypair {
    name: String,
    #[serde(default)]
    public_key: Option<String>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    user_id: Option<String>,
}

async fn create(State(s): State<AppState>, mv: Microversion, h: HeaderMap, body: Bytes) -> Result<Response, ApiError> {
    let a = auth(&h, S)?;
    let b = parse_json::<CreateBody>(S, &body)?.keypair;
    let unexpected =
        |f: &str| ApiError::bad_request(S, format!("Invalid input for field/attribute keypair. Additional properties are not allowed ('{f}' was unexpected)"));
    if b.kind.is_some() && !mv.at_least(2) {
        return Err(unexpected("type"));
    }
    if b.user_id.is_some() && !mv.at_least(10) {
        return Err(unexpected("user_id"));
    }
    if b.name.contains('@') && !mv.at_least(92) {
        let n = &b.name;
        return Err(ApiError::bad_request(S, format!("Invalid input for field/attribute name. Value: {n}. '{n}' does not match '^[_\\- a-zA-Z0-9]+$'")));
    }
    if b.public_key.is_none() && mv.at_least(92) {
        return Err(ApiError::bad_request(S, "Invalid input for field/attribute keypair. Value: <omitted>. 'public_key' is a required property"));
    }
    let kind = match b.kind.as_deref() {
        None | Some("ssh") => KeyType::Ssh,
        Some("x509") => KeyType::X509,
        Some(other) => {
            return Err(ApiError::bad_request(S, format!("Invalid input for field/attribute type. Value: {other}. '{other}' is not one of ['ssh', 'x509']")))
        }
    };
    let (public_key, private_key) = match b.public_key {
        Some(k) => (k, None),
        None => {
            let g = generate(&s, &a, kind, b.user_id.as_deref()).await?;
            (g.public_key, Some(g.private_key))
        }
    };
    let fingerprint = match kind {
        KeyType::Ssh => ssh_fingerprint(&public_key),
        KeyType::X509 => x509_fingerprint(&public_key),
    }
    .ok_or_else(|| ApiError::bad_request(S, "Keypair data is invalid: failed to generate fingerprint"))?;
    let user = b
        .user_id
        .as_deref()
        .map(|u| {
            u.parse::<Uuid>().map_err(|_| ApiError::bad_request(S, format!("Invalid input for field/attribute user_id. Value: {u}. It is not a user id.")))
        })
        .transpose()?;
    let kp = ask(&s, S, a, kask::create_keypair(user, b.name, public_key, fingerprint, kind)).await?;
    let mut o = summary(&kp, mv);
    o["user_id"] = json!(kp.user.simple());
    if let Some(p) = private_key {
        o["private_key"] = json!(p);
    }
    let status = if mv.at_least(2) { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(json!({"keypair": o}))).into_response())
}

/// Generates a keypair of `kind` (before 2.92) for the caller, or for `user` when an admin names
/// one; an X.509 certificate names its owner.
async fn generate(s: &AppState, a: &orrery_kernel::Auth, kind: KeyType, user: Option<&str>) -> Result<keygen::Generated, ApiError> {
    let failed = |e: getrandom::Error| ApiError::new(S, Error::internal("compute.random", format!("The system's random source failed: {e}")));
    match kind {
        KeyType::Ssh => keygen::ssh().map_err(failed),
        KeyType::X509 => {
            let owner = match user {
                Some(u) => u.to_string(),
                None => read(s, S, a.clone(), |_, c| Ok(c.user.simple())).await?,
            };
            keygen::x509(&owner).map_err(failed)
        }
    }
}

async fn delete(
    State(s): State<AppState>,
    mv: Microversion,
    h: HeaderMap,
    Path(name): Path<String>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Result<StatusCode, ApiError> {
    let user = user_param(&q, mv)?;
    apply(&s, S, auth(&h, S)?, Command::Compute(kcompute::Cmd::Keypair(Cmd::Delete { user, name }))).await?;
    Ok(if mv.at_least(2) { StatusCode::NO_CONTENT } else { StatusCode::ACCEPTED })
}

/// Key types an OpenSSH public key line may start with.
const SSH_TYPES: &[&str] = &[
    "ssh-rsa",
    "ssh-dss",
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
];

/// The MD5 fingerprint (`aa:bb:…`) of an OpenSSH public key line, if it is one: a known type,
/// base64 data, and a blob whose embedded type matches.
pub fn ssh_fingerprint(line: &str) -> Option<String> {
    let mut words = line.split_whitespace();
    let (kind, data) = (words.next()?, words.next()?);
    if !SSH_TYPES.contains(&kind) {
        return None;
    }
    let blob = base64_decode(data)?;
    let len = u32::from_be_bytes(blob.get(0..4)?.try_into().ok()?) as usize;
    if blob.get(4..4 + len)? != kind.as_bytes() {
        return None;
    }
    Some(colon_hex(&md5(&blob)))
}

/// The SHA-1 fingerprint of a PEM certificate, if it is one.
pub fn x509_fingerprint(pem: &str) -> Option<String> {
    let body = pem.split("-----BEGIN CERTIFICATE-----").nth(1)?.split("-----END CERTIFICATE-----").next()?;
    let der = base64_decode(&body.split_whitespace().collect::<String>())?;
    if der.first() != Some(&0x30) {
        return None;
    }
    Some(colon_hex(&sha1(&der)))
}

fn colon_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

/// Standard base64 with padding.
pub(crate) fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let t = text.trim_end_matches('=');
    if text.len() & 3 != 0 || text.len() - t.len() > 2 {
        return None;
    }
    let val = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let mut out = Vec::with_capacity(t.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0);
    for c in t.bytes() {
        acc = (acc << 6) | u32::from(val(c)?);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

/// Splits a message into 64-byte blocks with MD-style padding; `big` picks the length's endianness.
fn padded(data: &[u8], big: bool) -> Vec<u8> {
    let mut m = data.to_vec();
    m.push(0x80);
    while m.len() % 64 != 56 {
        m.push(0);
    }
    let bits = (data.len() as u64).wrapping_mul(8);
    m.extend_from_slice(&if big { bits.to_be_bytes() } else { bits.to_le_bytes() });
    m
}

/// MD5 (RFC 1321), for fingerprints only.
fn md5(data: &[u8]) -> [u8; 16] {
    const SHIFT: [u32; 16] = [7, 12, 17, 22, 5, 9, 14, 20, 4, 11, 16, 23, 6, 10, 15, 21];
    let k: Vec<u32> = (0..64).map(|i| ((i as f64 + 1.0).sin().abs() * 4_294_967_296.0) as u32).collect();
    let mut h: [u32; 4] = [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476];
    for chunk in padded(data, false).chunks(64) {
        let w: Vec<u32> = chunk.chunks(4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
        let [mut a, mut b, mut c, mut d] = h;
        for i in 0..64 {
            let (f, g) = match i / 16 {
                0 => ((b & c) | (!b & d), i),
                1 => ((d & b) | (!d & c), (5 * i + 1) % 16),
                2 => (b ^ c ^ d, (3 * i + 5) % 16),
                _ => (c ^ (b | !d), (7 * i) % 16),
            };
            let s = SHIFT[(i / 16) * 4 + i % 4];
            let t = d;
            d = c;
            c = b;
            b = b.wrapping_add(a.wrapping_add(f).wrapping_add(k[i]).wrapping_add(w[g]).rotate_left(s));
            a = t;
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d]) {
            *x = x.wrapping_add(y);
        }
    }
    let mut out = [0u8; 16];
    for (i, v) in h.iter().enumerate() {
        out[i * 4..i * 4 + 4].copy_from_slice(&v.to_le_bytes());
    }
    out
}

/// SHA-1 (FIPS 180-4), for X.509 fingerprints only.
fn sha1(data: &[u8]) -> [u8; 20] {
    let mut h: [u32; 5] = [0x6745_2301, 0xEFCD_AB89, 0x98BA_DCFE, 0x1032_5476, 0xC3D2_E1F0];
    for chunk in padded(data, true).chunks(64) {
        let mut w = [0u32; 80];
        for i in 0..16 {
            w[i] = u32::from_be_bytes([chunk[4 * i], chunk[4 * i + 1], chunk[4 * i + 2], chunk[4 * i + 3]]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (i, wi) in w.iter().enumerate() {
            let (f, k) = match i / 20 {
                0 => ((b & c) | (!b & d), 0x5A82_7999),
                1 => (b ^ c ^ d, 0x6ED9_EBA1),
                2 => ((b & c) | (b & d) | (c & d), 0x8F1B_BCDC),
                _ => (b ^ c ^ d, 0xCA62_C1D6),
            };
            let t = a.rotate_left(5).wrapping_add(f).wrapping_add(e).wrapping_add(k).wrapping_add(*wi);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = t;
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e]) {
            *x = x.wrapping_add(y);
        }
    }
    let mut out = [0u8; 20];
    for (i, v) in h.iter().enumerate() {
        out[i * 4..i * 4 + 4].copy_from_slice(&v.to_be_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn digests_match_known_vectors() {
        assert_eq!(hex(&md5(b"")), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(hex(&md5(b"The quick brown fox jumps over the lazy dog")), "9e107d9d372bb6826bd81d3542a419d6");
        assert_eq!(hex(&md5(&[b'a'; 100])), "36a92cc94a9e0fa21f625f8bfb007adf");
        assert_eq!(hex(&sha1(b"abc")), "a9993e364706816aba3e25717850c26c9cd0d89d");
        assert_eq!(hex(&sha1(&[b'a'; 100])), "7f9000257a4918d7072655ea468540cdcbd42e0c");
        assert_eq!(base64_decode("aGVsbG8="), Some(b"hello".to_vec()));
        assert_eq!(base64_decode("aGVsbG8"), None);
    }

    #[test]
    fn ssh_fingerprint_is_md5_of_the_blob() {
        // A blob holding only its type string: "\0\0\0\x0bssh-ed25519".
        let line = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5 me@host";
        let blob = base64_decode("AAAAC3NzaC1lZDI1NTE5").unwrap();
        assert_eq!(ssh_fingerprint(line), Some(colon_hex(&md5(&blob))));
        assert_eq!(ssh_fingerprint("ssh-rsa AAAAC3NzaC1lZDI1NTE5"), None);
        assert_eq!(ssh_fingerprint("not a key"), None);
        assert_eq!(ssh_fingerprint(""), None);
    }
}

#[cfg(test)]
mod http_tests {
    use serde_json::json;

    use crate::compute::versions::testkit::*;

    const KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHSMSu0y6xIuKnzv5YIY4Q7SfP1tcFWVdqfxu0b0fV8x me@laptop";

    #[tokio::test]
    async fn import_list_show_delete_by_microversion() {
        let app = app();
        let body = format!(r#"{{"keypair": {{"name": "k1", "public_key": "{KEY}"}}}}"#);
        let r = send(&app, "POST", "/compute/v2.1/os-keypairs", P1, "2.1", &body).await;
        assert_eq!(r.status, 200);
        assert!(r.body["keypair"].get("type").is_none());
        let fp = r.body["keypair"]["fingerprint"].as_str().unwrap().to_string();
        assert_eq!(fp.len(), 47);
        let body = format!(r#"{{"keypair": {{"name": "k2", "public_key": "{KEY}", "type": "ssh"}}}}"#);
        let r = send(&app, "POST", "/compute/v2.1/os-keypairs", P1, "2.79", &body).await;
        assert_eq!((r.status.as_u16(), r.body["keypair"]["type"].clone()), (201, json!("ssh")));
        let r = send(&app, "POST", "/compute/v2.1/os-keypairs", P1, "2.79", &body).await;
        assert_eq!(r.status, 409);
        let r = get_mv(&app, "/compute/v2.1/os-keypairs?limit=1", P1, "2.79").await;
        assert_eq!(r.body["keypairs"].as_array().unwrap().len(), 1);
        assert_eq!(r.body["keypairs"][0]["keypair"]["name"], "k1");
        assert!(r.body["keypairs_links"][0]["href"].as_str().unwrap().contains("marker=k1"));
        assert_eq!(get(&app, "/compute/v2.1/os-keypairs", P2).await.body["keypairs"], json!([]));
        let r = get_mv(&app, "/compute/v2.1/os-keypairs/k1", P1, "2.79").await;
        assert_eq!((r.body["keypair"]["fingerprint"].as_str(), r.body["keypair"]["deleted"].clone()), (Some(fp.as_str()), json!(false)));
        assert_eq!(get(&app, "/compute/v2.1/os-keypairs/k1", P2).await.status, 404);
        assert_eq!(send(&app, "DELETE", "/compute/v2.1/os-keypairs/k1", P1, "2.79", "").await.status, 204);
        assert_eq!(send(&app, "DELETE", "/compute/v2.1/os-keypairs/k2", P1, "2.1", "").await.status, 202);
    }

    #[tokio::test]
    async fn bad_keys_unknown_fields_generation_and_quota() {
        let app = app();
        let r = send(&app, "POST", "/compute/v2.1/os-keypairs", P1, "2.79", r#"{"keypair": {"name": "k", "public_key": "ssh-rsa garbage"}}"#).await;
        assert_eq!(r.body["badRequest"]["message"], "Keypair data is invalid: failed to generate fingerprint");
        let r = send(&app, "POST", "/compute/v2.1/os-keypairs", P1, "2.1", &format!(r#"{{"keypair": {{"name": "k", "public_key": "{KEY}", "type": "ssh"}}}}"#))
            .await;
        assert_eq!(r.status, 400, "type needs 2.2");
        let r = send(&app, "POST", "/compute/v2.1/os-keypairs", P1, "2.79", r#"{"keypair": {"name": "gen"}}"#).await;
        assert_eq!(r.status, 201, "generated before 2.92: {}", r.body);
        let k = &r.body["keypair"];
        assert!(k["public_key"].as_str().unwrap().starts_with("ssh-ed25519 ") && k["private_key"].as_str().unwrap().contains("OPENSSH PRIVATE KEY"));
        let shown = get_mv(&app, "/compute/v2.1/os-keypairs/gen", P1, "2.79").await.body["keypair"].clone();
        assert_eq!((shown["fingerprint"].clone(), shown.get("private_key")), (k["fingerprint"].clone(), None), "the private key is never kept");
        let r = send(&app, "POST", "/compute/v2.1/os-keypairs", P1, "2.79", r#"{"keypair": {"name": "cert", "type": "x509"}}"#).await;
        assert!(r.body["keypair"]["public_key"].as_str().unwrap().starts_with("-----BEGIN CERTIFICATE-----"), "{}", r.body);
        assert_eq!(r.body["keypair"]["fingerprint"].as_str().map(str::len), Some(59), "SHA-1, colon-separated");
        let r = send(&app, "POST", "/compute/v2.1/os-keypairs", P1, "2.92", r#"{"keypair": {"name": "k"}}"#).await;
        assert_eq!(r.body["badRequest"]["message"], "Invalid input for field/attribute keypair. Value: <omitted>. 'public_key' is a required property");
        let dotted = format!(r#"{{"keypair": {{"name": "me@host.1", "public_key": "{KEY}"}}}}"#);
        assert_eq!(send(&app, "POST", "/compute/v2.1/os-keypairs", P1, "2.91", &dotted).await.status, 400, "'@' needs 2.92");
        assert_eq!(send(&app, "POST", "/compute/v2.1/os-keypairs", P1, "2.92", &dotted).await.status, 201);
        for n in ["gen", "cert", "me@host.1"] {
            assert_eq!(send(&app, "DELETE", &format!("/compute/v2.1/os-keypairs/{n}"), P1, "2.92", "").await.status, 204);
        }
        let quota = r#"{"quota_set": {"key_pairs": 1}}"#;
        assert_eq!(send(&app, "PUT", &format!("/compute/v2.1/os-quota-sets/{}", P1_ID.simple()), ADMIN, "2.79", quota).await.status, 200);
        let body = |n: &str| format!(r#"{{"keypair": {{"name": "{n}", "public_key": "{KEY}"}}}}"#);
        assert_eq!(send(&app, "POST", "/compute/v2.1/os-keypairs", P1, "2.79", &body("a")).await.status, 201);
        let r = send(&app, "POST", "/compute/v2.1/os-keypairs", P1, "2.79", &body("b")).await;
        assert_eq!((r.status.as_u16(), r.body["forbidden"]["message"].as_str()), (403, Some("Quota exceeded, too many key pairs.")));
    }
}
