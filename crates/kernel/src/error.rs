//! Kernel errors: a kind, a stable code and a message written for the user.
//!
//! The kind says what went wrong in the terms every OpenStack service shares (bad request,
//! not found, conflict, over quota, ...). The code names the reason precisely and never
//! changes once published: `compute.no_valid_host`, `placement.concurrent_update`,
//! `identity.unauthorized`. Codes are `service.reason`, lower-case with underscores. The
//! kernel knows nothing of HTTP: each API adapter chooses the status and the body shape of
//! its own service from the kind (Nova answers over-quota with 403, Cinder with 413) and may
//! show the code where its service has a place for one (Placement's `code`, Neutron's `type`).

use serde::Serialize;

/// What kind of failure an error is; every service shares these.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum ErrorKind {
    /// The request is malformed or names an impossible combination.
    BadRequest,
    /// No valid credentials came with the request.
    Unauthorized,
    /// The caller is known but not allowed to do this.
    Forbidden,
    /// The thing named does not exist, or the caller cannot see it.
    NotFound,
    /// The thing is in a state that does not allow this now.
    Conflict,
    /// The request would exceed a quota.
    OverQuota,
    /// The request is valid but this part of the model is not built yet.
    NotImplemented,
    /// orrery itself failed; never the caller's fault.
    Internal,
}

impl ErrorKind {
    /// The kind in snake case, as default codes spell it (`not_found`).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::BadRequest => "bad_request",
            ErrorKind::Unauthorized => "unauthorized",
            ErrorKind::Forbidden => "forbidden",
            ErrorKind::NotFound => "not_found",
            ErrorKind::Conflict => "conflict",
            ErrorKind::OverQuota => "over_quota",
            ErrorKind::NotImplemented => "not_implemented",
            ErrorKind::Internal => "internal",
        }
    }
}

/// Why the kernel refused a command. A refused command changes no state.
#[derive(Debug, Clone, PartialEq, Eq, Hash, thiserror::Error, Serialize)]
#[error("{message}")]
pub struct Error {
    /// What kind of failure.
    pub kind: ErrorKind,
    /// The stable code: `service.reason`.
    pub code: &'static str,
    /// A sentence the user can act on.
    pub message: String,
}

/// Shorthand for kernel results.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An error of `kind` with `code` and `message`.
    pub fn new(kind: ErrorKind, code: &'static str, message: String) -> Error {
        debug_assert!(is_code(code), "error code {code:?} is not `service.reason` in lower snake case");
        Error { kind, code, message }
    }
    /// A malformed request.
    pub fn bad_request(code: &'static str, message: String) -> Error {
        Error::new(ErrorKind::BadRequest, code, message)
    }
    /// Missing or invalid credentials.
    pub fn unauthorized(code: &'static str, message: String) -> Error {
        Error::new(ErrorKind::Unauthorized, code, message)
    }
    /// Not allowed.
    pub fn forbidden(code: &'static str, message: String) -> Error {
        Error::new(ErrorKind::Forbidden, code, message)
    }
    /// No such thing (or not visible to the caller).
    pub fn not_found(code: &'static str, message: String) -> Error {
        Error::new(ErrorKind::NotFound, code, message)
    }
    /// Not in this state.
    pub fn conflict(code: &'static str, message: String) -> Error {
        Error::new(ErrorKind::Conflict, code, message)
    }
    /// Over a quota.
    pub fn over_quota(code: &'static str, message: String) -> Error {
        Error::new(ErrorKind::OverQuota, code, message)
    }
    /// Not built yet; the message names what.
    pub fn not_implemented(code: &'static str, message: String) -> Error {
        Error::new(ErrorKind::NotImplemented, code, message)
    }
    /// orrery's own failure.
    pub fn internal(code: &'static str, message: String) -> Error {
        Error::new(ErrorKind::Internal, code, message)
    }
    /// The message alone.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// Whether `code` reads `service.reason[.more]`: lower-case words joined by `_`, parts by `.`.
pub fn is_code(code: &str) -> bool {
    let parts: Vec<&str> = code.split('.').collect();
    parts.len() >= 2 && parts.iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_service_dot_reason() {
        assert!(is_code("compute.no_valid_host"));
        assert!(is_code("placement.inventory.inuse"));
        assert!(!is_code("compute"));
        assert!(!is_code("Compute.NoValidHost"));
        assert!(!is_code("compute..x"));
    }

    #[test]
    fn an_error_displays_its_message() {
        let e = Error::conflict("compute.locked", "Instance is locked.".into());
        assert_eq!((e.to_string(), e.kind, e.code), ("Instance is locked.".to_string(), ErrorKind::Conflict, "compute.locked"));
    }
}
