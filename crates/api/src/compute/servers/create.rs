//! The body of `POST /servers`: strict parsing (unknown fields are 400), Nova's per-field
//! rules and microversion gates, and the honest 501s for what needs services orrery does not
//! have yet (networks, volumes, non-default security groups, file injection).

use std::collections::BTreeMap;

use orrery_kernel::compute::servers::CreateSpec;
use orrery_kernel::{Error, Result, Uuid};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::query::parse_bool;
use crate::compute::versions::Microversion;
use crate::util::new_uuid;

/// Most servers one request may create.
pub const MAX_COUNT: u64 = 1000;

/// `POST /servers`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Body {
    server: Server,
    #[serde(rename = "os:scheduler_hints")]
    hints: Option<Map<String, Value>>,
    #[serde(rename = "OS-SCH-HNT:scheduler_hints")]
    legacy_hints: Option<Map<String, Value>>,
}

/// `server` in `POST /servers`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Server {
    name: String,
    #[serde(rename = "flavorRef")]
    flavor_ref: Value,
    #[serde(rename = "imageRef")]
    image_ref: Option<String>,
    #[serde(rename = "adminPass")]
    admin_pass: Option<String>,
    metadata: Option<BTreeMap<String, String>>,
    networks: Option<Value>,
    #[serde(rename = "OS-DCF:diskConfig")]
    disk_config: Option<String>,
    #[serde(rename = "accessIPv4")]
    access_ipv4: Option<String>,
    #[serde(rename = "accessIPv6")]
    access_ipv6: Option<String>,
    personality: Option<Vec<Value>>,
    availability_zone: Option<String>,
    block_device_mapping: Option<Vec<Value>>,
    block_device_mapping_v2: Option<Vec<Map<String, Value>>>,
    config_drive: Option<Value>,
    key_name: Option<String>,
    min_count: Option<Value>,
    max_count: Option<Value>,
    return_reservation_id: Option<Value>,
    security_groups: Option<Vec<SecurityGroup>>,
    user_data: Option<String>,
    #[serde(default, deserialize_with = "present")]
    description: Option<Option<String>>,
    tags: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    trusted_image_certificates: Option<Option<Vec<String>>>,
    host: Option<String>,
    hypervisor_hostname: Option<String>,
    hostname: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SecurityGroup {
    name: String,
}

/// Deserializes a field that may be present with `null` into `Some(None)`.
pub fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(d: D) -> std::result::Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// What the handler needs besides the kernel command.
pub struct Parsed {
    /// The kernel's create spec.
    pub spec: CreateSpec,
    /// The admin password to return.
    pub admin_pass: String,
    /// Answer with `{"reservation_id": …}` instead of the server.
    pub return_reservation_id: bool,
    /// The security group names to echo in the response (Nova echoes the request's).
    pub security_groups: Vec<String>,
}

fn bad(msg: impl Into<String>) -> Error {
    Error::bad_request("compute.bad_request", msg.into())
}

fn unexpected(field: &str) -> Error {
    bad(format!("Invalid input for field/attribute server. Value: {field}. Additional properties are not allowed ('{field}' was unexpected)"))
}

/// The last path segment of an id or an href, as Nova accepts references.
fn reference(v: &str) -> &str {
    v.trim_end_matches('/').rsplit('/').next().unwrap_or(v)
}

/// A positive integer given as a number or a string of digits.
fn positive(field: &str, v: &Value) -> Result<u64> {
    let n = match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => s.parse().ok(),
        _ => None,
    };
    match n {
        Some(n) if n >= 1 => Ok(n),
        _ => Err(bad(format!("Invalid input for field/attribute {field}. Value: {v}. {v} is not a positive integer"))),
    }
}

/// A boolean given as JSON or as one of Nova's strings.
fn boolean(field: &str, v: &Value) -> Result<bool> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::String(s) => parse_bool(field, s),
        Value::Null => Ok(false),
        _ => Err(bad(format!("Invalid input for field/attribute {field}. Value: {v}. {v} is not of type 'boolean', 'string'"))),
    }
}

/// Checks `s` is strict, padded base64.
fn check_base64(s: &str) -> Result<()> {
    let clean: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    let body_ok = clean.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'+' || *b == b'/' || *b == b'=');
    let pad = clean.iter().rev().take_while(|b| **b == b'=').count();
    let pad_ok = pad <= 2 && !clean[..clean.len() - pad].contains(&b'=');
    if !body_ok || !pad_ok || clean.len() & 3 != 0 {
        return Err(bad("Invalid input for field/attribute user_data. Value: <omitted>. 'user_data' is not a 'base64'"));
    }
    if s.len() > 65535 {
        return Err(bad("Invalid input for field/attribute user_data. It is longer than 65535 characters."));
    }
    Ok(())
}

/// An `accessIPv4`/`accessIPv6` value checked and in canonical form, as Nova stores it
/// (`0000:…:babe:220.12.22.2` becomes `::babe:dc0c:1602`).
pub fn access_ip(field: &str, v: Option<String>, v6: bool) -> Result<Option<String>> {
    let Some(ip) = v else { return Ok(None) };
    let canonical = if v6 { ip.parse::<std::net::Ipv6Addr>().map(|a| a.to_string()) } else { ip.parse::<std::net::Ipv4Addr>().map(|a| a.to_string()) };
    canonical
        .map(Some)
        .map_err(|_| bad(format!("Invalid input for field/attribute {field}. Value: {ip}. '{ip}' is not a '{}'", if v6 { "ipv6" } else { "ipv4" })))
}

/// `OS-DCF:diskConfig`: AUTO or MANUAL.
pub fn disk_config(v: &Option<String>) -> Result<Option<bool>> {
    match v.as_deref() {
        None => Ok(None),
        Some("AUTO") => Ok(Some(true)),
        Some("MANUAL") => Ok(Some(false)),
        Some(o) => Err(bad(format!("Invalid input for field/attribute OS-DCF:diskConfig. Value: {o}. '{o}' is not one of ['AUTO', 'MANUAL']"))),
    }
}

/// Fields that only exist from some microversion on.
fn gate(s: &Server, mv: Microversion) -> Result<()> {
    let gates: [(bool, u32, &str); 7] = [
        (s.description.is_some(), 19, "description"),
        (s.tags.is_some(), 52, "tags"),
        (s.trusted_image_certificates.is_some(), 63, "trusted_image_certificates"),
        (s.host.is_some(), 74, "host"),
        (s.hypervisor_hostname.is_some(), 74, "hypervisor_hostname"),
        (s.hostname.is_some(), 90, "hostname"),
        (s.personality.is_some() && mv.at_least(57), 0, "personality"),
    ];
    for (given, since, field) in gates {
        if given && (since == 0 || !mv.at_least(since)) {
            return Err(unexpected(field));
        }
    }
    if mv.at_least(37) && s.networks.is_none() {
        return Err(bad("Invalid input for field/attribute server. Value: <omitted>. 'networks' is a required property"));
    }
    Ok(())
}

/// Networks: only "none" (or nothing before 2.37) can be honoured without networking.
fn networks(v: &Option<Value>, mv: Microversion) -> Result<()> {
    let missing = || {
        Error::not_implemented(
            "compute.not_implemented",
            "Attaching servers to networks needs the Networking service, which orrery does not implement yet; boot with \"networks\": \"none\".".into(),
        )
    };
    match v {
        None => Ok(()),
        Some(Value::String(s)) if mv.at_least(37) && s == "none" => Ok(()),
        Some(Value::String(s)) if mv.at_least(37) && s == "auto" => Err(missing()),
        Some(Value::Array(a)) if a.is_empty() && !mv.at_least(37) => Ok(()),
        Some(Value::Array(a)) if a.iter().all(Value::is_object) => Err(missing()),
        Some(other) => Err(bad(format!("Invalid input for field/attribute networks. Value: {other}. {other} is not valid under any of the given schemas"))),
    }
}

/// Block devices: only the image-backed local root disk that clients send along with
/// `imageRef` is modelled; returns the image it names, if any.
fn block_devices(s: &Server) -> Result<Option<String>> {
    let volumes = || {
        Error::not_implemented(
            "compute.not_implemented",
            "Block device mappings other than the image's local root disk need the Block Storage service, which orrery does not implement yet.".into(),
        )
    };
    if s.block_device_mapping.as_ref().is_some_and(|b| !b.is_empty()) {
        return Err(volumes());
    }
    let Some(bdms) = &s.block_device_mapping_v2 else { return Ok(None) };
    let mut image = None;
    for b in bdms {
        let text = |k: &str| b.get(k).and_then(Value::as_str);
        let boot_index = b.get("boot_index").map(|v| v.as_i64().or_else(|| v.as_str().and_then(|s| s.parse().ok())));
        let local_image = text("source_type") == Some("image") && matches!(text("destination_type"), None | Some("local")) && boot_index == Some(Some(0));
        if !local_image {
            return Err(volumes());
        }
        image = text("uuid").or(text("image_id")).map(str::to_string);
    }
    Ok(image)
}

fn security_groups(v: &Option<Vec<SecurityGroup>>) -> Result<()> {
    match v {
        Some(groups) if groups.iter().any(|g| g.name != "default") => Err(Error::not_implemented(
            "compute.not_implemented",
            "Security groups other than 'default' need the Networking service, which orrery does not implement yet.".into(),
        )),
        _ => Ok(()),
    }
}

/// Scheduler hints: `group` and `different_host` are honoured, `same_host` is not built,
/// and others are ignored as Nova ignores hints of filters it does not run.
fn hints(h: &Map<String, Value>) -> Result<(Option<Uuid>, Vec<Uuid>)> {
    let ids = |field: &str, v: &Value| -> Result<Vec<Uuid>> {
        let items: Vec<&Value> = match v {
            Value::Array(a) => a.iter().collect(),
            one => vec![one],
        };
        items
            .into_iter()
            .map(|i| {
                i.as_str()
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| bad(format!("Invalid input for field/attribute {field}. Value: {i}. {i} is not a 'uuid'")))
            })
            .collect()
    };
    if h.contains_key("same_host") {
        return Err(Error::not_implemented("compute.not_implemented", "The same_host scheduler hint is not implemented by orrery's scheduler.".into()));
    }
    let group = match h.get("group") {
        Some(v) => {
            let g = ids("group", v)?;
            if g.len() != 1 {
                return Err(bad("Invalid input for field/attribute group: exactly one server group may be given."));
            }
            Some(g[0])
        }
        None => None,
    };
    let different = h.get("different_host").map(|v| ids("different_host", v)).transpose()?.unwrap_or_default();
    Ok((group, different))
}

/// Every scheduler hint as Nova's request spec keeps it: each value a list of strings.
fn kept_hints(h: &Map<String, Value>) -> BTreeMap<String, Vec<String>> {
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    h.iter()
        .map(|(k, v)| {
            let items = match v {
                Value::Array(a) => a.iter().map(text).collect(),
                one => vec![text(one)],
            };
            (k.clone(), items)
        })
        .collect()
}

/// A `hostname` (2.90): a plain hostname of 2 to 63 letters, digits and inner `-`; from 2.94
/// a fully qualified name of 1 to 255 letters, digits, `-`, `.` and `_`.
pub fn hostname(v: Option<String>, mv: Microversion) -> Result<Option<String>> {
    let Some(h) = v else { return Ok(None) };
    let fqdn = mv.at_least(94);
    let (pattern, min, max) = if fqdn { ("^[a-zA-Z0-9-._]*$", 1, 255) } else { ("^[a-zA-Z0-9]+[a-zA-Z0-9-]*[a-zA-Z0-9]+$", 2, 63) };
    let chars_ok = if fqdn {
        h.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
    } else {
        h.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') && !h.starts_with('-') && !h.ends_with('-')
    };
    let len = h.chars().count();
    let field = "Invalid input for field/attribute hostname.";
    if len < min {
        return Err(bad(format!("{field} Value: {h}. '{h}' is too short")));
    }
    if len > max {
        return Err(bad(format!("{field} Value: {h}. '{h}' is too long")));
    }
    if !chars_ok {
        return Err(bad(format!("{field} Value: {h}. '{h}' does not match '{pattern}'")));
    }
    Ok(Some(h))
}

/// `availability_zone` may be `zone`, `zone:host` or `zone:host:node` (forcing a host).
fn zone_and_host(az: Option<String>, host: Option<String>, node: Option<String>) -> Result<(Option<String>, Option<String>)> {
    let (zone, forced) = match az {
        Some(az) if az.contains(':') => {
            let mut parts = az.splitn(3, ':');
            let zone = parts.next().filter(|z| !z.is_empty()).map(str::to_string);
            let host = parts.next().filter(|h| !h.is_empty()).map(str::to_string);
            let node = parts.next().filter(|n| !n.is_empty()).map(str::to_string);
            (zone, host.or(node))
        }
        other => (other, None),
    };
    let forced = match (forced, host, node) {
        (Some(f), _, _) => Some(f),
        (None, Some(h), Some(n)) if h != n => return Err(bad(format!("Compute host {h} has no hypervisor {n}; in orrery a host's node has the host's name."))),
        (None, h, n) => h.or(n),
    };
    Ok((zone, forced))
}

/// Parses the body into a create spec with fresh ids.
pub fn parse(body: Body, mv: Microversion) -> Result<Parsed> {
    let s = body.server;
    gate(&s, mv)?;
    networks(&s.networks, mv)?;
    security_groups(&s.security_groups)?;
    if s.personality.as_ref().is_some_and(|p| !p.is_empty()) {
        return Err(Error::not_implemented(
            "compute.not_implemented",
            "File injection (personality) is not implemented by orrery; pass files in user_data instead.".into(),
        ));
    }
    let bdm_image = block_devices(&s)?;
    let image_text = match (s.image_ref.as_deref().filter(|i| !i.is_empty()), bdm_image.as_deref()) {
        (Some(i), _) | (None, Some(i)) => reference(i).to_string(),
        (None, None) => return Err(bad("Missing imageRef attribute")),
    };
    let image = image_text.parse().map_err(|_| bad("Can not find requested image"))?;
    let flavor = match &s.flavor_ref {
        Value::String(f) if !f.is_empty() => reference(f).to_string(),
        Value::Number(n) => n.to_string(),
        other => return Err(bad(format!("Invalid input for field/attribute flavorRef. Value: {other}. Invalid flavorRef provided."))),
    };
    let min = s.min_count.as_ref().map(|v| positive("min_count", v)).transpose()?.unwrap_or(1);
    let max = s.max_count.as_ref().map(|v| positive("max_count", v)).transpose()?.unwrap_or(min);
    if min > max {
        return Err(bad("min_count must be <= max_count"));
    }
    if max > MAX_COUNT {
        return Err(bad(format!("max_count may be at most {MAX_COUNT} in one request.")));
    }
    if let Some(u) = &s.user_data {
        check_base64(u)?;
    }
    let access_ipv4 = access_ip("accessIPv4", s.access_ipv4, false)?;
    let access_ipv6 = access_ip("accessIPv6", s.access_ipv6, true)?;
    let given_hints = body.hints.or(body.legacy_hints).unwrap_or_default();
    let (group, different_host) = hints(&given_hints)?;
    let hostname = hostname(s.hostname, mv)?;
    let (availability_zone, host) = zone_and_host(s.availability_zone, s.host, s.hypervisor_hostname)?;
    let spec = CreateSpec {
        ids: (0..max).map(|_| new_uuid()).collect(),
        min_count: min as u32,
        request_id: new_uuid(),
        description: if mv.at_least(19) { s.description.flatten() } else { Some(s.name.clone()) },
        name: s.name,
        flavor,
        image,
        key_name: s.key_name,
        availability_zone,
        host,
        metadata: s.metadata.unwrap_or_default(),
        user_data: s.user_data,
        config_drive: s.config_drive.as_ref().map(|v| boolean("config_drive", v)).transpose()?.unwrap_or(false),
        auto_disk_config: disk_config(&s.disk_config)?.unwrap_or(false),
        access_ipv4,
        access_ipv6,
        tags: s.tags.unwrap_or_default(),
        group,
        different_host,
        trusted_certs: s.trusted_image_certificates.flatten(),
        hostname,
        hints: kept_hints(&given_hints),
    };
    let security_groups = match &s.security_groups {
        Some(g) => g.iter().map(|g| g.name.clone()).collect(),
        None => vec!["default".to_string()],
    };
    let return_reservation_id = s.return_reservation_id.as_ref().map(|v| boolean("return_reservation_id", v)).transpose()?.unwrap_or(false);
    Ok(Parsed { spec, admin_pass: s.admin_pass.unwrap_or_else(password), return_reservation_id, security_groups })
}

/// A fresh 12-character admin password, as Nova generates when none is given.
pub fn password() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let token = crate::util::new_token();
    token.as_bytes().chunks(2).take(12).map(|c| ALPHABET[(u16::from(c[0]) * 31 + u16::from(c[1])) as usize % ALPHABET.len()] as char).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(v: Value) -> Body {
        serde_json::from_value(v).expect("parses")
    }

    #[test]
    fn access_ips_are_checked_and_stored_canonical() {
        assert_eq!(access_ip("accessIPv6", Some("0000:0000:0000:0000:0000:babe:220.12.22.2".into()), true).unwrap().as_deref(), Some("::babe:dc0c:1602"));
        assert_eq!(access_ip("accessIPv4", Some("10.0.0.1".into()), false).unwrap().as_deref(), Some("10.0.0.1"));
        assert_eq!(access_ip("accessIPv4", None, false).unwrap(), None);
        assert!(access_ip("accessIPv4", Some("::1".into()), false).unwrap_err().message().contains("is not a 'ipv4'"));
    }

    #[test]
    fn accepts_the_openstack_client_shape() {
        let b = body(serde_json::json!({"server": {
            "name": "vm", "imageRef": "7d3e", "flavorRef": "1", "min_count": 1, "max_count": "2", "networks": "none",
            "block_device_mapping_v2": [{"uuid": "7d3e", "boot_index": 0, "source_type": "image", "destination_type": "local", "delete_on_termination": true}]
        }}));
        let err = parse(b, Microversion(2, 79)).err().unwrap();
        assert_eq!(err, bad("Can not find requested image"), "7d3e is no image id");
        let id = "6f1d3c8e-33a4-4c8e-9f36-1c1f6a1e9b2d";
        let b = body(
            serde_json::json!({"server": {"name": "vm", "imageRef": id, "flavorRef": "http://x/flavors/2", "max_count": "2", "networks": "none"}, "os:scheduler_hints": {"query": "x"}}),
        );
        let p = parse(b, Microversion(2, 79)).unwrap();
        assert_eq!((p.spec.ids.len(), p.spec.flavor.as_str(), p.spec.image.to_string()), (2, "2", id.to_string()));
        assert_eq!(p.admin_pass.len(), 12);
    }

    #[test]
    fn refuses_what_it_cannot_honour() {
        let id = "6f1d3c8e-33a4-4c8e-9f36-1c1f6a1e9b2d";
        let with = |extra: Value, mv: u32| {
            let mut server = serde_json::json!({"name": "vm", "imageRef": id, "flavorRef": "1"});
            for (k, v) in extra.as_object().unwrap() {
                server[k] = v.clone();
            }
            parse(body(serde_json::json!({"server": server})), Microversion(2, mv)).err().map(|e| crate::Service::Compute.status(e.kind).as_u16())
        };
        assert_eq!(with(serde_json::json!({}), 37), Some(400), "networks is required from 2.37");
        assert_eq!(with(serde_json::json!({}), 36), None);
        assert_eq!(with(serde_json::json!({"networks": "auto"}), 37), Some(501));
        assert_eq!(with(serde_json::json!({"networks": [{"uuid": id}]}), 37), Some(501));
        assert_eq!(with(serde_json::json!({"networks": "none", "description": "d"}), 18), Some(400));
        assert_eq!(with(serde_json::json!({"networks": "none", "security_groups": [{"name": "web"}]}), 50), Some(501));
        assert_eq!(
            with(serde_json::json!({"networks": "none", "block_device_mapping_v2": [{"source_type": "volume", "uuid": id, "boot_index": 0}]}), 50),
            Some(501)
        );
        assert_eq!(with(serde_json::json!({"networks": "none", "min_count": 3, "max_count": 2}), 50), Some(400));
        assert_eq!(with(serde_json::json!({"networks": "none", "user_data": "not base64!"}), 50), Some(400));
        assert_eq!(with(serde_json::json!({"networks": "none", "accessIPv4": "1.2.3"}), 50), Some(400));
        assert_eq!(with(serde_json::json!({"networks": "none", "user_data": "aGVsbG8="}), 50), None);
        assert!(serde_json::from_value::<Body>(serde_json::json!({"server": {"name": "vm", "flavorRef": "1", "bogus": 1}})).is_err());
    }

    #[test]
    fn zone_host_syntax_forces_a_host() {
        assert_eq!(zone_and_host(Some("az1:h1".into()), None, None).unwrap(), (Some("az1".into()), Some("h1".into())));
        assert_eq!(zone_and_host(Some(":h1".into()), None, None).unwrap(), (None, Some("h1".into())));
        assert_eq!(zone_and_host(None, Some("h1".into()), None).unwrap(), (None, Some("h1".into())));
        assert!(zone_and_host(None, Some("h1".into()), Some("h2".into())).is_err());
    }
}
