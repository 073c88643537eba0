//! The chain of format migrations. Journal entries and snapshots are stored as JSON renderings
//! of the kernel's types, tagged with the format version that wrote them. When a kernel type
//! changes shape, [`FORMAT_VERSION`] goes up by one and a step is added here that rewrites a
//! record of the version before into the new one, as JSON. Loading a record of any version from
//! [`OLDEST`] on walks the chain step by step, so a data directory written by any release since
//! then loads in every later one. The golden data directories under
//! `crates/live/tests/golden/` prove it in the test suite.

use orrery_kernel::identity::TokenDigest;
use serde_json::Value;

use crate::{Result, StoreError, FORMAT_VERSION};

/// The oldest format this orrery can migrate. Format 1 predates the health service.
pub const OLDEST: u32 = 2;

/// One step: turns a record of version `from` into version `from + 1`.
struct Step {
    from: u32,
    request: fn(&mut Value),
    kernel: fn(&mut Value),
}

/// Every step, oldest first; the last one ends at [`FORMAT_VERSION`].
const STEPS: &[Step] = &[Step { from: 2, request: v2::request, kernel: v2::kernel }];

/// Brings a journaled request of version `from` up to [`FORMAT_VERSION`].
pub fn request(what: &str, from: u32, v: &mut Value) -> Result<()> {
    for step in chain(what, from)? {
        (step.request)(v);
    }
    Ok(())
}

/// Brings a snapshot's kernel state of version `from` up to [`FORMAT_VERSION`].
pub fn kernel(what: &str, from: u32, v: &mut Value) -> Result<()> {
    for step in chain(what, from)? {
        (step.kernel)(v);
    }
    Ok(())
}

/// The steps from version `from` to the current one, or why there are none.
fn chain(what: &str, from: u32) -> Result<&'static [Step]> {
    if from > FORMAT_VERSION {
        return Err(StoreError::TooNew { what: what.into(), found: from });
    }
    if from < OLDEST {
        return Err(StoreError::TooOld { what: what.into(), found: from });
    }
    let steps = &STEPS[(from - OLDEST) as usize..];
    debug_assert!(steps.iter().enumerate().all(|(i, s)| s.from == from + i as u32), "the chain has a gap");
    Ok(steps)
}

/// Format 2 → 3: commands and state hold token digests, never raw bearer tokens.
mod v2 {
    use super::*;

    /// Replaces a string holding a raw token with its digest.
    fn digest(v: &mut Value) {
        if let Value::String(raw) = v {
            *v = Value::String(TokenDigest::of(raw).as_str().to_string());
        }
    }

    pub(super) fn request(v: &mut Value) {
        if let Some(t) = v.pointer_mut("/auth/Token") {
            digest(t);
        }
        if let Some(issue) = v.pointer_mut("/command/Identity/IssueToken") {
            issue.get_mut("token").map(digest);
            issue.pointer_mut("/method/Token/token").map(digest);
        }
        if let Some(t) = v.pointer_mut("/command/Identity/RevokeToken/token") {
            digest(t);
        }
    }

    pub(super) fn kernel(v: &mut Value) {
        let Some(id) = v.get_mut("identity") else { return };
        if let Some(Value::Object(tokens)) = id.get_mut("tokens") {
            let old = std::mem::take(tokens);
            for (raw, t) in old {
                tokens.insert(TokenDigest::of(&raw).as_str().to_string(), t);
            }
        }
        for set in ["token_expiry", "user_tokens"] {
            if let Some(Value::Array(pairs)) = id.get_mut(set) {
                pairs.iter_mut().filter_map(|p| p.get_mut(1)).for_each(digest);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_v2_request_keeps_no_raw_token() {
        let raw = "ab".repeat(32);
        let mut v =
            json!({"auth": {"Token": raw}, "command": {"Identity": {"IssueToken": {"token": raw, "method": {"Token": {"token": raw}}, "scope": null}}}});
        request("test", 2, &mut v).unwrap();
        let d = TokenDigest::of(&raw);
        assert!(!v.to_string().contains(&raw));
        assert_eq!(v["auth"]["Token"], d.as_str());
        assert_eq!(v["command"]["Identity"]["IssueToken"]["method"]["Token"]["token"], d.as_str());
    }

    #[test]
    fn versions_outside_the_chain_are_refused_by_name() {
        let mut v = json!({});
        assert!(matches!(request("x", 1, &mut v), Err(StoreError::TooOld { found: 1, .. })));
        assert!(matches!(request("x", FORMAT_VERSION + 1, &mut v), Err(StoreError::TooNew { .. })));
        request("x", FORMAT_VERSION, &mut v).unwrap();
    }
}
