//! Placement's shared vocabulary: the `resources=`, `member_of=` and `required=` query
//! parameters both allocation candidates and provider listings take, and the JSON shape of a
//! resource map.

use orrery_kernel::placement::{class_index, Resources, CLASSES, NUM_CLASSES};
use orrery_kernel::Uuid;
use serde_json::{json, Map, Value};

use super::{known_trait, Version, S};
use crate::error::ApiError;

/// Parses `VCPU:2,MEMORY_MB:1024` into amounts per class.
pub(super) fn parse_resources(text: &str) -> Result<Resources, ApiError> {
    let bad = || {
        ApiError::bad_request(
            S,
            format!("Badly formed resources parameter. Expected resources query string parameter in form: ?resources=VCPU:2,MEMORY_MB:1024. Got: {text}."),
        )
    };
    let mut out = [0; NUM_CLASSES];
    for item in text.split(',') {
        let (class, amount) = item.split_once(':').ok_or_else(bad)?;
        let amount: u64 = amount.trim().parse().map_err(|_| bad())?;
        if amount == 0 {
            return Err(bad());
        }
        let c = class_index(class.trim())
            .ok_or_else(|| ApiError::bad_request(S, format!("Invalid resource class in resources parameter: No such resource class {class}.")))?;
        if out[c] != 0 {
            return Err(ApiError::bad_request(S, format!("Badly formed resources parameter: resource class {class} is repeated.")));
        }
        out[c] = amount;
    }
    Ok(out)
}

/// One `member_of` parameter: a provider must be in one of `any` (or, forbidden, in none).
pub(super) struct MemberOf {
    any: Vec<Uuid>,
    forbidden: bool,
}

impl MemberOf {
    /// Parses `UUID`, `in:UUID,UUID`, and from 1.32 `!UUID` / `!in:UUID,UUID`.
    pub(super) fn parse(text: &str, v: Version) -> Result<MemberOf, ApiError> {
        let (forbidden, rest) = match text.strip_prefix('!') {
            Some(r) if v.at_least(32) => (true, r),
            _ => (false, text),
        };
        let list = rest.strip_prefix("in:").unwrap_or(rest);
        let bad = || ApiError::bad_request(S, format!("Invalid query string parameters: Expected 'member_of' parameter to contain valid UUID(s). Got: {text}"));
        if list.contains(',') && !rest.starts_with("in:") {
            return Err(bad());
        }
        let any = list.split(',').map(|u| u.parse::<Uuid>().map_err(|_| bad())).collect::<Result<Vec<_>, _>>()?;
        Ok(MemberOf { any, forbidden })
    }

    fn holds(&self, aggregates: &[Uuid]) -> bool {
        self.any.iter().any(|a| aggregates.contains(a)) != self.forbidden
    }

    /// Whether every rule holds for a provider in `aggregates`.
    pub(super) fn all_hold(rules: &[MemberOf], aggregates: &[Uuid]) -> bool {
        rules.iter().all(|m| m.holds(aggregates))
    }
}

/// Required and forbidden traits.
#[derive(Default)]
pub(super) struct TraitRule {
    required: Vec<String>,
    forbidden: Vec<String>,
}

impl TraitRule {
    /// Adds `A,B,!C` (forbidden traits from 1.22). Unknown traits are a 400, as in placement.
    pub(super) fn add(&mut self, text: &str, v: Version) -> Result<(), ApiError> {
        if text.is_empty() {
            return Err(ApiError::bad_request(
                S,
                "Invalid query string parameters: Expected 'required' parameter value of the form: HW_CPU_X86_VMX,CUSTOM_MAGIC. Got an empty value.",
            ));
        }
        for t in text.split(',') {
            let (forbid, name) = match t.strip_prefix('!') {
                Some(n) if v.at_least(22) => (true, n),
                _ => (false, t),
            };
            if !known_trait(name) {
                return Err(ApiError::bad_request(S, format!("No such trait(s): {name}.")));
            }
            if forbid {
                self.forbidden.push(name.to_string());
            } else {
                self.required.push(name.to_string());
            }
        }
        Ok(())
    }

    /// Whether a provider with `traits` passes.
    pub(super) fn holds(&self, traits: &[String]) -> bool {
        self.required.iter().all(|t| traits.contains(t)) && !self.forbidden.iter().any(|t| traits.contains(t))
    }
}

/// A resources map of non-zero amounts.
pub(super) fn resources_json(r: &[u64; NUM_CLASSES]) -> Map<String, Value> {
    (0..NUM_CLASSES).filter(|&c| r[c] > 0).map(|c| (CLASSES[c].to_string(), json!(r[c]))).collect()
}
