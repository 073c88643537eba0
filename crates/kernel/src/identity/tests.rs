//! Identity unit tests: bootstrap, tokens, policy, cascades, and refusals that change nothing.

use std::collections::BTreeSet;

use super::*;
use crate::topology::HostSpec;
use crate::{Command, Dur, InitSpec, Kernel, Request, TopologySpec};

const T0: Time = Time::from_secs(1_800_000_000);

fn tiny_topology() -> TopologySpec {
    TopologySpec::uniform("RegionOne", HostSpec::compute(8, 16_384, 100), &[("nova", 1, 2)])
}

fn kernel() -> Kernel {
    let mut k = Kernel::new();
    let spec = InitSpec { seed: 7, topology: tiny_topology(), bootstrap: Bootstrap::new("admin", "$argon2id$v=19$fake") };
    k.apply(T0, Request { auth: Auth::System, command: Command::Init(Box::new(spec)) }).unwrap();
    k
}

fn run(k: &mut Kernel, auth: &Auth, cmd: Cmd) -> Result<Reply> {
    let now = k.now();
    k.apply(now, Request { auth: auth.clone(), command: Command::Identity(cmd) }).map(|r| match r {
        crate::Reply::Identity(r) => r,
        other => panic!("unexpected reply {other:?}"),
    })
}

fn secret(n: u32) -> tokens::TokenDigest {
    tokens::TokenDigest::of(&format!("{n:064x}"))
}

fn admin_id(k: &Kernel) -> Uuid {
    k.identity.user_by_name(DEFAULT_DOMAIN, "admin").unwrap().id
}

fn role(k: &Kernel, name: &str) -> Uuid {
    k.identity.role_by_name(name).unwrap().id
}

/// Issues a password token for `user` as the shell does after checking the password.
fn login(k: &mut Kernel, n: u32, user: Uuid, scope: Option<Scope>) -> Result<Auth> {
    let cmd = Cmd::IssueToken { token: secret(n), method: AuthMethod::Password { user }, scope };
    run(k, &Auth::System, cmd).map(|_| Auth::Token(secret(n)))
}

fn admin_token(k: &mut Kernel) -> Auth {
    let admin = admin_id(k);
    login(k, 1, admin, None).unwrap()
}

fn project(k: &mut Kernel, auth: &Auth, n: u128, name: &str) -> Uuid {
    let p = Project { id: Uuid(n), name: name.into(), domain: DEFAULT_DOMAIN.into(), parent: None, description: None, enabled: true, tags: BTreeSet::new() };
    run(k, auth, Cmd::CreateProject(p)).unwrap();
    Uuid(n)
}

fn user(k: &mut Kernel, auth: &Auth, n: u128, name: &str, default_project: Option<Uuid>) -> Uuid {
    let u = User {
        id: Uuid(n),
        name: name.into(),
        domain: DEFAULT_DOMAIN.into(),
        enabled: true,
        default_project,
        password_hash: Some("$argon2id$v=19$x".into()),
        description: None,
        email: None,
        extra: Default::default(),
    };
    run(k, auth, Cmd::CreateUser(u)).unwrap();
    Uuid(n)
}

fn grant(k: &mut Kernel, auth: &Auth, user: Uuid, project: Uuid, role_name: &str) {
    let a = Assignment { actor: Actor::User(user), target: Target::Project(project), role: role(k, role_name) };
    run(k, auth, Cmd::Grant(a)).unwrap();
}

/// A project `p` with a user `u` holding `role_name` there, and a token for `u`.
fn member_setup(k: &mut Kernel, role_name: &str) -> (Auth, Uuid, Uuid, Auth) {
    let admin = admin_token(k);
    let p = project(k, &admin, 100, "p");
    let u = user(k, &admin, 200, "u", Some(p));
    grant(k, &admin, u, p, role_name);
    let tok = login(k, 2, u, Some(Scope::Project(p))).unwrap();
    (admin, p, u, tok)
}

/// Asserts `cmd` fails with `status` and leaves the kernel's state hash unchanged.
fn refused(k: &mut Kernel, auth: &Auth, cmd: Cmd, status: u16) {
    let before = k.state_hash();
    let err = run(k, auth, cmd).unwrap_err();
    let kind = match status {
        400 => crate::ErrorKind::BadRequest,
        401 => crate::ErrorKind::Unauthorized,
        403 => crate::ErrorKind::Forbidden,
        404 => crate::ErrorKind::NotFound,
        409 => crate::ErrorKind::Conflict,
        _ => panic!("no error kind answers {status} in identity"),
    };
    assert_eq!(err.kind, kind, "{err}");
    assert_eq!(k.state_hash(), before, "a refused command changed state: {err}");
}

#[test]
fn bootstrap_creates_domain_projects_admin_and_roles() {
    let k = kernel();
    let id = &k.identity;
    assert_eq!(id.domains[DEFAULT_DOMAIN].name, "Default");
    assert!(id.project_by_name(DEFAULT_DOMAIN, "admin").is_some());
    assert!(id.project_by_name(DEFAULT_DOMAIN, "service").is_some());
    let admin = id.user_by_name(DEFAULT_DOMAIN, "admin").unwrap();
    let admin_project = id.project_by_name(DEFAULT_DOMAIN, "admin").unwrap().id;
    assert_eq!(admin.default_project, Some(admin_project));
    let roles = id.effective_roles(admin.id, &Target::Project(admin_project));
    let names: BTreeSet<&str> = roles.iter().map(|r| id.roles[r].name.as_str()).collect();
    assert_eq!(names, BTreeSet::from(["admin", "manager", "member", "reader"]));
    assert!(id.roles.values().any(|r| r.name == "service"), "Keystone's service role is built in");
    assert_eq!(id.region, "RegionOne");
}

#[test]
fn an_init_journalled_before_roles_were_listed_bootstraps_the_legacy_roles_and_hash() {
    // What serde's default gives an Init journalled without `roles` (the golden data
    // directories replay such journals); the kernel takes no JSON dependency to build it.
    let legacy = Bootstrap { roles: legacy_roles(), ..Bootstrap::new("admin", "$argon2id$v=19$fake") };
    assert_eq!(legacy.roles, LEGACY_ROLES.map(String::from).to_vec());
    let mut k = Kernel::new();
    let spec = InitSpec { seed: 7, topology: tiny_topology(), bootstrap: legacy.clone() };
    k.apply(T0, Request { auth: Auth::System, command: Command::Init(Box::new(spec)) }).unwrap();
    let names: BTreeSet<&str> = k.identity.roles.values().map(|r| r.name.as_str()).collect();
    assert_eq!(names, BTreeSet::from(LEGACY_ROLES));
    let hash = |b: &Bootstrap| {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        b.hash(&mut h);
        h.finish()
    };
    let mut unlisted = legacy.clone();
    unlisted.roles.clear();
    assert_ne!(hash(&legacy), hash(&Bootstrap::new("admin", "$argon2id$v=19$fake")), "the new role set counts in the hash");
    assert_ne!(hash(&legacy), hash(&unlisted), "only the legacy set is left out of the hash");
}

#[test]
fn bootstrap_is_deterministic() {
    assert_eq!(kernel().state_hash(), kernel().state_hash());
    assert_eq!(kernel().identity, kernel().identity);
}

#[test]
fn password_token_scopes_to_default_project_and_resolves_to_admin() {
    let mut k = kernel();
    let auth = admin_token(&mut k);
    let caller = k.caller(&auth).unwrap();
    assert!(caller.admin && caller.member && caller.reader && !caller.system);
    assert_eq!(caller.project, k.identity.project_by_name(DEFAULT_DOMAIN, "admin").map(|p| p.id));
    assert_eq!(caller.roles, vec!["admin", "manager", "member", "reader"]);
    let info = k.identity.token_info(&secret(1), k.now()).unwrap();
    assert_eq!(info.token.methods, vec!["password"]);
    assert_eq!(info.token.expires_at, T0.plus(Dur::secs(3600)));
    assert_eq!(info.token.audit_ids[0].len(), 22);
    assert_eq!(info.user_domain.name, "Default");
    assert_eq!(info.project.unwrap().0.name, "admin");
}

#[test]
fn password_method_is_only_for_the_shell() {
    let mut k = kernel();
    let auth = admin_token(&mut k);
    let admin = admin_id(&k);
    let cmd = Cmd::IssueToken { token: secret(9), method: AuthMethod::Password { user: admin }, scope: None };
    refused(&mut k, &auth, cmd, 403);
}

#[test]
fn unknown_or_missing_token_is_unauthorized() {
    let k = kernel();
    let err = k.caller(&Auth::Token(secret(42))).unwrap_err();
    assert_eq!(err, Error::unauthorized("identity.unauthorized", tokens::UNAUTHORIZED.into()));
}

#[test]
fn tokens_expire_and_expired_tokens_are_pruned() {
    let mut k = kernel();
    let auth = admin_token(&mut k);
    k.advance(T0.plus(Dur::secs(3599)));
    assert!(k.caller(&auth).is_ok());
    k.advance(T0.plus(Dur::secs(3600)));
    assert_eq!(k.caller(&auth).unwrap_err().kind, crate::ErrorKind::Unauthorized);
    assert_eq!(k.identity.tokens.len(), 1);
    let admin = admin_id(&k);
    login(&mut k, 3, admin, None).unwrap();
    assert_eq!(k.identity.tokens.len(), 1, "the expired token was not pruned");
    assert_eq!(k.identity.token_expiry.len(), 1);
    assert_eq!(k.identity.user_tokens.len(), 1);
}

#[test]
fn revoked_token_stops_resolving_and_only_owner_or_admin_may_revoke() {
    let mut k = kernel();
    let (admin, _p, _u, tok) = member_setup(&mut k, "member");
    refused(&mut k, &tok, Cmd::RevokeToken { token: secret(1) }, 403);
    run(&mut k, &tok, Cmd::RevokeToken { token: secret(2) }).unwrap();
    assert_eq!(k.caller(&tok).unwrap_err().kind, crate::ErrorKind::Unauthorized);
    refused(&mut k, &admin, Cmd::RevokeToken { token: secret(2) }, 404);
}

#[test]
fn roles_imply_weaker_roles() {
    let mut k = kernel();
    let (_admin, _p, _u, tok) = member_setup(&mut k, "member");
    let c = k.caller(&tok).unwrap();
    assert!(!c.admin && c.member && c.reader);
    assert_eq!(c.roles, vec!["member", "reader"]);
}

#[test]
fn reader_is_neither_member_nor_admin() {
    let mut k = kernel();
    let (_admin, _p, _u, tok) = member_setup(&mut k, "reader");
    let c = k.caller(&tok).unwrap();
    assert!(!c.admin && !c.member && c.reader);
}

#[test]
fn member_cannot_do_admin_things() {
    let mut k = kernel();
    let (_admin, p, u, tok) = member_setup(&mut k, "member");
    let proj = Project { id: Uuid(5), name: "x".into(), domain: DEFAULT_DOMAIN.into(), parent: None, description: None, enabled: true, tags: BTreeSet::new() };
    refused(&mut k, &tok, Cmd::CreateProject(proj), 403);
    refused(&mut k, &tok, Cmd::DeleteProject { id: p }, 403);
    let a = Assignment { actor: Actor::User(u), target: Target::Project(p), role: role(&k, "admin") };
    refused(&mut k, &tok, Cmd::Grant(a), 403);
    refused(&mut k, &tok, Cmd::UpdateUser { id: u, patch: UserPatch { enabled: Some(false), ..Default::default() } }, 403);
}

#[test]
fn user_may_change_own_password_only() {
    let mut k = kernel();
    let (_admin, _p, u, tok) = member_setup(&mut k, "member");
    let admin = admin_id(&k);
    refused(&mut k, &tok, Cmd::ChangePassword { user: admin, password_hash: "$argon2id$new".into() }, 403);
    run(&mut k, &tok, Cmd::ChangePassword { user: u, password_hash: "$argon2id$new".into() }).unwrap();
    assert_eq!(k.identity.users[&u].password_hash.as_deref(), Some("$argon2id$new"));
    assert_eq!(k.caller(&tok).unwrap_err().kind, crate::ErrorKind::Unauthorized, "a password change revokes tokens");
}

#[test]
fn deleting_a_project_revokes_its_tokens_and_assignments() {
    let mut k = kernel();
    let (admin, p, u, tok) = member_setup(&mut k, "member");
    run(&mut k, &admin, Cmd::DeleteProject { id: p }).unwrap();
    assert_eq!(k.caller(&tok).unwrap_err().kind, crate::ErrorKind::Unauthorized);
    assert!(!k.identity.tokens.contains_key(&secret(2)));
    assert!(k.identity.assignments_of(&Actor::User(u)).next().is_none());
    assert!(k.caller(&admin).is_ok());
}

#[test]
fn disabling_or_deleting_a_user_revokes_tokens() {
    let mut k = kernel();
    let (admin, p, u, tok) = member_setup(&mut k, "member");
    run(&mut k, &admin, Cmd::UpdateUser { id: u, patch: UserPatch { enabled: Some(false), ..Default::default() } }).unwrap();
    assert_eq!(k.caller(&tok).unwrap_err().kind, crate::ErrorKind::Unauthorized);
    assert!(login(&mut k, 3, u, Some(Scope::Project(p))).is_err());
    run(&mut k, &admin, Cmd::DeleteUser { id: u }).unwrap();
    assert!(k.identity.users.is_empty() || !k.identity.users.contains_key(&u));
    assert!(k.identity.user_by_name(DEFAULT_DOMAIN, "u").is_none());
}

#[test]
fn losing_the_last_role_revokes_scoped_tokens() {
    let mut k = kernel();
    let (admin, p, u, tok) = member_setup(&mut k, "member");
    let a = Assignment { actor: Actor::User(u), target: Target::Project(p), role: role(&k, "member") };
    run(&mut k, &admin, Cmd::Revoke(a.clone())).unwrap();
    assert!(!k.identity.tokens.contains_key(&secret(2)));
    run(&mut k, &admin, Cmd::Grant(a)).unwrap();
    assert_eq!(k.caller(&tok).unwrap_err().kind, crate::ErrorKind::Unauthorized, "a re-grant must not revive a revoked token");
}

#[test]
fn scoping_without_a_role_is_refused_and_changes_nothing() {
    let mut k = kernel();
    let admin = admin_token(&mut k);
    let p = project(&mut k, &admin, 100, "p");
    let u = user(&mut k, &admin, 200, "u", None);
    let cmd = Cmd::IssueToken { token: secret(5), method: AuthMethod::Password { user: u }, scope: Some(Scope::Project(p)) };
    refused(&mut k, &Auth::System, cmd, 401);
    // Without a scope and no usable default project the token is unscoped.
    login(&mut k, 6, u, None).unwrap();
    let c = k.caller(&Auth::Token(secret(6))).unwrap();
    assert!(c.project.is_none() && !c.member && !c.reader && c.roles.is_empty());
}

#[test]
fn rescoping_with_a_token_keeps_expiry_and_chains_audit_ids() {
    let mut k = kernel();
    let admin = admin_token(&mut k);
    let p = project(&mut k, &admin, 100, "p");
    let u = user(&mut k, &admin, 200, "u", None);
    grant(&mut k, &admin, u, p, "reader");
    login(&mut k, 6, u, Some(Scope::Unscoped)).unwrap();
    k.advance(T0.plus(Dur::secs(60)));
    let cmd = Cmd::IssueToken { token: secret(7), method: AuthMethod::Token { token: secret(6) }, scope: Some(Scope::Project(p)) };
    let Reply::Token(info) = run(&mut k, &Auth::System, cmd).unwrap() else { panic!("no token") };
    let old = k.identity.tokens[&secret(6)].clone();
    assert_eq!(info.token.expires_at, old.expires_at);
    assert_eq!(info.token.methods, vec!["token", "password"]);
    assert_eq!(info.token.audit_ids[1], old.audit_ids[0]);
    assert_eq!(info.roles.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), vec!["reader"]);
}

#[test]
fn names_are_unique_per_domain_and_failures_change_nothing() {
    let mut k = kernel();
    let admin = admin_token(&mut k);
    project(&mut k, &admin, 100, "p");
    let dup = Project { id: Uuid(101), name: "p".into(), domain: DEFAULT_DOMAIN.into(), parent: None, description: None, enabled: true, tags: BTreeSet::new() };
    let before = k.state_hash();
    let err = run(&mut k, &admin, Cmd::CreateProject(dup.clone())).unwrap_err();
    assert_eq!(err.to_string(), "Conflict occurred attempting to store project - Duplicate entry found with name p at domain ID default.");
    assert_eq!(k.state_hash(), before);
    let other = Domain { id: "d1".into(), name: "Other".into(), description: None, enabled: true };
    run(&mut k, &admin, Cmd::CreateDomain(other)).unwrap();
    run(&mut k, &admin, Cmd::CreateProject(Project { domain: "d1".into(), ..dup })).unwrap();
    refused(&mut k, &admin, Cmd::DeleteProject { id: Uuid(999) }, 404);
    let member = role(&k, "member");
    refused(&mut k, &admin, Cmd::DeleteRole { id: member }, 403);
    refused(&mut k, &admin, Cmd::DeleteDomain { id: "d1".into() }, 403);
}

#[test]
fn group_grants_reach_members_and_listings_expand_them() {
    let mut k = kernel();
    let admin = admin_token(&mut k);
    let p = project(&mut k, &admin, 100, "p");
    let u = user(&mut k, &admin, 200, "u", None);
    let g = Group { id: Uuid(300), name: "g".into(), domain: DEFAULT_DOMAIN.into(), description: None, extra: Default::default() };
    run(&mut k, &admin, Cmd::CreateGroup(g)).unwrap();
    run(&mut k, &admin, Cmd::AddToGroup { group: Uuid(300), user: u }).unwrap();
    let a = Assignment { actor: Actor::Group(Uuid(300)), target: Target::Project(p), role: role(&k, "member") };
    run(&mut k, &admin, Cmd::Grant(a)).unwrap();
    let tok = login(&mut k, 8, u, Some(Scope::Project(p))).unwrap();
    assert!(k.caller(&tok).unwrap().member);
    let f = AssignmentFilter { user: Some(u), effective: true, ..Default::default() };
    let rows = k.identity.list_assignments(&f);
    assert_eq!(rows.len(), 2, "member and the reader it implies: {rows:?}");
    assert!(rows.iter().all(|r| r.via_group == Some(Uuid(300)) && r.actor == Actor::User(u)));
    assert_eq!(rows.iter().filter(|r| r.prior_role.is_some()).count(), 1);
    let direct = AssignmentFilter { user: Some(u), ..Default::default() };
    assert!(k.identity.list_assignments(&direct).is_empty());
    run(&mut k, &admin, Cmd::RemoveFromGroup { group: Uuid(300), user: u }).unwrap();
    assert_eq!(k.caller(&tok).unwrap_err().kind, crate::ErrorKind::Unauthorized);
}

#[test]
fn deleting_a_disabled_domain_cascades() {
    let mut k = kernel();
    let admin = admin_token(&mut k);
    let d = Domain { id: "d1".into(), name: "Other".into(), description: None, enabled: true };
    run(&mut k, &admin, Cmd::CreateDomain(d)).unwrap();
    let p = Project { id: Uuid(100), name: "p".into(), domain: "d1".into(), parent: None, description: None, enabled: true, tags: BTreeSet::new() };
    run(&mut k, &admin, Cmd::CreateProject(p)).unwrap();
    let u = User {
        id: Uuid(200),
        name: "u".into(),
        domain: "d1".into(),
        enabled: true,
        default_project: None,
        password_hash: None,
        description: None,
        email: None,
        extra: Default::default(),
    };
    run(&mut k, &admin, Cmd::CreateUser(u)).unwrap();
    grant(&mut k, &admin, Uuid(200), Uuid(100), "member");
    let tok = login(&mut k, 4, Uuid(200), Some(Scope::Project(Uuid(100)))).unwrap();
    let disable = DomainPatch { enabled: Some(false), ..Default::default() };
    run(&mut k, &admin, Cmd::UpdateDomain { id: "d1".into(), patch: disable }).unwrap();
    assert_eq!(k.caller(&tok).unwrap_err().kind, crate::ErrorKind::Unauthorized);
    run(&mut k, &admin, Cmd::DeleteDomain { id: "d1".into() }).unwrap();
    assert!(!k.identity.projects.contains_key(&Uuid(100)) && !k.identity.users.contains_key(&Uuid(200)));
    assert!(k.identity.assignments.iter().all(|a| a.target != Target::Project(Uuid(100))));
    assert!(k.identity.project_names.keys().all(|(d, _)| d != "d1"));
    let default = DomainPatch { enabled: Some(false), ..Default::default() };
    refused(&mut k, &admin, Cmd::UpdateDomain { id: DEFAULT_DOMAIN.into(), patch: default }, 403);
}

#[test]
fn audit_ids_are_url_safe_base64_of_16_bytes() {
    let mut rng = crate::rng::Rng::new(3);
    for _ in 0..50 {
        let a = tokens::audit_id(&mut rng);
        assert_eq!(a.len(), 22);
        assert!(a.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    }
    let mut zero = crate::rng::Rng::new(0);
    assert_ne!(tokens::audit_id(&mut zero), tokens::audit_id(&mut zero));
}

#[test]
fn immutable_fields_are_checked_inside_the_update() {
    let mut k = kernel();
    let admin = admin_token(&mut k);
    let p = project(&mut k, &admin, 100, "p");
    let u = user(&mut k, &admin, 200, "u", None);
    let same = ProjectPatch { domain: Some(DEFAULT_DOMAIN.into()), parent: Some(DEFAULT_DOMAIN.into()), name: Some("p2".into()), ..Default::default() };
    run(&mut k, &admin, Cmd::UpdateProject { id: p, patch: same }).expect("naming the current domain and parent is allowed");
    let moved = ProjectPatch { domain: Some("other".into()), ..Default::default() };
    refused(&mut k, &admin, Cmd::UpdateProject { id: p, patch: moved }, 400);
    let reparented = ProjectPatch { parent: Some(Uuid(999).simple()), ..Default::default() };
    refused(&mut k, &admin, Cmd::UpdateProject { id: p, patch: reparented }, 403);
    refused(&mut k, &admin, Cmd::UpdateProject { id: p, patch: ProjectPatch { is_domain: Some(true), ..Default::default() } }, 400);
    refused(&mut k, &admin, Cmd::UpdateUser { id: u, patch: UserPatch { domain: Some("other".into()), ..Default::default() } }, 400);
    run(&mut k, &admin, Cmd::UpdateUser { id: u, patch: UserPatch { domain: Some(DEFAULT_DOMAIN.into()), ..Default::default() } }).expect("same domain");
}

#[test]
fn views_apply_keystones_read_policy() {
    let mut k = kernel();
    let (admin_auth, p, u, tok) = member_setup(&mut k, "member");
    let member = k.caller(&tok).unwrap();
    let id = &k.identity;
    let all = views::Filter::default();
    assert_eq!(views::users(id, &member, &all).unwrap_err().code, "identity.forbidden");
    assert_eq!(views::projects(id, &member, &all).unwrap_err().code, "identity.forbidden");
    assert_eq!(views::user(id, &member, &u.simple()).unwrap().id, u, "a user reads itself");
    assert_eq!(views::user(id, &member, &admin_id(&k).simple()).unwrap_err().code, "identity.forbidden");
    assert_eq!(views::project(id, &member, &p.simple()).unwrap().id, p, "a caller reads the project it is scoped to");
    assert_eq!(views::domain(id, &member, DEFAULT_DOMAIN).unwrap().id, DEFAULT_DOMAIN, "and its own domain");
    assert_eq!(views::user_projects(id, &member, &u.simple()).unwrap().iter().map(|p| p.id).collect::<Vec<_>>(), vec![p]);
    assert!(views::password_hash_for_change(id, &u.simple()).unwrap().is_some());
    assert_eq!(views::password_hash_for_change(id, &Uuid(7).simple()).unwrap_err().code, "identity.not_found");
    assert_eq!(views::caller_domain(id, &member), DEFAULT_DOMAIN);
    let admin = k.caller(&admin_auth).unwrap();
    let id = &k.identity;
    let named = views::Filter { name: Some("u".into()), ..Default::default() };
    assert_eq!(views::users(id, &admin, &named).unwrap().len(), 1);
    let top = views::Filter { parent: Some(DEFAULT_DOMAIN.into()), ..Default::default() };
    assert!(views::projects(id, &admin, &top).unwrap().iter().any(|x| x.id == p));
    assert!(views::projects(id, &admin, &views::Filter { is_domain: Some(true), ..Default::default() }).unwrap().is_empty());
    assert_eq!(views::role(id, "nope").unwrap_err().code, "identity.not_found");
    assert!(views::roles(id, &views::Filter { domain: Some("d".into()), ..Default::default() }).is_empty());
}

/// `Kernel::ask` answers a command with its own typed reply, refusals stay errors, and a reply
/// of another kind is an internal error, never a panic.
#[test]
fn typed_replies() {
    let mut k = kernel();
    let admin = admin_token(&mut k);
    let p =
        Project { id: Uuid(42), name: "typed".into(), domain: DEFAULT_DOMAIN.into(), parent: None, description: None, enabled: true, tags: BTreeSet::new() };
    let created = k.ask(T0, admin.clone(), crate::ask::identity::create_project(p.clone())).unwrap();
    assert_eq!(created, p);
    let again = k.ask(T0, admin.clone(), crate::ask::identity::create_project(p));
    assert_eq!(again.unwrap_err().code, "identity.conflict");
    let (_, typed) = crate::ask::identity::create_project(created).into_parts();
    let err = typed.take(crate::Reply::Done).unwrap_err();
    assert_eq!((err.kind, err.code), (crate::ErrorKind::Internal, "orrery.internal"));
}

fn other_domain(k: &mut Kernel, auth: &Auth, id: &str) {
    run(k, auth, Cmd::CreateDomain(Domain { id: id.into(), name: id.to_uppercase(), description: None, enabled: true })).unwrap();
}

fn domain_role(k: &mut Kernel, auth: &Auth, n: u128, name: &str, domain: Option<&str>) -> Uuid {
    run(k, auth, Cmd::CreateRole(Role { id: Uuid(n), name: name.into(), description: None, domain: domain.map(str::to_string) })).unwrap();
    Uuid(n)
}

#[test]
fn a_global_role_hashes_as_it_did_before_roles_had_domains() {
    use std::hash::{Hash, Hasher};
    let r = Role { id: Uuid(5), name: "r".into(), description: Some("d".into()), domain: None };
    let mut now = crate::hash::StableHasher::default();
    r.hash(&mut now);
    let mut before = crate::hash::StableHasher::default();
    (r.id, &r.name, &r.description).hash(&mut before);
    assert_eq!(now.finish(), before.finish());
    let mut scoped = crate::hash::StableHasher::default();
    Role { domain: Some("d1".into()), ..r }.hash(&mut scoped);
    assert_ne!(scoped.finish(), before.finish(), "a domain counts once set");
}

#[test]
fn domain_roles_are_named_within_their_domain_and_listed_apart() {
    let mut k = kernel();
    let admin = admin_token(&mut k);
    other_domain(&mut k, &admin, "d1");
    other_domain(&mut k, &admin, "d2");
    let r1 = domain_role(&mut k, &admin, 10, "admin", Some("d1"));
    domain_role(&mut k, &admin, 11, "admin", Some("d2"));
    let dup = Role { id: Uuid(12), name: "admin".into(), description: None, domain: Some("d1".into()) };
    refused(&mut k, &admin, Cmd::CreateRole(dup), 409);
    let nowhere = Role { id: Uuid(13), name: "x".into(), description: None, domain: Some("gone".into()) };
    refused(&mut k, &admin, Cmd::CreateRole(nowhere), 404);
    let id = &k.identity;
    assert_eq!(id.role_by_name("admin").unwrap().domain, None, "a name alone finds the global role");
    let in_d1 = views::roles(id, &views::Filter { domain: Some("d1".into()), ..Default::default() });
    assert_eq!(in_d1.iter().map(|r| r.id).collect::<Vec<_>>(), vec![r1]);
    assert!(views::roles(id, &views::Filter::default()).iter().all(|r| r.domain.is_none()));
    let moved = RolePatch { domain: Some(Some("d2".into())), ..Default::default() };
    refused(&mut k, &admin, Cmd::UpdateRole { id: r1, patch: moved }, 400);
    let same = RolePatch { domain: Some(Some("d1".into())), description: Some(Some("mine".into())), ..Default::default() };
    run(&mut k, &admin, Cmd::UpdateRole { id: r1, patch: same }).expect("naming the role's own domain is allowed");
    run(&mut k, &admin, Cmd::DeleteRole { id: r1 }).expect("a domain role with a built-in name is not built in");
}

#[test]
fn domain_roles_are_granted_in_their_domain_and_stay_out_of_tokens() {
    let mut k = kernel();
    let (admin, p, u, _) = member_setup(&mut k, "reader");
    other_domain(&mut k, &admin, "d1");
    let foreign = domain_role(&mut k, &admin, 10, "foreign", Some("d1"));
    let local = domain_role(&mut k, &admin, 11, "local", Some(DEFAULT_DOMAIN));
    let on = |target, role| Assignment { actor: Actor::User(u), target, role };
    refused(&mut k, &admin, Cmd::Grant(on(Target::Project(p), foreign)), 403);
    refused(&mut k, &admin, Cmd::Grant(on(Target::ProjectTree(p), foreign)), 403);
    refused(&mut k, &admin, Cmd::Grant(on(Target::System, local)), 400);
    run(&mut k, &admin, Cmd::Grant(on(Target::Domain("d1".into()), foreign))).expect("a domain role may be granted on a domain");
    run(&mut k, &admin, Cmd::Grant(on(Target::Project(p), local))).unwrap();
    let (member, reader) = (role(&k, "member"), role(&k, "reader"));
    run(&mut k, &admin, Cmd::Imply { prior: local, implied: member }).unwrap();
    let id = &k.identity;
    let held = id.effective_roles(u, &Target::Project(p));
    assert!(held.contains(&member) && !held.contains(&local), "the domain role implies and is then left out");
    assert!(id.held_roles(u, &Target::Project(p)).contains(&local));
    let f = AssignmentFilter { user: Some(u), project: Some(p), effective: true, ..Default::default() };
    let rows = id.list_assignments(&f);
    assert!(rows.iter().all(|r| r.role != local) && rows.iter().any(|r| r.prior_role == Some(local)));
    let direct = AssignmentFilter { user: Some(u), project: Some(p), ..Default::default() };
    assert!(id.list_assignments(&direct).iter().any(|r| r.role == local), "direct listings show it");
    assert!(id.projects_with_roles(u).contains(&p));
    assert!(id.domains_with_roles(u).is_empty(), "a domain role that implies nothing gives no domain to scope to");
    // With only the domain role (implying nothing), the user cannot scope to the project.
    run(&mut k, &admin, Cmd::Unimply { prior: local, implied: member }).unwrap();
    run(&mut k, &admin, Cmd::Revoke(on(Target::Project(p), reader))).unwrap();
    assert_eq!(login(&mut k, 9, u, Some(Scope::Project(p))).unwrap_err().kind, crate::ErrorKind::Unauthorized);
    assert!(!k.identity.projects_with_roles(u).contains(&p), "nor is the project listed as one to scope to");
}

#[test]
fn a_domain_role_may_imply_any_role_but_a_global_role_no_domain_role() {
    let mut k = kernel();
    let admin = admin_token(&mut k);
    other_domain(&mut k, &admin, "d1");
    other_domain(&mut k, &admin, "d2");
    let (a, b) = (domain_role(&mut k, &admin, 10, "a", Some("d1")), domain_role(&mut k, &admin, 11, "b", Some("d1")));
    let c = domain_role(&mut k, &admin, 12, "c", Some("d2"));
    let global = domain_role(&mut k, &admin, 13, "g", None);
    for implied in [b, c, global] {
        run(&mut k, &admin, Cmd::Imply { prior: a, implied }).unwrap();
    }
    refused(&mut k, &admin, Cmd::Imply { prior: global, implied: a }, 403);
}

#[test]
fn deleting_a_domain_deletes_its_roles_and_configuration() {
    let mut k = kernel();
    let (admin, p, u, _) = member_setup(&mut k, "member");
    other_domain(&mut k, &admin, "d1");
    let r = domain_role(&mut k, &admin, 10, "r", Some("d1"));
    run(&mut k, &admin, Cmd::Grant(Assignment { actor: Actor::User(u), target: Target::Domain("d1".into()), role: r })).unwrap();
    let reader = role(&k, "reader");
    run(&mut k, &admin, Cmd::Imply { prior: r, implied: reader }).unwrap();
    let config = config_of(&[("identity", "driver", "\"ldap\"")]);
    run(&mut k, &admin, Cmd::SetDomainConfig { domain: "d1".into(), config }).unwrap();
    run(&mut k, &admin, Cmd::UpdateDomain { id: "d1".into(), patch: DomainPatch { enabled: Some(false), ..Default::default() } }).unwrap();
    run(&mut k, &admin, Cmd::DeleteDomain { id: "d1".into() }).unwrap();
    let id = &k.identity;
    assert!(!id.roles.contains_key(&r) && id.assignments.iter().all(|a| a.role != r) && id.implies.iter().all(|&(x, _)| x != r));
    assert!(id.domain_configs.is_empty());
    assert!(id.effective_roles(u, &Target::Project(p)).contains(&role(&k, "member")), "others keep their roles");
}

fn config_of(items: &[(&str, &str, &str)]) -> domain_config::Config {
    let mut c = domain_config::Config::new();
    for (g, o, v) in items {
        c.entry(g.to_string()).or_default().insert(o.to_string(), v.to_string());
    }
    c
}

#[test]
fn a_domain_configuration_is_validated_stored_and_shown_without_secrets() {
    let mut k = kernel();
    let admin = admin_token(&mut k);
    other_domain(&mut k, &admin, "d1");
    let unused = k.state_hash();
    let d = || "d1".to_string();
    let bad = config_of(&[("identity", "driver", "\"ldap\""), ("ldap", "no_such_option", "1")]);
    refused(&mut k, &admin, Cmd::SetDomainConfig { domain: d(), config: bad }, 403);
    refused(&mut k, &admin, Cmd::SetDomainConfig { domain: d(), config: config_of(&[("assignment", "driver", "\"sql\"")]) }, 403);
    refused(&mut k, &admin, Cmd::SetDomainConfig { domain: d(), config: Default::default() }, 403);
    refused(&mut k, &admin, Cmd::SetDomainConfig { domain: "gone".into(), config: config_of(&[("identity", "driver", "\"ldap\"")]) }, 404);
    let config = config_of(&[("identity", "driver", "\"ldap\""), ("ldap", "url", "\"ldap://x\""), ("ldap", "password", "\"s3cret\"")]);
    let first = k.ask(T0, admin.clone(), crate::ask::identity::set_domain_config(d(), config.clone())).unwrap();
    assert!(first.created && first.config == config_of(&[("identity", "driver", "\"ldap\""), ("ldap", "url", "\"ldap://x\"")]), "{first:?}");
    assert!(!k.ask(T0, admin.clone(), crate::ask::identity::set_domain_config(d(), config)).unwrap().created, "a replacement is no creation");
    assert_ne!(k.state_hash(), unused);
    let caller = k.caller(&admin).unwrap();
    let id = &k.identity;
    assert_eq!(domain_config::show(id, &caller, "d1", Some("ldap"), Some("url")).unwrap(), config_of(&[("ldap", "url", "\"ldap://x\"")]));
    assert_eq!(domain_config::show(id, &caller, "d1", Some("ldap"), Some("password")).unwrap_err().kind, crate::ErrorKind::NotFound, "never shown");
    assert_eq!(domain_config::show(id, &caller, "d1", Some("ldap"), Some("nope")).unwrap_err().kind, crate::ErrorKind::Forbidden);
    // A group or option update names exactly what exists.
    let update = |group: Option<&str>, option: Option<&str>, items: &[(&str, &str, &str)]| Cmd::UpdateDomainConfig {
        domain: d(),
        group: group.map(str::to_string),
        option: option.map(str::to_string),
        config: config_of(items),
    };
    refused(&mut k, &admin, update(Some("identity"), None, &[("ldap", "url", "\"y\"")]), 403);
    refused(&mut k, &admin, update(Some("identity"), Some("driver"), &[("identity", "driver", "\"a\""), ("identity", "list_limit", "1")]), 403);
    refused(&mut k, &admin, update(Some("identity"), Some("list_limit"), &[("identity", "list_limit", "5")]), 404);
    run(&mut k, &admin, update(Some("identity"), None, &[("identity", "driver", "\"sql\""), ("identity", "list_limit", "5")])).unwrap();
    run(&mut k, &admin, update(Some("identity"), Some("list_limit"), &[("identity", "list_limit", "7")])).unwrap();
    assert_eq!(k.identity.domain_configs.0["d1"]["identity"]["list_limit"], "7");
    let delete = |group: Option<&str>, option: Option<&str>| Cmd::DeleteDomainConfig {
        domain: d(),
        group: group.map(str::to_string),
        option: option.map(str::to_string),
    };
    run(&mut k, &admin, delete(Some("identity"), Some("driver"))).unwrap();
    refused(&mut k, &admin, delete(Some("identity"), Some("driver")), 404);
    run(&mut k, &admin, delete(Some("identity"), None)).unwrap();
    refused(&mut k, &admin, delete(Some("identity"), None), 404);
    run(&mut k, &admin, delete(None, None)).unwrap();
    run(&mut k, &admin, delete(None, None)).expect("deleting no configuration is no error");
    assert_eq!(k.state_hash(), unused, "an emptied configuration leaves the state as if never set");
    let caller = k.caller(&admin).unwrap();
    assert_eq!(domain_config::show(&k.identity, &caller, "d1", None, None).unwrap_err().kind, crate::ErrorKind::NotFound);
}

#[test]
fn domain_configuration_defaults_are_keystones_and_admin_only() {
    let mut k = kernel();
    let (admin, _, _, member) = member_setup(&mut k, "member");
    let (admin, member) = (k.caller(&admin).unwrap(), k.caller(&member).unwrap());
    let all = domain_config::defaults(&admin, None, None).unwrap();
    assert_eq!(all.keys().collect::<Vec<_>>(), vec!["identity", "ldap"]);
    assert_eq!(all["identity"]["driver"], "\"sql\"");
    assert_eq!(all["ldap"]["user_attribute_ignore"], "[\"default_project_id\"]");
    assert!(!all["ldap"].contains_key("password"), "a sensitive option has no default to show");
    assert_eq!(domain_config::defaults(&admin, Some("ldap"), Some("password")).unwrap_err().kind, crate::ErrorKind::Forbidden);
    assert_eq!(domain_config::defaults(&admin, Some("ldap"), Some("url")).unwrap(), config_of(&[("ldap", "url", "\"ldap://localhost\"")]));
    assert_eq!(domain_config::defaults(&member, None, None).unwrap_err().code, "identity.forbidden");
    let id = &k.identity;
    let rules = domain_config::security_compliance(id, DEFAULT_DOMAIN, None).unwrap();
    assert_eq!(rules["security_compliance"].values().collect::<Vec<_>>(), vec!["null", "null"]);
    assert_eq!(domain_config::security_compliance(id, DEFAULT_DOMAIN, Some("lockout_duration")).unwrap_err().kind, crate::ErrorKind::Forbidden);
}

#[test]
fn domains_are_projects_acting_as_domains_in_project_views() {
    let mut k = kernel();
    let (admin, p, _, member) = member_setup(&mut k, "member");
    let hex = Uuid(0xd0).simple();
    other_domain(&mut k, &admin, &hex);
    let (admin, member) = (k.caller(&admin).unwrap(), k.caller(&member).unwrap());
    let id = &k.identity;
    let as_domains = views::Filter { is_domain: Some(true), ..Default::default() };
    let ids: Vec<String> = views::domain_projects(id, &admin, &as_domains).unwrap().into_iter().map(|d| d.id).collect();
    assert_eq!(ids, vec![hex.clone(), DEFAULT_DOMAIN.to_string()]);
    let under = views::Filter { is_domain: Some(true), domain: Some(DEFAULT_DOMAIN.into()), ..Default::default() };
    assert!(views::domain_projects(id, &admin, &under).unwrap().is_empty(), "a domain has no domain");
    assert_eq!(views::domain_projects(id, &member, &as_domains).unwrap_err().code, "identity.forbidden");
    assert_eq!(views::project_domain(id, &Uuid(0xd0).to_string()), Some(hex.clone()), "either UUID form");
    assert_eq!(views::project_domain(id, &p.simple()), None);
    assert!(matches!(views::project_like(id, &admin, DEFAULT_DOMAIN).unwrap(), views::ProjectLike::Domain(d) if d.id == DEFAULT_DOMAIN));
    assert!(matches!(views::project_like(id, &member, &p.simple()).unwrap(), views::ProjectLike::Project(x) if x.id == p));
    assert_eq!(views::project_like(id, &member, &hex).unwrap_err().code, "identity.forbidden");
}
