//! Identity (Keystone v3): domains, projects, users, groups, roles, role assignments and tokens.
//!
//! The kernel never sees a password: the API layer verifies it against the argon2 hash it
//! reads from here and then asks for a token with [`Cmd::IssueToken`]. Tokens are random
//! strings made outside the kernel; they expire after the topology's `token_ttl`, die when
//! revoked, and stop resolving as soon as their user, project or domain is disabled or the
//! user loses every role on the scope. Roles in a token are computed when it is resolved, as
//! Keystone does for Fernet tokens, so a grant or revoke takes effect at once.
//!
//! Roles are global, or specific to one domain (`domain_id`): a domain-specific role is named
//! uniquely within its domain, may be granted (on a project only within its domain), and serves
//! only to imply other roles. Like Keystone, tokens and effective assignment listings leave it out.
//!
//! Sub-modules: [`tokens`] (issue, resolve, revoke), [`resources`] (domains, projects, users,
//! groups, roles), [`assign`] (grants, effective roles, assignment listings) and
//! [`domain_config`] (per-domain identity driver options, stored and served).

pub mod appcreds;
pub mod assign;
pub mod catalog;
pub mod credentials;
pub mod domain_config;
pub mod records;
pub mod resources;
pub mod tokens;
pub mod trusts;
pub mod views;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::ids::Uuid;
use crate::ports::Core;
use crate::rng::Rng;
use crate::{Auth, Error, Result, Time};

pub use assign::{Actor, Assignment, AssignmentFilter, AssignmentRow, Target};
pub use resources::{DomainPatch, GroupPatch, ProjectPatch, RolePatch, UserPatch};
pub use tokens::{AuthMethod, Ref, Scope, Token, TokenDigest, TokenInfo};

/// The id of the domain every cloud starts with, as Keystone names it.
pub const DEFAULT_DOMAIN: &str = "default";
/// The built-in roles: Keystone's `keystone-manage bootstrap` set, admin ⇒ manager ⇒ member ⇒
/// reader, and `service` for the cloud's own services, implying nothing.
pub const BUILTIN_ROLES: [&str; 5] = ["admin", "manager", "member", "reader", "service"];
/// The roles of clouds created before `manager` and `service` were built in: an `Init` in a
/// journal that names no roles bootstraps these, so old journals replay to the same state.
pub const LEGACY_ROLES: [&str; 3] = ["admin", "member", "reader"];
/// The order of implication among built-in roles: each one present implies the next present.
const ROLE_CHAIN: [&str; 4] = ["admin", "manager", "member", "reader"];

/// Who is calling, resolved from a token.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Caller {
    /// The user.
    pub user: Uuid,
    /// The project the token is scoped to, if any.
    pub project: Option<Uuid>,
    /// Whether the caller holds the admin role (cloud-wide admin, as Nova's default policy).
    pub admin: bool,
    /// Whether the caller may write in its project (member or admin).
    pub member: bool,
    /// Whether this is the kernel's own shell.
    pub system: bool,
    /// Whether the caller may read in its scope (reader, member or admin).
    pub reader: bool,
    /// The domain the token is scoped to, for domain-scoped tokens.
    pub domain: Option<String>,
    /// Names of the caller's effective roles on its scope, implied roles included, sorted.
    pub roles: Vec<String>,
}

impl Caller {
    /// The kernel's own shell: allowed everything.
    pub fn system() -> Caller {
        Caller {
            user: Uuid(0),
            project: None,
            admin: true,
            member: true,
            system: true,
            reader: true,
            domain: None,
            roles: BUILTIN_ROLES.iter().map(|r| r.to_string()).collect(),
        }
    }

    /// A caller scoped to `project` holding the named roles (implied roles must be listed).
    pub fn scoped(user: Uuid, project: Uuid, roles: &[&str]) -> Caller {
        let has = |r: &str| roles.contains(&r);
        let mut names: Vec<String> = roles.iter().map(|r| r.to_string()).collect();
        names.sort();
        Caller {
            user,
            project: Some(project),
            admin: has("admin"),
            member: has("admin") || has("member"),
            system: false,
            reader: has("admin") || has("member") || has("reader"),
            domain: None,
            roles: names,
        }
    }
}

/// The first admin user and project, and the region the catalog names.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bootstrap {
    /// Admin user's name.
    pub admin_user: String,
    /// Argon2 PHC hash of the admin password.
    pub admin_password_hash: String,
    /// The admin project's name (`admin`).
    pub admin_project: String,
    /// The region the catalog names (`RegionOne`).
    pub region: String,
    /// The roles to create, of [`BUILTIN_ROLES`]. Journals from before this field lack it and
    /// get [`LEGACY_ROLES`], so they replay as they were written.
    #[serde(default = "legacy_roles")]
    pub roles: Vec<String>,
}

fn legacy_roles() -> Vec<String> {
    LEGACY_ROLES.iter().map(|r| r.to_string()).collect()
}

impl std::hash::Hash for Bootstrap {
    /// The roles count only when they are not the legacy set, so a cloud created before the
    /// field existed keeps the state hash its snapshots were written with.
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.admin_user.hash(h);
        self.admin_password_hash.hash(h);
        self.admin_project.hash(h);
        self.region.hash(h);
        if self.roles.iter().map(String::as_str).ne(LEGACY_ROLES) {
            self.roles.hash(h);
        }
    }
}

impl Bootstrap {
    /// The usual bootstrap: `user` with `password_hash`, project `admin`, region `RegionOne`,
    /// every built-in role.
    pub fn new(user: &str, password_hash: &str) -> Bootstrap {
        Bootstrap {
            admin_user: user.into(),
            admin_password_hash: password_hash.into(),
            admin_project: "admin".into(),
            region: "RegionOne".into(),
            roles: BUILTIN_ROLES.iter().map(|r| r.to_string()).collect(),
        }
    }
}

/// Attributes Keystone keeps on a user or group beyond its own fields (`project_id`, say):
/// name → the value as JSON text, canonicalised by the shell. Empty extras hash and
/// serialise as nothing, so records from before they existed keep their state hash.
/// Keystone's PATCH of extras is [`crate::sparse::Sparse::merge`].
pub type Extra = crate::sparse::Sparse<String, String>;

/// A domain: a namespace for projects, users and groups.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Domain {
    /// `default`, or 32 hex digits.
    pub id: String,
    /// Unique among domains.
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// A disabled domain's users cannot authenticate and its projects cannot be scoped to.
    pub enabled: bool,
}

/// A project (tenant): what resources belong to and what tokens are scoped to.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Project {
    /// Its id.
    pub id: Uuid,
    /// Unique within its domain.
    pub name: String,
    /// Owning domain.
    pub domain: String,
    /// Parent project in the hierarchy; `None` for a project directly under its domain.
    pub parent: Option<Uuid>,
    /// Free text.
    pub description: Option<String>,
    /// A disabled project cannot be scoped to.
    pub enabled: bool,
    /// Simple string tags.
    pub tags: BTreeSet<String>,
}

/// A user.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct User {
    /// Its id.
    pub id: Uuid,
    /// Unique within its domain.
    pub name: String,
    /// Owning domain.
    pub domain: String,
    /// A disabled user cannot authenticate and loses every token.
    pub enabled: bool,
    /// The project an unscoped authentication is scoped to, when the user has a role there.
    pub default_project: Option<Uuid>,
    /// Argon2 PHC string, or `None` for a user who cannot authenticate with a password.
    pub password_hash: Option<String>,
    /// Free text.
    pub description: Option<String>,
    /// Contact address.
    pub email: Option<String>,
    /// Attributes beyond Keystone's own.
    #[serde(default, skip_serializing_if = "Extra::is_empty")]
    pub extra: Extra,
}

/// A group of users; roles granted to it apply to every member.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Group {
    /// Its id.
    pub id: Uuid,
    /// Unique within its domain.
    pub name: String,
    /// Owning domain.
    pub domain: String,
    /// Free text.
    pub description: Option<String>,
    /// Attributes beyond Keystone's own.
    #[serde(default, skip_serializing_if = "Extra::is_empty")]
    pub extra: Extra,
}

/// A role.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Role {
    /// Its id.
    pub id: Uuid,
    /// Unique among global roles, or among its domain's roles.
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// The domain of a domain-specific role; `None` for a global role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
}

impl std::hash::Hash for Role {
    /// `domain` counts only when set, so global roles keep the hash they had before it existed.
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.id.hash(h);
        self.name.hash(h);
        self.description.hash(h);
        if let Some(d) = &self.domain {
            d.hash(h);
        }
    }
}

/// Identity state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Identity {
    /// The region the catalog names.
    pub region: String,
    /// Domains by id.
    pub domains: BTreeMap<String, Domain>,
    /// Projects by id.
    pub projects: BTreeMap<Uuid, Project>,
    /// Users by id.
    pub users: BTreeMap<Uuid, User>,
    /// Groups by id.
    pub groups: BTreeMap<Uuid, Group>,
    /// Roles by id.
    pub roles: BTreeMap<Uuid, Role>,
    /// (prior role, implied role): holding the prior role grants the implied one too.
    pub implies: BTreeSet<(Uuid, Uuid)>,
    /// Role assignments, ordered by actor then target so one actor's roles are a range.
    pub assignments: BTreeSet<Assignment>,
    /// (group, user) memberships.
    pub members: BTreeSet<(Uuid, Uuid)>,
    /// (user, group): the same memberships, indexed by user.
    pub user_groups: BTreeSet<(Uuid, Uuid)>,
    /// Project id by (domain, name).
    pub project_names: crate::pairmap::PairMap<String, String, Uuid>,
    /// User id by (domain, name).
    pub user_names: crate::pairmap::PairMap<String, String, Uuid>,
    /// Group id by (domain, name).
    pub group_names: crate::pairmap::PairMap<String, String, Uuid>,
    /// Live tokens by their digest.
    pub tokens: BTreeMap<TokenDigest, Token>,
    /// (expiry, token): the pruning order.
    pub token_expiry: BTreeSet<(Time, TokenDigest)>,
    /// (user, token): every token of a user.
    pub user_tokens: BTreeSet<(Uuid, TokenDigest)>,
    /// Credentials (`/v3/credentials`, EC2) by id.
    #[serde(default, skip_serializing_if = "credentials::Credentials::is_empty")]
    pub credentials: credentials::Credentials,
    /// Regions, services and endpoints admins registered.
    #[serde(default, skip_serializing_if = "catalog::Catalog::is_empty")]
    pub catalog: catalog::Catalog,
    /// Policy blobs and OAuth1 consumers.
    #[serde(default, skip_serializing_if = "records::Records::is_empty")]
    pub records: records::Records,
    /// Application credentials by id.
    #[serde(default, skip_serializing_if = "appcreds::AppCredentials::is_empty")]
    pub app_creds: appcreds::AppCredentials,
    /// Trusts by id.
    #[serde(default, skip_serializing_if = "trusts::Trusts::is_empty")]
    pub trusts: trusts::Trusts,
    /// Domain configurations by domain id.
    #[serde(default, skip_serializing_if = "domain_config::DomainConfigs::is_empty")]
    pub domain_configs: domain_config::DomainConfigs,
}

/// Identity commands. All but [`Cmd::IssueToken`], [`Cmd::RevokeToken`] and
/// [`Cmd::ChangePassword`] need an admin caller.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Cmd {
    /// Issues `token`. The password method is legal only from [`Auth::System`]: the shell has
    /// verified the password. `scope: None` scopes to the user's default project when the
    /// user has a role there, and leaves the token unscoped otherwise.
    IssueToken {
        /// The new token's digest (the API layer makes 256 random bits and digests them).
        token: TokenDigest,
        /// How the caller proved who they are.
        method: AuthMethod,
        /// What the token is for.
        scope: Option<Scope>,
    },
    /// Revokes a token. Legal for its own user and for admins.
    RevokeToken {
        /// The digest of the token to revoke.
        token: TokenDigest,
    },
    /// Creates a domain.
    CreateDomain(Domain),
    /// Changes a domain.
    UpdateDomain {
        /// Which domain.
        id: String,
        /// What to change.
        patch: DomainPatch,
    },
    /// Deletes a disabled domain and everything in it.
    DeleteDomain {
        /// Which domain.
        id: String,
    },
    /// Creates a project.
    CreateProject(Project),
    /// Changes a project.
    UpdateProject {
        /// Which project.
        id: Uuid,
        /// What to change.
        patch: ProjectPatch,
    },
    /// Deletes a project with no children, its assignments and the tokens scoped to it.
    DeleteProject {
        /// Which project.
        id: Uuid,
    },
    /// Creates a user.
    CreateUser(User),
    /// Changes a user; disabling one or setting a password revokes its tokens.
    UpdateUser {
        /// Which user.
        id: Uuid,
        /// What to change.
        patch: UserPatch,
    },
    /// Deletes a user, its assignments, memberships and tokens.
    DeleteUser {
        /// Which user.
        id: Uuid,
    },
    /// A user changing their own password (the shell verified the old one); revokes tokens.
    ChangePassword {
        /// Which user; must be the caller.
        user: Uuid,
        /// Argon2 PHC hash of the new password.
        password_hash: String,
    },
    /// Creates a group.
    CreateGroup(Group),
    /// Changes a group.
    UpdateGroup {
        /// Which group.
        id: Uuid,
        /// What to change.
        patch: GroupPatch,
    },
    /// Deletes a group, its memberships and assignments.
    DeleteGroup {
        /// Which group.
        id: Uuid,
    },
    /// Adds a user to a group (idempotent).
    AddToGroup {
        /// The group.
        group: Uuid,
        /// The user.
        user: Uuid,
    },
    /// Removes a user from a group.
    RemoveFromGroup {
        /// The group.
        group: Uuid,
        /// The user.
        user: Uuid,
    },
    /// Creates a role.
    CreateRole(Role),
    /// Changes a role (built-in roles keep their names).
    UpdateRole {
        /// Which role.
        id: Uuid,
        /// What to change.
        patch: RolePatch,
    },
    /// Deletes a role that is not built in, with its assignments.
    DeleteRole {
        /// Which role.
        id: Uuid,
    },
    /// Grants a role (idempotent).
    Grant(Assignment),
    /// Revokes a role assignment.
    Revoke(Assignment),
    /// Makes holders of `prior` hold `implied` too (idempotent).
    Imply {
        /// The prior role.
        prior: Uuid,
        /// The role it implies.
        implied: Uuid,
    },
    /// Removes an implication.
    Unimply {
        /// The prior role.
        prior: Uuid,
        /// The role it implied.
        implied: Uuid,
    },
    /// Stores a credential.
    CreateCredential(credentials::Credential),
    /// Changes a credential.
    UpdateCredential {
        /// Which credential.
        id: String,
        /// What to change.
        patch: credentials::CredentialPatch,
    },
    /// Deletes a credential.
    DeleteCredential {
        /// Which credential.
        id: String,
    },
    /// Registers a region.
    CreateRegion(catalog::Region),
    /// Changes a registered region.
    UpdateRegion {
        /// Which region.
        id: String,
        /// What to change.
        patch: catalog::RegionPatch,
    },
    /// Deletes a registered region.
    DeleteRegion {
        /// Which region.
        id: String,
    },
    /// Registers a service.
    CreateService(catalog::Service),
    /// Changes a registered service.
    UpdateService {
        /// Which service.
        id: Uuid,
        /// What to change.
        patch: catalog::ServicePatch,
    },
    /// Deletes a registered service and its endpoints.
    DeleteService {
        /// Which service.
        id: Uuid,
    },
    /// Registers an endpoint.
    CreateEndpoint(catalog::Endpoint),
    /// Changes a registered endpoint.
    UpdateEndpoint {
        /// Which endpoint.
        id: Uuid,
        /// What to change.
        patch: catalog::EndpointPatch,
    },
    /// Deletes a registered endpoint.
    DeleteEndpoint {
        /// Which endpoint.
        id: Uuid,
    },
    /// Registers an endpoint group.
    CreateEndpointGroup(catalog::EndpointGroup),
    /// Changes an endpoint group.
    UpdateEndpointGroup {
        /// Which group.
        id: Uuid,
        /// What to change.
        patch: catalog::EndpointGroupPatch,
    },
    /// Deletes an endpoint group.
    DeleteEndpointGroup {
        /// Which group.
        id: Uuid,
    },
    /// Creates an application credential for the caller, bound to its token's project.
    CreateAppCredential(appcreds::AppCredentialSpec),
    /// Deletes an application credential and ends its tokens.
    DeleteAppCredential {
        /// Whose.
        user: Uuid,
        /// Which.
        id: Uuid,
    },
    /// Makes a trust from the caller.
    CreateTrust(trusts::Trust),
    /// Deletes a trust.
    DeleteTrust {
        /// Which trust.
        id: Uuid,
    },
    /// Stores a policy blob.
    CreatePolicy(records::Policy),
    /// Changes a policy's type or blob.
    UpdatePolicy {
        /// Which policy.
        id: Uuid,
        /// A new type.
        kind: Option<String>,
        /// A new blob.
        blob: Option<String>,
    },
    /// Deletes a policy.
    DeletePolicy {
        /// Which policy.
        id: Uuid,
    },
    /// Stores an OAuth1 consumer.
    CreateConsumer(records::Consumer),
    /// Changes a consumer's description.
    UpdateConsumer {
        /// Which consumer.
        id: Uuid,
        /// The new description (`Some(None)` clears it).
        description: Option<Option<String>>,
    },
    /// Deletes a consumer.
    DeleteConsumer {
        /// Which consumer.
        id: Uuid,
    },
    /// Adds one tag to a project (idempotent), or removes it.
    TagProject {
        /// Which project.
        id: Uuid,
        /// The tag.
        tag: String,
        /// Add rather than remove.
        add: bool,
    },
    /// Replaces a domain's configuration (`PUT /v3/domains/{id}/config`).
    SetDomainConfig {
        /// Which domain.
        domain: String,
        /// The whole configuration.
        config: domain_config::Config,
    },
    /// Merges options into a domain's configuration, only into `group` (or its one `option`)
    /// when named (`PATCH /v3/domains/{id}/config[/{group}[/{option}]]`).
    UpdateDomainConfig {
        /// Which domain.
        domain: String,
        /// The one group the update is limited to.
        group: Option<String>,
        /// The one option of `group` the update is limited to.
        option: Option<String>,
        /// The options to set, by group.
        config: domain_config::Config,
    },
    /// Deletes a domain's configuration, one group of it or one option.
    DeleteDomainConfig {
        /// Which domain.
        domain: String,
        /// Only this group.
        group: Option<String>,
        /// Only this option of `group`.
        option: Option<String>,
    },
}

/// Identity replies.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reply {
    /// Nothing to say beyond success.
    Done,
    /// A freshly issued token.
    Token(Box<TokenInfo>),
    /// The domain as it now is.
    Domain(Domain),
    /// The project as it now is.
    Project(Project),
    /// The user as it now is.
    User(User),
    /// The group as it now is.
    Group(Group),
    /// The role as it now is.
    Role(Role),
    /// The credential as it now is.
    Credential(credentials::Credential),
    /// The region as it now is.
    Region(catalog::Region),
    /// The service as it now is.
    Service(catalog::Service),
    /// The endpoint as it now is.
    Endpoint(catalog::Endpoint),
    /// The endpoint group as it now is.
    EndpointGroup(catalog::EndpointGroup),
    /// The application credential as it now is.
    AppCredential(appcreds::AppCredential),
    /// The trust as it now is.
    Trust(trusts::Trust),
    /// The policy as it now is.
    Policy(records::Policy),
    /// The consumer as it now is.
    Consumer(records::Consumer),
    /// A domain's configuration as it now shows.
    DomainConfig(domain_config::ConfigReply),
}

impl Identity {
    /// Creates the Default domain, the admin and service projects, the admin user with the
    /// admin role on the admin project, and the bootstrap's roles (admin ⇒ manager ⇒ member ⇒
    /// reader, and service).
    pub fn bootstrap(b: &Bootstrap, rng: &mut Rng) -> Identity {
        let mut id = Identity { region: b.region.clone(), ..Identity::default() };
        id.domains.insert(
            DEFAULT_DOMAIN.into(),
            Domain { id: DEFAULT_DOMAIN.into(), name: "Default".into(), description: Some("The default domain".into()), enabled: true },
        );
        let admin_project = id.bootstrap_project(rng, &b.admin_project, "Bootstrap project for initializing the cloud.");
        id.bootstrap_project(rng, "service", "Project for the cloud's own services.");
        let user = rng.uuid();
        id.user_names.insert((DEFAULT_DOMAIN.into(), b.admin_user.clone()), user);
        id.users.insert(
            user,
            User {
                id: user,
                name: b.admin_user.clone(),
                domain: DEFAULT_DOMAIN.into(),
                enabled: true,
                default_project: Some(admin_project),
                password_hash: Some(b.admin_password_hash.clone()),
                description: None,
                email: None,
                extra: Default::default(),
            },
        );
        let roles: BTreeMap<&str, Uuid> = b.roles.iter().map(|name| (name.as_str(), id.bootstrap_role(rng, name))).collect();
        let chain: Vec<Uuid> = ROLE_CHAIN.iter().filter_map(|name| roles.get(name).copied()).collect();
        for pair in chain.windows(2) {
            id.implies.insert((pair[0], pair[1]));
        }
        if let Some(admin) = roles.get("admin") {
            id.assignments.insert(Assignment { actor: Actor::User(user), target: Target::Project(admin_project), role: *admin });
        }
        id
    }

    fn bootstrap_project(&mut self, rng: &mut Rng, name: &str, description: &str) -> Uuid {
        let pid = rng.uuid();
        self.project_names.insert((DEFAULT_DOMAIN.into(), name.into()), pid);
        self.projects.insert(
            pid,
            Project {
                id: pid,
                name: name.into(),
                domain: DEFAULT_DOMAIN.into(),
                parent: None,
                description: Some(description.into()),
                enabled: true,
                tags: BTreeSet::new(),
            },
        );
        pid
    }

    fn bootstrap_role(&mut self, rng: &mut Rng, name: &str) -> Uuid {
        let rid = rng.uuid();
        self.roles.insert(rid, Role { id: rid, name: name.into(), description: None, domain: None });
        rid
    }

    /// Finds a domain by id, or by name when no domain has that id.
    pub fn find_domain(&self, id_or_name: &str) -> Option<&Domain> {
        self.domains.get(id_or_name).or_else(|| self.domain_by_name(id_or_name))
    }

    /// The domain called `name`.
    pub fn domain_by_name(&self, name: &str) -> Option<&Domain> {
        self.domains.values().find(|d| d.name == name)
    }

    /// The project called `name` in `domain`.
    pub fn project_by_name(&self, domain: &str, name: &str) -> Option<&Project> {
        self.project_names.get(&(domain.to_string(), name.to_string())).and_then(|id| self.projects.get(id))
    }

    /// The project with id `id` given as text (either UUID form); `None` if it is not one.
    pub fn project_by_id(&self, id: &str) -> Option<&Project> {
        id.parse::<Uuid>().ok().and_then(|id| self.projects.get(&id))
    }

    /// The user called `name` in `domain`.
    pub fn user_by_name(&self, domain: &str, name: &str) -> Option<&User> {
        self.user_names.get(&(domain.to_string(), name.to_string())).and_then(|id| self.users.get(id))
    }

    /// The user with id `id` given as text.
    pub fn user_by_id(&self, id: &str) -> Option<&User> {
        id.parse::<Uuid>().ok().and_then(|id| self.users.get(&id))
    }

    /// The group called `name` in `domain`.
    pub fn group_by_name(&self, domain: &str, name: &str) -> Option<&Group> {
        self.group_names.get(&(domain.to_string(), name.to_string())).and_then(|id| self.groups.get(id))
    }

    /// The group with id `id` given as text.
    pub fn group_by_id(&self, id: &str) -> Option<&Group> {
        id.parse::<Uuid>().ok().and_then(|id| self.groups.get(&id))
    }

    /// The global role called `name`.
    pub fn role_by_name(&self, name: &str) -> Option<&Role> {
        self.role_named(None, name)
    }

    /// The role called `name` in `domain`, or the global one for `None`.
    pub fn role_named(&self, domain: Option<&str>, name: &str) -> Option<&Role> {
        self.roles.values().find(|r| r.name == name && r.domain.as_deref() == domain)
    }

    /// Whether `role` exists and is global (not domain-specific).
    pub fn is_global_role(&self, role: Uuid) -> bool {
        self.roles.get(&role).is_some_and(|r| r.domain.is_none())
    }

    /// The role with id `id` given as text.
    pub fn role_by_id(&self, id: &str) -> Option<&Role> {
        id.parse::<Uuid>().ok().and_then(|id| self.roles.get(&id))
    }

    /// Members of `group`, in id order.
    pub fn group_members(&self, group: Uuid) -> impl Iterator<Item = Uuid> + '_ {
        self.members.range((group, Uuid(0))..=(group, Uuid(u128::MAX))).map(|&(_, u)| u)
    }

    /// Groups `user` belongs to, in id order.
    pub fn groups_of(&self, user: Uuid) -> impl Iterator<Item = Uuid> + '_ {
        self.user_groups.range((user, Uuid(0))..=(user, Uuid(u128::MAX))).map(|&(_, g)| g)
    }

    /// Whether the domain exists and is enabled.
    pub fn domain_enabled(&self, id: &str) -> bool {
        self.domains.get(id).is_some_and(|d| d.enabled)
    }
}

/// The message Keystone gives for an action the policy refuses.
pub(crate) fn forbidden(action: &str) -> Error {
    Error::forbidden("identity.forbidden", format!("You are not authorized to perform the requested action: identity:{action}."))
}

/// Refuses `action` unless the caller is an admin.
pub(crate) fn require_admin(caller: &Caller, action: &str) -> Result<()> {
    if caller.admin {
        Ok(())
    } else {
        Err(forbidden(action))
    }
}

/// Applies an identity command: identity's handlers borrow only identity's state and the
/// kernel's core (the clock, the token lifetime in force, the RNG for token ids).
pub fn apply(id: &mut Identity, core: &mut Core, auth: &Auth, cmd: Cmd) -> Result<Reply> {
    let now = core.now();
    let ttl = core.policy().timing.token_ttl;
    let caller = id.resolve(auth, now);
    match cmd {
        Cmd::IssueToken { token, method, scope } => {
            let req = tokens::IssueReq { token, method, scope, now, ttl };
            tokens::issue(id, core.rng(), auth, req).map(|i| Reply::Token(Box::new(i)))
        }
        Cmd::RevokeToken { token } => tokens::revoke(id, &caller?, now, &token).map(|()| Reply::Done),
        Cmd::CreateDomain(d) => resources::create_domain(id, &caller?, d).map(Reply::Domain),
        Cmd::UpdateDomain { id: d, patch } => resources::update_domain(id, &caller?, now, &d, patch).map(Reply::Domain),
        Cmd::DeleteDomain { id: d } => resources::delete_domain(id, &caller?, now, &d).map(|()| Reply::Done),
        Cmd::CreateProject(p) => resources::create_project(id, &caller?, p).map(Reply::Project),
        Cmd::UpdateProject { id: p, patch } => resources::update_project(id, &caller?, now, p, patch).map(Reply::Project),
        Cmd::DeleteProject { id: p } => resources::delete_project(id, &caller?, p).map(|()| Reply::Done),
        Cmd::CreateUser(u) => resources::create_user(id, &caller?, u).map(Reply::User),
        Cmd::UpdateUser { id: u, patch } => resources::update_user(id, &caller?, u, patch).map(Reply::User),
        Cmd::DeleteUser { id: u } => resources::delete_user(id, &caller?, u).map(|()| Reply::Done),
        Cmd::ChangePassword { user, password_hash } => resources::change_password(id, &caller?, user, password_hash).map(|()| Reply::Done),
        Cmd::CreateGroup(g) => resources::create_group(id, &caller?, g).map(Reply::Group),
        Cmd::UpdateGroup { id: g, patch } => resources::update_group(id, &caller?, g, patch).map(Reply::Group),
        Cmd::DeleteGroup { id: g } => resources::delete_group(id, &caller?, now, g).map(|()| Reply::Done),
        Cmd::AddToGroup { group, user } => assign::add_to_group(id, &caller?, group, user).map(|()| Reply::Done),
        Cmd::RemoveFromGroup { group, user } => assign::remove_from_group(id, &caller?, now, group, user).map(|()| Reply::Done),
        Cmd::CreateRole(r) => resources::create_role(id, &caller?, r).map(Reply::Role),
        Cmd::UpdateRole { id: r, patch } => resources::update_role(id, &caller?, r, patch).map(Reply::Role),
        Cmd::DeleteRole { id: r } => resources::delete_role(id, &caller?, now, r).map(|()| Reply::Done),
        Cmd::Grant(a) => assign::grant(id, &caller?, a).map(|()| Reply::Done),
        Cmd::Revoke(a) => assign::revoke(id, &caller?, now, a).map(|()| Reply::Done),
        Cmd::Imply { prior, implied } => assign::imply(id, &caller?, prior, implied).map(|()| Reply::Done),
        Cmd::Unimply { prior, implied } => assign::unimply(id, &caller?, prior, implied).map(|()| Reply::Done),
        Cmd::CreateCredential(c) => credentials::create(id, &caller?, c).map(Reply::Credential),
        Cmd::UpdateCredential { id: c, patch } => credentials::update(id, &caller?, &c, patch).map(Reply::Credential),
        Cmd::DeleteCredential { id: c } => credentials::delete(id, &caller?, &c).map(|()| Reply::Done),
        Cmd::CreateRegion(r) => catalog::create_region(id, &caller?, r).map(Reply::Region),
        Cmd::UpdateRegion { id: r, patch } => catalog::update_region(id, &caller?, &r, patch).map(Reply::Region),
        Cmd::DeleteRegion { id: r } => catalog::delete_region(id, &caller?, &r).map(|()| Reply::Done),
        Cmd::CreateService(sv) => catalog::create_service(id, &caller?, sv).map(Reply::Service),
        Cmd::UpdateService { id: sv, patch } => catalog::update_service(id, &caller?, sv, patch).map(Reply::Service),
        Cmd::DeleteService { id: sv } => catalog::delete_service(id, &caller?, sv).map(|()| Reply::Done),
        Cmd::CreateEndpoint(e) => catalog::create_endpoint(id, &caller?, e).map(Reply::Endpoint),
        Cmd::UpdateEndpoint { id: e, patch } => catalog::update_endpoint(id, &caller?, e, patch).map(Reply::Endpoint),
        Cmd::DeleteEndpoint { id: e } => catalog::delete_endpoint(id, &caller?, e).map(|()| Reply::Done),
        Cmd::CreateEndpointGroup(g) => catalog::create_group(id, &caller?, g).map(Reply::EndpointGroup),
        Cmd::UpdateEndpointGroup { id: g, patch } => catalog::update_group(id, &caller?, g, patch).map(Reply::EndpointGroup),
        Cmd::DeleteEndpointGroup { id: g } => catalog::delete_group(id, &caller?, g).map(|()| Reply::Done),
        Cmd::CreateAppCredential(spec) => appcreds::create(id, &caller?, now, spec).map(Reply::AppCredential),
        Cmd::DeleteAppCredential { user, id: c } => appcreds::delete(id, &caller?, now, user, c).map(|()| Reply::Done),
        Cmd::CreateTrust(t) => trusts::create(id, &caller?, now, t).map(Reply::Trust),
        Cmd::DeleteTrust { id: t } => trusts::delete(id, &caller?, t).map(|()| Reply::Done),
        Cmd::CreatePolicy(p) => records::create_policy(id, &caller?, p).map(Reply::Policy),
        Cmd::UpdatePolicy { id: p, kind, blob } => records::update_policy(id, &caller?, p, kind, blob).map(Reply::Policy),
        Cmd::DeletePolicy { id: p } => records::delete_policy(id, &caller?, p).map(|()| Reply::Done),
        Cmd::CreateConsumer(c) => records::create_consumer(id, &caller?, c).map(Reply::Consumer),
        Cmd::UpdateConsumer { id: c, description } => records::update_consumer(id, &caller?, c, description).map(Reply::Consumer),
        Cmd::DeleteConsumer { id: c } => records::delete_consumer(id, &caller?, c).map(|()| Reply::Done),
        Cmd::TagProject { id: p, tag, add } => resources::tag_project(id, &caller?, p, tag, add).map(|()| Reply::Done),
        Cmd::SetDomainConfig { domain, config } => {
            domain_config::set(id, &caller?, &domain, config).map(|(config, created)| Reply::DomainConfig(domain_config::ConfigReply { config, created }))
        }
        Cmd::UpdateDomainConfig { domain, group, option, config } => domain_config::update(id, &caller?, &domain, group.as_deref(), option.as_deref(), config)
            .map(|config| Reply::DomainConfig(domain_config::ConfigReply { config, created: false })),
        Cmd::DeleteDomainConfig { domain, group, option } => {
            domain_config::delete(id, &caller?, &domain, group.as_deref(), option.as_deref()).map(|()| Reply::Done)
        }
    }
}

#[cfg(test)]
mod tests;
