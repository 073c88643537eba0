//! Kernel errors. Each variant maps onto one HTTP status; adapters wrap the message in their
//! service's own error body. Messages are sentences a user can act on.

use serde::{Deserialize, Serialize};

/// Why the kernel refused a command. A refused command changes no state.
#[derive(Debug, Clone, PartialEq, Eq, Hash, thiserror::Error, Serialize, Deserialize)]
pub enum Error {
    /// The request is malformed or names an impossible combination (HTTP 400).
    #[error("{0}")]
    BadRequest(String),
    /// No valid credentials came with the request (HTTP 401).
    #[error("{0}")]
    Unauthorized(String),
    /// The caller is known but not allowed to do this (HTTP 403).
    #[error("{0}")]
    Forbidden(String),
    /// The thing named does not exist, or the caller cannot see it (HTTP 404).
    #[error("{0}")]
    NotFound(String),
    /// The thing is in a state that does not allow this now (HTTP 409).
    #[error("{0}")]
    Conflict(String),
    /// The request would exceed a quota (HTTP 403 in Nova, 413 elsewhere).
    #[error("{0}")]
    OverQuota(String),
    /// The request is valid but this part of the model is not built yet (HTTP 501).
    #[error("{0}")]
    NotImplemented(String),
    /// orrery itself failed; never the caller's fault (HTTP 500).
    #[error("{0}")]
    Internal(String),
}

/// Shorthand for kernel results.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The HTTP status code this error maps onto.
    pub fn status(&self) -> u16 {
        match self {
            Error::BadRequest(_) => 400,
            Error::Unauthorized(_) => 401,
            Error::Forbidden(_) | Error::OverQuota(_) => 403,
            Error::NotFound(_) => 404,
            Error::Conflict(_) => 409,
            Error::NotImplemented(_) => 501,
            Error::Internal(_) => 500,
        }
    }
    /// The message without the variant.
    pub fn message(&self) -> &str {
        match self {
            Error::BadRequest(m)
            | Error::Unauthorized(m)
            | Error::Forbidden(m)
            | Error::NotFound(m)
            | Error::Conflict(m)
            | Error::OverQuota(m)
            | Error::NotImplemented(m)
            | Error::Internal(m) => m,
        }
    }
}
