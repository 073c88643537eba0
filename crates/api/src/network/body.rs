//! Request bodies as Neutron reads them (`neutron/api/v2/base.py` `prepare_request_body`,
//! `neutron_lib/api/attributes.py`): the resource's object under its singular key; `tenant_id`
//! and `project_id` made one; unknown attributes refused ("Unrecognized attribute(s)"), then
//! attributes a POST or PUT may not carry, then missing required ones; and each value
//! converted and validated with the wording of neutron-lib's converters (`InvalidInput`) and
//! validators (`HTTPBadRequest`, "Invalid input for {attr}. Reason: …").

use orrery_kernel::network::cidr::{invalid_attribute, invalid_input};
use orrery_kernel::{Error, Uuid};
use serde_json::{Map, Value};

use super::S;
use crate::error::ApiError;

/// Neutron's field sizes (`neutron_lib/db/constants.py`): names, descriptions, device ids and
/// owners, project ids.
pub(super) const FIELD_SIZE: usize = 255;

/// When an attribute may be in a body.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(super) enum Allow {
    /// Never: it is read-only (`id`, `status`, timestamps).
    Never,
    /// On create only.
    Post,
    /// On create only, and a create must carry it.
    Required,
    /// On create and update.
    Both,
}

/// One attribute of a resource, in the order Neutron's attribute map checks them.
pub(super) type Attr = (&'static str, Allow);

/// Whether a body creates or updates.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(super) enum Op {
    /// POST.
    Create,
    /// PUT.
    Update,
}

/// webob's `HTTPBadRequest`, which Neutron raises for malformed bodies.
pub(super) fn http_bad_request(msg: impl Into<String>) -> ApiError {
    ApiError::new(S, Error::bad_request("network.http_bad_request", msg.into()))
}

/// A validator's refusal of `attr`.
pub(super) fn bad_attr(attr: &str, reason: &str) -> ApiError {
    ApiError::new(S, invalid_attribute(attr, reason))
}

/// A converter's refusal: Neutron's `InvalidInput`.
pub(super) fn bad_input(msg: &str) -> ApiError {
    ApiError::new(S, invalid_input(msg))
}

/// 501 naming what is not built.
pub(super) fn unbuilt(what: impl Into<String>) -> ApiError {
    ApiError::not_implemented(S, what)
}

/// A JSON value as Python's `str()` shows it after `json.loads`, for messages that quote what
/// the client sent (`'None' cannot be converted to boolean`).
pub(super) fn py(v: &Value) -> String {
    match v {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        Value::Array(items) => format!("[{}]", items.iter().map(py_repr).collect::<Vec<_>>().join(", ")),
        Value::Object(o) => format!("{{{}}}", o.iter().map(|(k, v)| format!("'{k}': {}", py_repr(v))).collect::<Vec<_>>().join(", ")),
    }
}

/// Python's `repr()`: strings quoted.
fn py_repr(v: &Value) -> String {
    match v {
        Value::String(s) => format!("'{s}'"),
        other => py(other),
    }
}

/// The resource object of a POST or PUT body, checked as `prepare_request_body` checks it.
/// A bulk create (`{"networks": [...]}`) is not built (501).
pub(super) fn resource_body(body: &[u8], resource: &str, attrs: &[Attr], op: Op) -> Result<Fields, ApiError> {
    let missing = || http_bad_request(format!("Unable to find '{resource}' in request body"));
    if body.is_empty() {
        return Err(missing());
    }
    let Ok(Value::Object(mut top)) = serde_json::from_slice::<Value>(body) else {
        return Err(http_bad_request("Body contains invalid data"));
    };
    let collection = format!("{resource}s");
    if top.contains_key(&collection) {
        return Err(match op {
            Op::Create => unbuilt(format!("Bulk creation (a body of \"{collection}\") is not built in orrery; create {collection} one at a time.")),
            Op::Update => http_bad_request("Bulk operation not supported"),
        });
    }
    let mut obj = match top.remove(resource) {
        None | Some(Value::Null) => return Err(missing()),
        Some(Value::Object(o)) => o,
        Some(_) => return Err(http_bad_request(format!("Object '{resource}' contains invalid data"))),
    };
    populate_project(&mut obj)?;
    let unknown: Vec<&str> = obj.keys().map(String::as_str).filter(|k| !attrs.iter().any(|(name, _)| name == k)).collect();
    if !unknown.is_empty() {
        return Err(http_bad_request(format!("Unrecognized attribute(s) '{}'", unknown.join(", "))));
    }
    for &(name, allow) in attrs {
        let given = obj.contains_key(name);
        match (op, allow) {
            (Op::Create, Allow::Never) if given => return Err(http_bad_request(format!("Attribute '{name}' not allowed in POST"))),
            (Op::Create, Allow::Required) if !given => {
                return Err(http_bad_request(format!("Failed to parse request. Required attribute '{name}' not specified")))
            }
            (Op::Update, Allow::Never | Allow::Post | Allow::Required) if given => {
                return Err(http_bad_request(format!("Cannot update read-only attribute {name}")))
            }
            _ => {}
        }
    }
    obj.remove("tenant_id");
    Ok(Fields(obj))
}

/// `populate_project_info`: `tenant_id` and `project_id` stand for each other and must agree.
fn populate_project(obj: &mut Map<String, Value>) -> Result<(), ApiError> {
    match (obj.get("tenant_id").cloned(), obj.get("project_id").cloned()) {
        (Some(t), None) => {
            obj.insert("project_id".into(), t);
        }
        (None, Some(p)) => {
            obj.insert("tenant_id".into(), p);
        }
        (Some(t), Some(p)) if t != p => return Err(http_bad_request("'project_id' and 'tenant_id' do not match")),
        _ => {}
    }
    Ok(())
}

/// A resource object's attributes, taken one by one with their converter and validator.
pub(super) struct Fields(Map<String, Value>);

impl Fields {
    /// Whether the body carries `k`.
    pub(super) fn has(&self, k: &str) -> bool {
        self.0.contains_key(k)
    }

    /// The raw value of `k`.
    pub(super) fn take(&mut self, k: &str) -> Option<Value> {
        self.0.remove(k)
    }

    /// `convert_to_boolean` (oslo's strict `bool_from_string`).
    pub(super) fn boolean(&mut self, k: &str) -> Result<Option<bool>, ApiError> {
        self.take(k).map(|v| to_bool(&v)).transpose()
    }

    /// `convert_to_int`: Python's `int()`.
    pub(super) fn int(&mut self, k: &str) -> Result<Option<i64>, ApiError> {
        self.take(k).map(|v| to_int(&v)).transpose()
    }

    /// `type:string` with a maximum length.
    pub(super) fn string(&mut self, k: &str, max: usize) -> Result<Option<String>, ApiError> {
        self.take(k).map(|v| validate_string(&v, max).map_err(|r| bad_attr(k, &r))).transpose()
    }

    /// `type:name_string`: a string of printable characters that neither starts nor ends with
    /// a space.
    pub(super) fn name(&mut self, k: &str) -> Result<Option<String>, ApiError> {
        let Some(v) = self.take(k) else { return Ok(None) };
        let s = validate_string(&v, FIELD_SIZE).map_err(|r| bad_attr(k, &r))?;
        if !valid_name(&s) {
            return Err(bad_attr(k, &format!("'{s}' is not a valid string")));
        }
        Ok(Some(s))
    }

    /// `type:uuid`.
    pub(super) fn uuid(&mut self, k: &str) -> Result<Option<Uuid>, ApiError> {
        self.take(k).map(|v| uuid_like(&v).ok_or_else(|| bad_attr(k, &format!("'{}' is not a valid UUID", py(&v))))).transpose()
    }

    /// `project_id` (with `tenant_id`, already merged): a string, which in orrery must be a
    /// Keystone project id.
    pub(super) fn project(&mut self) -> Result<Option<Uuid>, ApiError> {
        let Some(text) = self.string("project_id", FIELD_SIZE)? else { return Ok(None) };
        text.parse::<Uuid>().map(Some).map_err(|_| bad_attr("project_id", &format!("'{text}' is not a valid UUID")))
    }

    /// An attribute orrery shows as an empty list because what it lists is not built: `[]`
    /// and `null` are taken, anything else is 501 with `why`.
    pub(super) fn empty_only(&mut self, k: &str, why: &str) -> Result<(), ApiError> {
        match self.take(k) {
            None | Some(Value::Null) => Ok(()),
            Some(Value::Array(a)) if a.is_empty() => Ok(()),
            Some(_) => Err(unbuilt(format!("{k}: {why}"))),
        }
    }

    /// Checks every attribute was taken: a parser that forgets one would drop it silently.
    pub(super) fn finish(self) {
        debug_assert!(self.0.is_empty(), "attributes left unread: {:?}", self.0.keys().collect::<Vec<_>>());
    }
}

/// `convert_to_boolean`.
pub(super) fn to_bool(v: &Value) -> Result<bool, ApiError> {
    if let Value::Bool(b) = v {
        return Ok(*b);
    }
    match py(v).trim().to_ascii_lowercase().as_str() {
        "1" | "t" | "true" | "on" | "y" | "yes" => Ok(true),
        "0" | "f" | "false" | "off" | "n" | "no" => Ok(false),
        _ => Err(bad_input(&format!("'{}' cannot be converted to boolean", py(v)))),
    }
}

/// `convert_to_int`: integers, floats (truncated), booleans and integer strings.
pub(super) fn to_int(v: &Value) -> Result<i64, ApiError> {
    let n = match v {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().filter(|f| f.is_finite() && f.abs() < 9.2e18).map(|f| f.trunc() as i64)),
        Value::Bool(b) => Some(i64::from(*b)),
        Value::String(s) => s.trim().replace('_', "").parse::<i64>().ok().filter(|_| !s.trim().starts_with('_') && !s.trim().ends_with('_')),
        _ => None,
    };
    n.ok_or_else(|| bad_input(&format!("'{}' is not an integer", py(v))))
}

/// `validate_string`: the string, or the validator's reason.
pub(super) fn validate_string(v: &Value, max: usize) -> Result<String, String> {
    let Value::String(s) = v else { return Err(format!("'{}' is not a valid string", py(v))) };
    if s.chars().count() > max {
        return Err(format!("'{s}' exceeds maximum length of {max}"));
    }
    Ok(s.clone())
}

/// neutron-lib's `valid_name_regex`: printable characters of the Basic Multilingual Plane
/// (spaces inside only).
fn valid_name(s: &str) -> bool {
    let unprintable = |c: char| {
        c.is_control()
            || u32::from(c) >= 0xFFFF
            || matches!(c, '\u{2028}' | '\u{2029}' | '\u{00ad}' | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2064}' | '\u{feff}')
    };
    let bad_edge = |c: char| unprintable(c) || c.is_whitespace();
    !s.chars().any(unprintable) && !s.starts_with(bad_edge) && !s.ends_with(bad_edge)
}

/// oslo's `is_uuid_like`: a string that is a UUID once `urn:`, `uuid:`, braces and hyphens are
/// dropped, in any case.
pub(super) fn uuid_like(v: &Value) -> Option<Uuid> {
    let s = v.as_str()?;
    let hex: String = s.replace("urn:", "").replace("uuid:", "").trim_matches(['{', '}']).replace('-', "");
    if hex.len() != 32 {
        return None;
    }
    hex.parse().ok()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const ATTRS: &[Attr] =
        &[("id", Allow::Never), ("name", Allow::Both), ("network_id", Allow::Required), ("tenant_id", Allow::Post), ("project_id", Allow::Post)];

    fn refusal(body: &str, op: Op) -> (String, String) {
        let e = resource_body(body.as_bytes(), "port", ATTRS, op).err().expect("refused");
        (e.error.code.to_string(), e.error.message().to_string())
    }

    #[test]
    fn bodies_are_refused_in_neutrons_order_and_words() {
        let bad = |m: &str| ("network.http_bad_request".to_string(), m.to_string());
        assert_eq!(refusal("", Op::Create), bad("Unable to find 'port' in request body"));
        assert_eq!(refusal("[1]", Op::Create), bad("Body contains invalid data"));
        assert_eq!(refusal(r#"{"port": 3}"#, Op::Create), bad("Object 'port' contains invalid data"));
        assert_eq!(refusal(r#"{"port": {"colour": 1, "name": "x"}}"#, Op::Create), bad("Unrecognized attribute(s) 'colour'"));
        assert_eq!(refusal(r#"{"port": {"id": "x", "network_id": "n"}}"#, Op::Create), bad("Attribute 'id' not allowed in POST"));
        assert_eq!(refusal(r#"{"port": {"name": "x"}}"#, Op::Create), bad("Failed to parse request. Required attribute 'network_id' not specified"));
        assert_eq!(refusal(r#"{"port": {"tenant_id": "a"}}"#, Op::Update), bad("Cannot update read-only attribute tenant_id"));
        assert_eq!(refusal(r#"{"port": {"tenant_id": "a", "project_id": "b"}}"#, Op::Update), bad("'project_id' and 'tenant_id' do not match"));
        assert_eq!(refusal(r#"{"ports": []}"#, Op::Update), bad("Bulk operation not supported"));
        assert_eq!(refusal(r#"{"ports": []}"#, Op::Create).0, "api.not_implemented");
        let mut f = resource_body(br#"{"port": {"network_id": "n", "tenant_id": "t"}}"#, "port", ATTRS, Op::Create).unwrap();
        assert_eq!(f.take("project_id"), Some(json!("t")), "tenant_id is project_id");
    }

    #[test]
    fn converters_and_validators_keep_neutron_lib_wording() {
        let msg = |r: Result<bool, ApiError>| r.unwrap_err().error.message().to_string();
        assert!(to_bool(&json!("True")).unwrap() && !to_bool(&json!(0)).unwrap() && to_bool(&json!(" yes ")).unwrap());
        assert_eq!(msg(to_bool(&json!(null))), "Invalid input for operation: 'None' cannot be converted to boolean.");
        assert_eq!(msg(to_bool(&json!([1, "a"]))), "Invalid input for operation: '[1, 'a']' cannot be converted to boolean.");
        assert_eq!(to_int(&json!("42")).unwrap(), 42);
        assert_eq!(to_int(&json!(7.9)).unwrap(), 7);
        assert_eq!(to_int(&json!("4.2")).unwrap_err().error.message(), "Invalid input for operation: '4.2' is not an integer.");
        assert_eq!(validate_string(&json!(5), 10), Err("'5' is not a valid string".into()));
        assert_eq!(validate_string(&json!("abcdef"), 3), Err("'abcdef' exceeds maximum length of 3".into()));
        assert!(valid_name("web net") && valid_name("") && valid_name("ünïcode"));
        assert!(!valid_name(" lead") && !valid_name("trail ") && !valid_name("tab\tin") && !valid_name("emoji 😀"));
        assert_eq!(uuid_like(&json!("{0000000A-0000-4000-8000-000000000000}")), Some(Uuid(0xa_0000_4000_8000_0000_0000_0000)));
        assert_eq!(uuid_like(&json!("not-a-uuid")), None);
        assert_eq!(uuid_like(&json!(12)), None);
    }
}
