//! Domain configuration (Keystone's `/v3/domains/{id}/config`): the options a domain sets for a
//! domain-specific identity driver, such as an LDAP server's address. Only Keystone's two groups,
//! `identity` and `ldap`, and the options it lets a domain set are accepted; sensitive options
//! (`ldap.password`) are stored but never shown. orrery keeps every user itself, so a stored
//! configuration drives no driver: it is validated, kept and served as Keystone does.
//!
//! Values are JSON text the shell canonicalises (`"ldap"`, `42`, `null`), as for
//! [`super::Extra`]. [`defaults`] serves Keystone's defaults for the options a domain may set.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{require_admin, Caller, Identity, DEFAULT_DOMAIN};
use crate::{Error, Result};

/// One group's options: option name → value as JSON text.
pub type Options = BTreeMap<String, String>;

/// A configuration: group name → its options.
pub type Config = BTreeMap<String, Options>;

/// Every domain's configuration by domain id (hashed as nothing while empty; see
/// [`crate::sparse::Sparse`]).
pub type DomainConfigs = crate::sparse::Sparse<String, Config>;

/// The options a domain may set and that are shown, with Keystone's defaults as JSON text.
const WHITELISTED: [(&str, &[(&str, &str)]); 2] = [
    ("identity", &[("driver", "\"sql\""), ("list_limit", "null")]),
    (
        "ldap",
        &[
            ("url", "\"ldap://localhost\""),
            ("user", "null"),
            ("suffix", "\"cn=example,cn=com\""),
            ("query_scope", "\"one\""),
            ("page_size", "0"),
            ("alias_dereferencing", "\"default\""),
            ("debug_level", "null"),
            ("chase_referrals", "null"),
            ("user_tree_dn", "null"),
            ("user_filter", "null"),
            ("user_objectclass", "\"inetOrgPerson\""),
            ("user_id_attribute", "\"cn\""),
            ("user_name_attribute", "\"sn\""),
            ("user_mail_attribute", "\"mail\""),
            ("user_description_attribute", "\"description\""),
            ("user_pass_attribute", "\"userPassword\""),
            ("user_enabled_attribute", "\"enabled\""),
            ("user_enabled_invert", "false"),
            ("user_enabled_mask", "0"),
            ("user_enabled_default", "\"True\""),
            ("user_attribute_ignore", "[\"default_project_id\"]"),
            ("user_default_project_id_attribute", "null"),
            ("user_enabled_emulation", "false"),
            ("user_enabled_emulation_dn", "null"),
            ("user_enabled_emulation_use_group_config", "false"),
            ("user_additional_attribute_mapping", "[]"),
            ("group_tree_dn", "null"),
            ("group_filter", "null"),
            ("group_objectclass", "\"groupOfNames\""),
            ("group_id_attribute", "\"cn\""),
            ("group_name_attribute", "\"ou\""),
            ("group_members_are_ids", "false"),
            ("group_member_attribute", "\"member\""),
            ("group_desc_attribute", "\"description\""),
            ("group_attribute_ignore", "[]"),
            ("group_additional_attribute_mapping", "[]"),
            ("tls_cacertfile", "null"),
            ("tls_cacertdir", "null"),
            ("use_tls", "false"),
            ("tls_req_cert", "\"demand\""),
            ("use_pool", "true"),
            ("pool_size", "10"),
            ("pool_retry_max", "3"),
            ("pool_retry_delay", "0.1"),
            ("pool_connection_timeout", "-1"),
            ("pool_connection_lifetime", "600"),
            ("use_auth_pool", "true"),
            ("auth_pool_size", "100"),
            ("auth_pool_connection_lifetime", "60"),
        ],
    ),
];

/// The options a domain may set that are stored but never shown.
const SENSITIVE: [(&str, &str); 1] = [("ldap", "password")];

/// The group whose password rules any caller may read for the default domain.
pub const SECURITY_COMPLIANCE: &str = "security_compliance";

/// The security compliance options that may be read; orrery sets neither, as Keystone's defaults.
const READABLE_COMPLIANCE: [&str; 2] = ["password_regex", "password_regex_description"];

fn whitelisted(group: &str) -> Option<&'static [(&'static str, &'static str)]> {
    WHITELISTED.iter().find(|(g, _)| *g == group).map(|(_, opts)| *opts)
}

fn is_whitelisted(group: &str, option: &str) -> bool {
    whitelisted(group).is_some_and(|opts| opts.iter().any(|(o, _)| *o == option))
}

fn is_sensitive(group: &str, option: &str) -> bool {
    SENSITIVE.contains(&(group, option))
}

/// Keystone's 403 for a configuration it does not support.
fn invalid(reason: String) -> Error {
    Error::forbidden("identity.invalid_domain_config", format!("Invalid domain specific configuration: {reason}."))
}

fn no_domain(domain: &str) -> Error {
    Error::not_found("identity.not_found", format!("Could not find domain: {domain}."))
}

/// Keystone's 404 for a group or option a domain's configuration lacks.
fn missing(domain: &str, group: Option<&str>, option: Option<&str>) -> Error {
    let what = match (group, option) {
        (Some(g), Some(o)) => format!("option {o} in group {g}"),
        (Some(g), None) => format!("group {g}"),
        _ => "any options".to_string(),
    };
    Error::not_found("identity.not_found", format!("Could not find {what} in domain configuration for domain {domain}."))
}

/// Checks a group, and an option in it, are ones a domain may set.
fn check_group_option(group: Option<&str>, option: Option<&str>) -> Result<()> {
    let Some(g) = group else { return Ok(()) };
    if whitelisted(g).is_none() && !SENSITIVE.iter().any(|(sg, _)| *sg == g) {
        return Err(invalid(format!("Group {g} is not supported for domain specific configurations")));
    }
    match option {
        Some(o) if !is_whitelisted(g, o) && !is_sensitive(g, o) => {
            Err(invalid(format!("Option {o} in group {g} is not supported for domain specific configurations")))
        }
        _ => Ok(()),
    }
}

/// Checks a configuration a caller sends: something in it, no empty group, only supported options.
fn check_config(config: &Config) -> Result<()> {
    if config.is_empty() {
        return Err(invalid("No options specified".into()));
    }
    for (group, options) in config {
        if options.is_empty() {
            return Err(invalid(format!("The value of group {group} specified in the config should be a dictionary of options")));
        }
        for option in options.keys() {
            check_group_option(Some(group), Some(option))?;
        }
    }
    Ok(())
}

/// What may be shown of a configuration: everything but its sensitive options.
fn shown(config: &Config) -> Config {
    let mut out = Config::new();
    for (group, options) in config {
        let visible: Options = options.iter().filter(|(o, _)| !is_sensitive(group, o)).map(|(o, v)| (o.clone(), v.clone())).collect();
        if !visible.is_empty() {
            out.insert(group.clone(), visible);
        }
    }
    out
}

fn check_domain(id: &Identity, domain: &str) -> Result<()> {
    if id.domains.contains_key(domain) {
        Ok(())
    } else {
        Err(no_domain(domain))
    }
}

/// Replaces a domain's whole configuration. Answers what it shows now, and whether the domain had
/// no configuration before (Keystone's 201 rather than 200).
pub fn set(id: &mut Identity, caller: &Caller, domain: &str, config: Config) -> Result<(Config, bool)> {
    require_admin(caller, "create_domain_config")?;
    check_domain(id, domain)?;
    check_config(&config)?;
    let view = shown(&config);
    let created = id.domain_configs.0.insert(domain.to_string(), config).is_none();
    Ok((view, created))
}

/// Checks an update limited to `group` (and `option`) names exactly that, and that it exists.
fn check_scoped_update(current: Option<&Config>, domain: &str, config: &Config, group: &str, option: Option<&str>) -> Result<()> {
    let Some((only, options)) = config.iter().next().filter(|_| config.len() == 1) else {
        return Err(invalid(format!("Trying to update group {group}, so that, and only that, group must be specified in the config")));
    };
    if only != group {
        return Err(invalid(format!("request to update group {group}, but config provided contains group {only} instead")));
    }
    if let Some(o) = option {
        if options.len() != 1 || !options.contains_key(o) {
            return Err(invalid(format!("Trying to update option {o} in group {group}, so that, and only that, option must be specified in the config")));
        }
    }
    let have = current.and_then(|c| c.get(group));
    let exists = match option {
        Some(o) => have.is_some_and(|g| g.contains_key(o)),
        None => have.is_some_and(|g| !g.is_empty()),
    };
    if !exists {
        return Err(missing(domain, Some(group), option));
    }
    Ok(())
}

/// Merges `config` into a domain's configuration: the whole of it, or only `group` (which must
/// exist and be all `config` names), or only one `option` of it likewise. Answers what the
/// configuration shows now.
pub fn update(id: &mut Identity, caller: &Caller, domain: &str, group: Option<&str>, option: Option<&str>, config: Config) -> Result<Config> {
    require_admin(caller, "update_domain_config")?;
    check_domain(id, domain)?;
    check_config(&config)?;
    check_group_option(group, option)?;
    if let Some(g) = group {
        check_scoped_update(id.domain_configs.0.get(domain), domain, &config, g, option)?;
    }
    let current = id.domain_configs.0.entry(domain.to_string()).or_default();
    for (g, options) in config {
        current.entry(g).or_default().extend(options);
    }
    Ok(shown(current))
}

/// Deletes a domain's configuration (having none is no error, as in Keystone), or one group
/// of it, or one option; a group or option it lacks is 404.
pub fn delete(id: &mut Identity, caller: &Caller, domain: &str, group: Option<&str>, option: Option<&str>) -> Result<()> {
    require_admin(caller, "delete_domain_config")?;
    check_domain(id, domain)?;
    check_group_option(group, option)?;
    let Some(g) = group else {
        id.domain_configs.0.remove(domain);
        return Ok(());
    };
    let config = id.domain_configs.0.get_mut(domain).ok_or_else(|| missing(domain, Some(g), None))?;
    let options = config.get_mut(g).ok_or_else(|| missing(domain, Some(g), None))?;
    match option {
        Some(o) => {
            options.remove(o).ok_or_else(|| missing(domain, Some(g), Some(o)))?;
            if options.is_empty() {
                config.remove(g);
            }
        }
        None => {
            config.remove(g);
        }
    }
    if config.is_empty() {
        id.domain_configs.0.remove(domain);
    }
    Ok(())
}

/// A domain's configuration as shown (admin only), all of it or only `group` or one `option`
/// of it; 404 when nothing shown matches, as Keystone.
pub fn show(id: &Identity, caller: &Caller, domain: &str, group: Option<&str>, option: Option<&str>) -> Result<Config> {
    require_admin(caller, "get_domain_config")?;
    check_domain(id, domain)?;
    check_group_option(group, option)?;
    let mut view = id.domain_configs.0.get(domain).map(shown).unwrap_or_default();
    if let Some(g) = group {
        view.retain(|k, _| k == g);
    }
    if let (Some(g), Some(o)) = (group, option) {
        if let Some(options) = view.get_mut(g) {
            options.retain(|k, _| k == o);
        }
        view.retain(|_, options| !options.is_empty());
    }
    if view.is_empty() {
        return Err(missing(domain, group, option));
    }
    Ok(view)
}

/// The default domain's security compliance options (`password_regex` and its description):
/// any caller may read them, and orrery sets neither (`null`, Keystone's defaults). Other
/// domains, and other options, are 403 as in Keystone.
pub fn security_compliance(id: &Identity, domain: &str, option: Option<&str>) -> Result<Config> {
    check_domain(id, domain)?;
    if domain != DEFAULT_DOMAIN {
        return Err(invalid("Reading security compliance information for any domain other than the default domain is not allowed or supported".into()));
    }
    if option.is_some_and(|o| !READABLE_COMPLIANCE.contains(&o)) {
        return Err(invalid("Reading security compliance values other than password_regex and password_regex_description is not allowed".into()));
    }
    let options = READABLE_COMPLIANCE.iter().filter(|o| option.is_none_or(|x| x == **o)).map(|o| (o.to_string(), "null".to_string())).collect();
    Ok(Config::from([(SECURITY_COMPLIANCE.to_string(), options)]))
}

/// Keystone's defaults for the options a domain may set and see (admin only): every group, or
/// only `group`, or one `option` of it. A sensitive option has no default to read (403).
pub fn defaults(caller: &Caller, group: Option<&str>, option: Option<&str>) -> Result<Config> {
    require_admin(caller, "get_domain_config_default")?;
    check_group_option(group, option)?;
    if let (Some(g), Some(o)) = (group, option) {
        if !is_whitelisted(g, o) {
            return Err(invalid(format!("Reading the default for option {o} in group {g} is not supported")));
        }
    }
    let mut out = Config::new();
    for (g, options) in WHITELISTED.iter().filter(|(g, _)| group.is_none_or(|x| x == *g)) {
        let options: Options = options.iter().filter(|(o, _)| option.is_none_or(|x| x == *o)).map(|(o, v)| (o.to_string(), v.to_string())).collect();
        out.insert(g.to_string(), options);
    }
    Ok(out)
}

/// What a configuration command answers: the configuration as it now shows, and for a
/// replacement whether the domain had none before.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigReply {
    /// The configuration as shown (sensitive options left out).
    pub config: Config,
    /// Whether a replacement created the domain's first configuration.
    pub created: bool,
}
