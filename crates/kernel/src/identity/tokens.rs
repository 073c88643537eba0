//! Tokens: issuing (password or token method, any scope), resolving a token into a
//! [`Caller`], revoking, and pruning expired or orphaned tokens so memory stays bounded.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::{forbidden, Caller, Identity};
use crate::ids::Uuid;
use crate::rng::Rng;
use crate::{Auth, Dur, Error, Result, Time};

/// The one message for every credential that does not resolve, as keystonemiddleware says it.
pub const UNAUTHORIZED: &str = "The request you have made requires authentication.";

fn unauthorized() -> Error {
    Error::unauthorized("identity.unauthorized", UNAUTHORIZED.into())
}

/// The digest of a bearer token: what commands and state hold instead of the token itself, so
/// neither the journal nor a snapshot holds a credential anyone could present. The shell
/// digests the `X-Auth-Token` it receives with [`TokenDigest::of`]; the raw token goes back
/// only to the client that asked for it.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TokenDigest(String);

impl TokenDigest {
    /// The digest of the raw token `raw`: BLAKE2s-256, as 64 lower-case hex digits.
    pub fn of(raw: &str) -> TokenDigest {
        use blake2::Digest as _;
        let sum = blake2::Blake2s256::digest(raw.as_bytes());
        TokenDigest(sum.iter().map(|b| format!("{b:02x}")).collect())
    }

    /// The digest as hex.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this is a digest [`TokenDigest::of`] could have made (64 lower-case hex digits).
    pub fn is_well_formed(&self) -> bool {
        self.0.len() == 64 && self.0.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    }
}

/// What a token is scoped to.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Scope {
    /// No scope: good only for discovering projects and rescoping.
    Unscoped,
    /// A project.
    Project(Uuid),
    /// A domain, by id.
    Domain(String),
    /// The system: the whole cloud. Its admin is the cloud's admin.
    System,
}

/// How the holder proved who they are.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AuthMethod {
    /// The shell verified this user's password.
    Password {
        /// The user.
        user: Uuid,
    },
    /// An existing valid token (rescoping); the new token keeps its expiry.
    Token {
        /// The existing token's digest.
        token: TokenDigest,
    },
    /// The shell verified this application credential's secret.
    ApplicationCredential {
        /// The credential.
        id: Uuid,
    },
}

/// A live token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Token {
    /// Whose token it is.
    pub user: Uuid,
    /// What it is scoped to.
    pub scope: Scope,
    /// Authentication methods used, like `password` or `token`.
    pub methods: Vec<String>,
    /// When it was issued.
    pub issued_at: Time,
    /// When it stops working.
    pub expires_at: Time,
    /// This token's audit id, then the audit id of the token it was rescoped from.
    pub audit_ids: Vec<String>,
    /// The application credential it was issued from, if any: it holds only that
    /// credential's roles, and ends with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_cred: Option<Uuid>,
}

impl std::hash::Hash for Token {
    /// `app_cred` counts only when set, so tokens from before it keep their hash.
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.user.hash(h);
        self.scope.hash(h);
        self.methods.hash(h);
        self.issued_at.hash(h);
        self.expires_at.hash(h);
        self.audit_ids.hash(h);
        if let Some(c) = self.app_cred {
            c.hash(h);
        }
    }
}

/// An id and a name, the way Keystone shows references.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ref {
    /// The id (Keystone's 32-hex form for UUIDs).
    pub id: String,
    /// The name.
    pub name: String,
}

/// Everything a token response shows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenInfo {
    /// The token record.
    pub token: Token,
    /// The user.
    pub user: Ref,
    /// The user's domain.
    pub user_domain: Ref,
    /// For a project-scoped token: the project and its domain.
    pub project: Option<(Ref, Ref)>,
    /// For a domain-scoped token: the domain.
    pub domain: Option<Ref>,
    /// Effective roles on the scope, implied roles included, by name.
    pub roles: Vec<Ref>,
    /// The application credential the token was issued from.
    #[serde(default)]
    pub app_cred: Option<AppCredRef>,
}

/// The application credential a token came from, as token responses show it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppCredRef {
    /// Its id (32 hex digits).
    pub id: String,
    /// Its name.
    pub name: String,
    /// Keystone's `unrestricted`.
    pub unrestricted: bool,
}

/// A token request, with the time and lifetime in force.
#[derive(Clone, Debug)]
pub struct IssueReq {
    /// The new token's digest.
    pub token: TokenDigest,
    /// How the holder authenticated.
    pub method: AuthMethod,
    /// The requested scope; `None` for the user's default.
    pub scope: Option<Scope>,
    /// Now.
    pub now: Time,
    /// Token lifetime.
    pub ttl: Dur,
}

/// Keystone's audit id format: 16 random bytes as unpadded URL-safe base64 (22 characters).
pub fn audit_id(rng: &mut Rng) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&rng.next_u64().to_be_bytes());
    bytes[8..].copy_from_slice(&rng.next_u64().to_be_bytes());
    let mut out = String::with_capacity(22);
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |acc, (i, b)| acc | u32::from(*b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[(n >> (18 - 6 * i) & 0x3f) as usize] as char);
        }
    }
    out
}

impl Identity {
    /// Resolves credentials into a caller. A token must exist, be unexpired, and its user,
    /// domain and scope must still be enabled with at least one role on a scope.
    pub fn resolve(&self, auth: &Auth, now: Time) -> Result<Caller> {
        let secret = match auth {
            Auth::System => return Ok(Caller::system()),
            Auth::Token(t) => t,
        };
        let token = self.tokens.get(secret).ok_or_else(unauthorized)?;
        let roles = self.check_token(token, now).map_err(|_| unauthorized())?;
        let mut names: Vec<String> = roles.iter().filter_map(|r| self.roles.get(r)).map(|r| r.name.clone()).collect();
        names.sort();
        let has = |n: &str| names.iter().any(|r| r == n);
        let (admin, member, reader) = (has("admin"), has("member"), has("reader"));
        Ok(Caller {
            user: token.user,
            project: match token.scope {
                Scope::Project(p) => Some(p),
                _ => None,
            },
            admin,
            member: admin || member,
            system: false,
            reader: admin || member || reader,
            domain: match &token.scope {
                Scope::Domain(d) => Some(d.clone()),
                _ => None,
            },
            roles: names,
        })
    }

    /// The live token `secret`, if it has not expired (other checks are not made).
    pub fn token(&self, secret: &TokenDigest, now: Time) -> Option<&Token> {
        self.tokens.get(secret).filter(|t| t.expires_at > now)
    }

    /// Checks a token is unexpired and its user still has access to its scope; returns the
    /// effective role ids on that scope.
    pub fn check_token(&self, token: &Token, now: Time) -> Result<BTreeSet<Uuid>> {
        if token.expires_at <= now {
            return Err(Error::unauthorized("identity.unauthorized", "The token has expired.".into()));
        }
        let roles = self.access(token.user, &token.scope)?;
        match token.app_cred {
            Some(c) => self.app_cred_roles(c, now, roles),
            None => Ok(roles),
        }
    }

    /// Checks `user` may hold a token for `scope`; returns the effective role ids there.
    pub fn access(&self, user: Uuid, scope: &Scope) -> Result<BTreeSet<Uuid>> {
        let u = self.users.get(&user).ok_or_else(unauthorized)?;
        if !u.enabled || !self.domain_enabled(&u.domain) {
            return Err(unauthorized());
        }
        let (target, what) = match scope {
            Scope::Unscoped => return Ok(BTreeSet::new()),
            Scope::Project(p) => {
                let proj = self.projects.get(p).ok_or_else(unauthorized)?;
                if !proj.enabled || !self.domain_enabled(&proj.domain) {
                    return Err(unauthorized());
                }
                (super::Target::Project(*p), format!("project {}", p.simple()))
            }
            Scope::Domain(d) => {
                if !self.domain_enabled(d) {
                    return Err(unauthorized());
                }
                (super::Target::Domain(d.clone()), format!("domain {d}"))
            }
            Scope::System => (super::Target::System, "the system".to_string()),
        };
        let roles = self.effective_roles(user, &target);
        if roles.is_empty() {
            return Err(Error::unauthorized("identity.unauthorized", format!("User {} has no access to {what}.", user.simple())));
        }
        Ok(roles)
    }

    /// What a response about token `secret` shows; fails as Keystone's "token not found".
    pub fn token_info(&self, secret: &TokenDigest, now: Time) -> Result<TokenInfo> {
        let not_found = || Error::not_found("identity.not_found", "Could not find token.".into());
        let token = self.tokens.get(secret).ok_or_else(not_found)?;
        let roles = self.check_token(token, now).map_err(|_| not_found())?;
        Ok(self.describe(token, &roles))
    }

    fn describe(&self, token: &Token, roles: &BTreeSet<Uuid>) -> TokenInfo {
        let domain_ref = |id: &str| Ref { id: id.to_string(), name: self.domains.get(id).map(|d| d.name.clone()).unwrap_or_default() };
        let (user, user_domain) = match self.users.get(&token.user) {
            Some(u) => (Ref { id: u.id.simple(), name: u.name.clone() }, domain_ref(&u.domain)),
            None => (Ref { id: token.user.simple(), name: String::new() }, domain_ref("")),
        };
        let project = match &token.scope {
            Scope::Project(p) => self.projects.get(p).map(|p| (Ref { id: p.id.simple(), name: p.name.clone() }, domain_ref(&p.domain))),
            _ => None,
        };
        let domain = match &token.scope {
            Scope::Domain(d) => Some(domain_ref(d)),
            _ => None,
        };
        let mut roles: Vec<Ref> = roles.iter().filter_map(|r| self.roles.get(r)).map(|r| Ref { id: r.id.simple(), name: r.name.clone() }).collect();
        roles.sort_by(|a, b| a.name.cmp(&b.name));
        let app_cred =
            token.app_cred.and_then(|c| self.app_creds.0.get(&c)).map(|c| AppCredRef { id: c.id.simple(), name: c.name.clone(), unrestricted: c.unrestricted });
        TokenInfo { token: token.clone(), user, user_domain, project, domain, roles, app_cred }
    }

    /// Projects `user` could scope a token to: enabled, in enabled domains, with a role.
    pub fn scopable_projects(&self, user: Uuid) -> Vec<&super::Project> {
        self.projects_with_roles(user).into_iter().filter_map(|p| self.projects.get(&p)).filter(|p| p.enabled && self.domain_enabled(&p.domain)).collect()
    }

    /// Removes a token from every index.
    pub(crate) fn drop_token(&mut self, secret: &TokenDigest) {
        if let Some(t) = self.tokens.remove(secret) {
            self.token_expiry.remove(&(t.expires_at, secret.clone()));
            self.user_tokens.remove(&(t.user, secret.clone()));
        }
    }

    /// Drops every token that expired at or before `now`, oldest first.
    pub(crate) fn prune_expired(&mut self, now: Time) {
        while let Some((at, secret)) = self.token_expiry.first().cloned() {
            if at > now {
                break;
            }
            self.drop_token(&secret);
        }
    }

    /// Revokes every token of `user`.
    pub(crate) fn revoke_user_tokens(&mut self, user: Uuid) {
        let secrets: Vec<TokenDigest> =
            self.user_tokens.range((user, TokenDigest::default())..).take_while(|(u, _)| *u == user).map(|(_, s)| s.clone()).collect();
        for s in secrets {
            self.drop_token(&s);
        }
    }

    /// Revokes the tokens (of `users`, or of everyone) that no longer pass [`Identity::check_token`].
    pub(crate) fn prune_inaccessible(&mut self, now: Time, users: Option<&BTreeSet<Uuid>>) {
        let candidates: Vec<TokenDigest> = match users {
            Some(users) => users
                .iter()
                .flat_map(|&u| self.user_tokens.range((u, TokenDigest::default())..).take_while(move |(x, _)| *x == u))
                .map(|(_, s)| s.clone())
                .collect(),
            None => self.tokens.keys().cloned().collect(),
        };
        for s in candidates {
            let dead = self.tokens.get(&s).is_some_and(|t| self.check_token(t, now).is_err());
            if dead {
                self.drop_token(&s);
            }
        }
    }
}

/// What an authentication establishes: the user, methods, expiry, parent audit id, and the
/// application credential with the project it binds the token to.
struct Established {
    user: Uuid,
    methods: Vec<String>,
    expires_at: Time,
    parent: Option<String>,
    app_cred: Option<(Uuid, Uuid)>,
}

fn authenticate(id: &Identity, auth: &Auth, req: &IssueReq) -> Result<Established> {
    match &req.method {
        AuthMethod::Password { user } => {
            if *auth != Auth::System {
                return Err(forbidden("create_token (password verified by the shell)"));
            }
            Ok(Established { user: *user, methods: vec!["password".to_string()], expires_at: req.now.plus(req.ttl), parent: None, app_cred: None })
        }
        AuthMethod::Token { token } => {
            let old = id.tokens.get(token).ok_or_else(unauthorized)?;
            id.check_token(old, req.now).map_err(|_| unauthorized())?;
            if old.app_cred.is_some() {
                return Err(Error::forbidden("identity.forbidden", "A token from an application credential cannot be rescoped.".into()));
            }
            let mut methods = vec!["token".to_string()];
            methods.extend(old.methods.iter().filter(|m| *m != "token").cloned());
            Ok(Established { user: old.user, methods, expires_at: old.expires_at, parent: old.audit_ids.first().cloned(), app_cred: None })
        }
        AuthMethod::ApplicationCredential { id: cid } => {
            if *auth != Auth::System {
                return Err(forbidden("create_token (application credential verified by the shell)"));
            }
            let c = id.app_creds.0.get(cid).ok_or_else(unauthorized)?;
            if c.expires_at.is_some_and(|t| t <= req.now) {
                return Err(unauthorized());
            }
            let expires_at = c.expires_at.map_or(req.now.plus(req.ttl), |t| t.min(req.now.plus(req.ttl)));
            Ok(Established { user: c.user, methods: vec!["application_credential".to_string()], expires_at, parent: None, app_cred: Some((c.id, c.project)) })
        }
    }
}

/// Issues a token: validates everything, then draws the audit id, prunes expired tokens
/// and stores the new one.
pub fn issue(id: &mut Identity, rng: &mut Rng, auth: &Auth, req: IssueReq) -> Result<TokenInfo> {
    if !req.token.is_well_formed() {
        return Err(Error::bad_request("identity.bad_request", "A token digest must be 64 lower-case hex digits.".into()));
    }
    if id.tokens.contains_key(&req.token) {
        return Err(Error::conflict("identity.conflict", "Conflict occurred attempting to store token - Duplicate entry.".into()));
    }
    let Established { user, methods, expires_at, parent, app_cred } = authenticate(id, auth, &req)?;
    let scope = match (req.scope, app_cred) {
        (None, Some((_, project))) => Scope::Project(project),
        (Some(s), Some((_, project))) if s == Scope::Project(project) => s,
        (Some(_), Some(_)) => return Err(unauthorized()),
        (Some(s), None) => s,
        (None, None) => match id.users.get(&user).and_then(|u| u.default_project) {
            Some(p) if id.access(user, &Scope::Project(p)).is_ok() => Scope::Project(p),
            _ => Scope::Unscoped,
        },
    };
    let app_cred = app_cred.map(|(c, _)| c);
    let mut token = Token { user, scope, methods, issued_at: req.now, expires_at, audit_ids: Vec::new(), app_cred };
    // Checked before the audit id is drawn: a refused token leaves the state as it was.
    let roles = id.check_token(&token, req.now)?;
    token.audit_ids.push(audit_id(rng));
    token.audit_ids.extend(parent);
    id.prune_expired(req.now);
    id.token_expiry.insert((expires_at, req.token.clone()));
    id.user_tokens.insert((user, req.token.clone()));
    id.tokens.insert(req.token, token.clone());
    Ok(id.describe(&token, &roles))
}

/// Revokes `secret`: the caller must own it or be an admin.
pub fn revoke(id: &mut Identity, caller: &Caller, now: Time, secret: &TokenDigest) -> Result<()> {
    let token = id.token(secret, now).ok_or_else(|| Error::not_found("identity.not_found", "Could not find token.".into()))?;
    if !caller.admin && token.user != caller.user {
        return Err(forbidden("revoke_token"));
    }
    id.drop_token(secret);
    Ok(())
}
