//! `POST /servers/{id}/action`: one action per body, parsed strictly into a kernel
//! [`Action`]. Actions Nova has and orrery does not model answer 501; names Nova does not
//! know answer 400.

use std::collections::BTreeMap;

use orrery_kernel::compute::servers::actions::{Action, RebuildSpec};
use orrery_kernel::{Error, Result, Uuid};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::create::{access_ip, disk_config, hostname, present};
use crate::compute::versions::Microversion;

/// What the handler does with a parsed action.
pub enum Parsed {
    /// Send this action to the kernel.
    Action(Action),
    /// `forceDelete`: delete the server.
    Delete,
    /// `evacuate` (host-less form): rebuild the server elsewhere; its host must be down.
    /// Carries the admin password asked for, if any.
    Evacuate(Option<String>),
}

/// Nova's server actions that orrery does not model, with what they need.
const UNBUILT: &[(&str, &str)] = &[
    ("createImage", "image snapshots need the Image service's image data store, which orrery does not implement yet"),
    ("createBackup", "backups need the Image service's image data store, which orrery does not implement yet"),
    ("migrate", "cold migration is not implemented yet"),
    ("os-migrateLive", "live migration is not implemented yet"),
    ("shelve", "shelving is not implemented yet"),
    ("shelveOffload", "shelving is not implemented yet"),
    ("unshelve", "shelving is not implemented yet"),
    ("changePassword", "guest password changes are not implemented yet"),
    ("addFixedIp", "networking is not implemented yet"),
    ("removeFixedIp", "networking is not implemented yet"),
    ("addFloatingIp", "networking is not implemented yet"),
    ("removeFloatingIp", "networking is not implemented yet"),
    ("addSecurityGroup", "security groups need the Networking service, which is not implemented yet"),
    ("removeSecurityGroup", "security groups need the Networking service, which is not implemented yet"),
    ("os-getConsoleOutput", "console output is not implemented yet"),
    ("os-getVNCConsole", "consoles are not implemented yet"),
    ("os-getSPICEConsole", "consoles are not implemented yet"),
    ("os-getSerialConsole", "consoles are not implemented yet"),
    ("os-getRDPConsole", "consoles are not implemented yet"),
    ("resetNetwork", "networking is not implemented yet"),
    ("injectNetworkInfo", "networking is not implemented yet"),
    ("trigger_crash_dump", "crash dumps are not implemented yet"),
];

fn bad(msg: impl Into<String>) -> Error {
    Error::bad_request("compute.bad_request", msg.into())
}

fn strict<T: DeserializeOwned>(name: &str, v: Value) -> Result<T> {
    serde_json::from_value(v).map_err(|e| bad(format!("Invalid input for field/attribute {name}. {e}")))
}

/// The body of an action that takes none: `null` or `{}`.
fn no_body(name: &str, v: &Value) -> Result<()> {
    match v {
        Value::Null => Ok(()),
        Value::Object(m) if m.is_empty() => Ok(()),
        other => Err(bad(format!("Invalid input for field/attribute {name}. Value: {other}. {other} is not of type 'null'"))),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Reboot {
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Lock {
    locked_reason: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResetState {
    state: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Rescue {
    #[serde(rename = "adminPass")]
    admin_pass: Option<String>,
    rescue_image_ref: Option<String>,
}

/// `rescue`: an optional admin password and rescue image.
fn rescue(v: Value) -> Result<(Parsed, Option<String>)> {
    let r: Rescue = match v {
        Value::Null => Rescue { admin_pass: None, rescue_image_ref: None },
        v => strict("rescue", v)?,
    };
    let image = match r.rescue_image_ref {
        None => None,
        Some(i) => Some(i.parse::<Uuid>().map_err(|_| bad(format!("Invalid input for field/attribute rescue_image_ref. Value: {i}. '{i}' is not a 'uuid'")))?),
    };
    Ok((Parsed::Action(Action::Rescue { image }), r.admin_pass))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Resize {
    #[serde(rename = "flavorRef")]
    flavor_ref: Value,
    #[serde(rename = "OS-DCF:diskConfig")]
    disk_config: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Rebuild {
    #[serde(rename = "imageRef")]
    image_ref: String,
    name: Option<String>,
    #[serde(rename = "adminPass")]
    admin_pass: Option<String>,
    metadata: Option<BTreeMap<String, String>>,
    preserve_ephemeral: Option<Value>,
    hostname: Option<String>,
    #[serde(rename = "OS-DCF:diskConfig")]
    disk_config: Option<String>,
    #[serde(rename = "accessIPv4")]
    access_ipv4: Option<String>,
    #[serde(rename = "accessIPv6")]
    access_ipv6: Option<String>,
    personality: Option<Vec<Value>>,
    #[serde(default, deserialize_with = "present")]
    description: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    key_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    user_data: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    trusted_image_certificates: Option<Option<Vec<String>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Evacuate {
    host: Option<String>,
    #[serde(default, deserialize_with = "crate::util::nova_bool")]
    force: Option<bool>,
    #[serde(rename = "onSharedStorage")]
    on_shared_storage: Option<Value>,
    #[serde(rename = "adminPass")]
    admin_pass: Option<String>,
}

/// Nova's `evacuate` body: `onSharedStorage` before 2.14, `force` from 2.29 to 2.67. Only
/// the host-less form is modelled: the scheduler picks the destination.
fn evacuate(v: Value, mv: Microversion) -> Result<Option<String>> {
    let e: Evacuate = strict("evacuate", v)?;
    let unexpected = |f: &str| bad(format!("Invalid input for field/attribute evacuate. Additional properties are not allowed ('{f}' was unexpected)"));
    if e.on_shared_storage.is_some() && mv.at_least(14) {
        return Err(unexpected("onSharedStorage"));
    }
    if e.on_shared_storage.is_none() && !mv.at_least(14) {
        return Err(bad("Invalid input for field/attribute evacuate. 'onSharedStorage' is a required property"));
    }
    if e.force.is_some() && (!mv.at_least(29) || mv.at_least(68)) {
        return Err(unexpected("force"));
    }
    if e.host.is_some() {
        return Err(Error::not_implemented(
            "compute.not_implemented",
            "Evacuating to a named host is not implemented by orrery; leave out 'host' to let the scheduler choose.".into(),
        ));
    }
    Ok(e.admin_pass)
}

fn rebuild(v: Value, mv: Microversion) -> Result<(RebuildSpec, Option<String>)> {
    let r: Rebuild = strict("rebuild", v)?;
    let gates = [
        (r.description.is_some(), 19, "description"),
        (r.key_name.is_some(), 54, "key_name"),
        (r.user_data.is_some(), 57, "user_data"),
        (r.trusted_image_certificates.is_some(), 63, "trusted_image_certificates"),
        (r.hostname.is_some(), 90, "hostname"),
    ];
    for (given, since, field) in gates {
        if given && !mv.at_least(since) {
            return Err(bad(format!("Invalid input for field/attribute rebuild. Additional properties are not allowed ('{field}' was unexpected)")));
        }
    }
    if r.personality.is_some() && mv.at_least(57) {
        return Err(bad("Invalid input for field/attribute rebuild. Additional properties are not allowed ('personality' was unexpected)"));
    }
    if r.personality.as_ref().is_some_and(|p| !p.is_empty()) {
        return Err(Error::not_implemented("compute.not_implemented", "File injection (personality) is not implemented by orrery.".into()));
    }
    let _ = r.preserve_ephemeral;
    let image = r.image_ref.trim_end_matches('/').rsplit('/').next().unwrap_or("").parse::<Uuid>().map_err(|_| bad("Can not find requested image"))?;
    let spec = RebuildSpec {
        image,
        name: r.name,
        metadata: r.metadata,
        description: r.description,
        access_ipv4: access_ip("accessIPv4", r.access_ipv4, false)?.map(Some),
        access_ipv6: access_ip("accessIPv6", r.access_ipv6, true)?.map(Some),
        key_name: r.key_name,
        user_data: r.user_data,
        trusted_certs: r.trusted_image_certificates,
        auto_disk_config: disk_config(&r.disk_config)?,
        hostname: hostname(r.hostname, mv)?,
    };
    Ok((spec, r.admin_pass))
}

/// Parses an action body. Returns the action and, for rebuild and rescue, the admin password.
pub fn parse(body: Map<String, Value>, mv: Microversion) -> Result<(Parsed, Option<String>)> {
    if body.len() != 1 {
        return Err(bad("Malformed request body: an action body holds exactly one action."));
    }
    let (name, v) = body.into_iter().next().expect("one entry");
    let simple = |a: Action| -> Result<(Parsed, Option<String>)> {
        no_body(&name, &v)?;
        Ok((Parsed::Action(a), None))
    };
    match name.as_str() {
        "os-start" => simple(Action::Start),
        "os-stop" => simple(Action::Stop),
        "pause" => simple(Action::Pause),
        "unpause" => simple(Action::Unpause),
        "suspend" => simple(Action::Suspend),
        "resume" => simple(Action::Resume),
        "unlock" => simple(Action::Unlock),
        "confirmResize" => simple(Action::ConfirmResize),
        "unrescue" => simple(Action::Unrescue),
        "restore" => simple(Action::Restore),
        "rescue" => rescue(v),
        "revertResize" => simple(Action::RevertResize),
        "forceDelete" => {
            no_body(&name, &v)?;
            Ok((Parsed::Delete, None))
        }
        "reboot" => {
            let r: Reboot = strict("reboot", v)?;
            let hard = match r.kind.to_ascii_uppercase().as_str() {
                "HARD" => true,
                "SOFT" => false,
                _ => {
                    return Err(bad(format!(
                        "Invalid input for field/attribute type. Value: {}. '{}' is not one of ['HARD', 'Hard', 'hard', 'SOFT', 'Soft', 'soft']",
                        r.kind, r.kind
                    )))
                }
            };
            Ok((Parsed::Action(Action::Reboot { hard }), None))
        }
        "os-resetState" => {
            let r: ResetState = strict("os-resetState", v)?;
            let error = match r.state.as_str() {
                "active" => false,
                "error" => true,
                other => return Err(bad(format!("Invalid input for field/attribute state. Value: {other}. '{other}' is not one of ['active', 'error']"))),
            };
            Ok((Parsed::Action(Action::ResetState { error }), None))
        }
        "lock" => {
            let reason = match v {
                Value::Null => None,
                v if mv.at_least(73) => strict::<Lock>("lock", v)?.locked_reason,
                v => {
                    no_body("lock", &v)?;
                    None
                }
            };
            Ok((Parsed::Action(Action::Lock { reason }), None))
        }
        "resize" => {
            let r: Resize = strict("resize", v)?;
            disk_config(&r.disk_config)?;
            let flavor = match r.flavor_ref {
                Value::String(s) if !s.is_empty() => s.trim_end_matches('/').rsplit('/').next().unwrap_or(&s).to_string(),
                Value::Number(n) => n.to_string(),
                other => return Err(bad(format!("Invalid input for field/attribute flavorRef. Value: {other}."))),
            };
            Ok((Parsed::Action(Action::Resize { flavor }), None))
        }
        "evacuate" => Ok((Parsed::Evacuate(evacuate(v, mv)?), None)),
        "rebuild" => {
            let (spec, pass) = rebuild(v, mv)?;
            Ok((Parsed::Action(Action::Rebuild(Box::new(spec))), pass))
        }
        other => match UNBUILT.iter().find(|(n, _)| *n == other) {
            Some((n, why)) => Err(Error::not_implemented("compute.not_implemented", format!("The server action '{n}' is not available in orrery: {why}."))),
            None => Err(bad(format!("There is no such action: {other}"))),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(v: Value) -> Result<(Parsed, Option<String>)> {
        parse(serde_json::from_value(v).unwrap(), Microversion(2, 79))
    }

    #[test]
    fn parses_actions_strictly() {
        assert!(matches!(p(serde_json::json!({"os-stop": null})), Ok((Parsed::Action(Action::Stop), None))));
        assert!(matches!(p(serde_json::json!({"reboot": {"type": "hard"}})), Ok((Parsed::Action(Action::Reboot { hard: true }), None))));
        assert_eq!(p(serde_json::json!({"reboot": {"type": "warm"}})).err().map(|e| crate::Service::Compute.status(e.kind).as_u16()), Some(400));
        assert_eq!(p(serde_json::json!({"reboot": {"type": "SOFT", "x": 1}})).err().map(|e| crate::Service::Compute.status(e.kind).as_u16()), Some(400));
        assert_eq!(p(serde_json::json!({"fly": null})).err(), Some(bad("There is no such action: fly")));
        assert_eq!(p(serde_json::json!({"createImage": {"name": "x"}})).err().map(|e| crate::Service::Compute.status(e.kind).as_u16()), Some(501));
        assert_eq!(p(serde_json::json!({"os-stop": null, "os-start": null})).err().map(|e| crate::Service::Compute.status(e.kind).as_u16()), Some(400));
        assert!(matches!(p(serde_json::json!({"lock": {"locked_reason": "why"}})), Ok((Parsed::Action(Action::Lock { reason: Some(_) }), None))));
        assert!(matches!(p(serde_json::json!({"resize": {"flavorRef": 3}})), Ok((Parsed::Action(Action::Resize { .. }), None))));
        assert!(matches!(p(serde_json::json!({"forceDelete": null})), Ok((Parsed::Delete, None))));
        assert!(matches!(p(serde_json::json!({"os-resetState": {"state": "error"}})), Ok((Parsed::Action(Action::ResetState { error: true }), None))));
        for bad_body in
            [serde_json::json!({"os-resetState": {"state": "spam"}}), serde_json::json!({"os-resetState": {}}), serde_json::json!({"os-resetState": null})]
        {
            assert_eq!(p(bad_body.clone()).err().map(|e| crate::Service::Compute.status(e.kind).as_u16()), Some(400), "{bad_body}");
        }
        assert!(matches!(p(serde_json::json!({"evacuate": {}})), Ok((Parsed::Evacuate(None), None))));
        assert_eq!(p(serde_json::json!({"evacuate": {"host": "h1"}})).err().map(|e| crate::Service::Compute.status(e.kind).as_u16()), Some(501));
        assert_eq!(
            p(serde_json::json!({"evacuate": {"force": true}})).err().map(|e| crate::Service::Compute.status(e.kind).as_u16()),
            Some(400),
            "force is gone at 2.68"
        );
        assert_eq!(p(serde_json::json!({"evacuate": {"onSharedStorage": false}})).err().map(|e| crate::Service::Compute.status(e.kind).as_u16()), Some(400));
        let old = parse(serde_json::from_value(serde_json::json!({"evacuate": {"onSharedStorage": false, "adminPass": "pw"}})).unwrap(), Microversion(2, 1));
        assert!(matches!(old, Ok((Parsed::Evacuate(Some(_)), None))));
    }
}
