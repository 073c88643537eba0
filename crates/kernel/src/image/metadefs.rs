//! Metadata definitions (Glance's metadefs catalog): namespaces that describe the properties
//! other services' resources may carry, with their property definitions, objects, tags and the
//! resource types they apply to.
//!
//! Property definitions are JSON-schema fragments; the kernel keeps each one as the canonical
//! JSON text the shell made of it, with the title and type it checks. Admins write (Glance's
//! default `metadef_admin` policy); everyone reads public namespaces, and a project also its
//! own private ones.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::ids::Uuid;
use crate::ports::Core;
use crate::{Caller, Error, Result, Time};

/// The resource types Glance's shipped definitions describe; associating a namespace with any
/// other name creates that resource type, as Glance does.
pub const RESOURCE_TYPES: &[&str] =
    &["OS::Cinder::Volume", "OS::Glance::Image", "OS::Nova::Aggregate", "OS::Nova::Flavor", "OS::Nova::Instance", "OS::Nova::Server", "OS::Trove::Instance"];

/// JSON-schema types a property may have.
pub const PROPERTY_TYPES: &[&str] = &["array", "boolean", "integer", "number", "object", "string"];

/// Every namespace, by name (hashed as nothing while empty; see [`crate::sparse::Sparse`]).
pub type Metadefs = crate::sparse::Sparse<String, Namespace>;

/// A namespace's own attributes: what create and update set.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct NamespaceInfo {
    /// Shown name.
    pub display_name: Option<String>,
    /// Free text.
    pub description: Option<String>,
    /// `public` or `private`.
    pub visibility: String,
    /// A protected namespace cannot be deleted.
    pub protected: bool,
    /// The owning project; the caller's when not given.
    pub owner: Option<Uuid>,
}

/// A namespace and everything in it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Namespace {
    /// Its name, unique.
    pub namespace: String,
    /// Its attributes.
    pub info: NamespaceInfo,
    /// Resource types it applies to, by name.
    pub resource_types: BTreeMap<String, Association>,
    /// Property definitions, by name.
    pub properties: BTreeMap<String, Property>,
    /// Objects (named groups of properties), by name.
    pub objects: BTreeMap<String, Object>,
    /// Tags, by name.
    pub tags: BTreeMap<String, Stamp>,
    /// When it was created and last changed.
    pub stamp: Stamp,
}

/// Creation and change times.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Stamp {
    /// Created.
    pub created_at: Time,
    /// Last changed.
    pub updated_at: Time,
}

impl Stamp {
    fn at(now: Time) -> Stamp {
        Stamp { created_at: now, updated_at: now }
    }
}

/// A namespace's association with a resource type.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Association {
    /// Prefix of the namespace's property names on that resource (`hw_`, say).
    pub prefix: Option<String>,
    /// Where on the resource the properties go (`image`, `metadata`).
    pub properties_target: Option<String>,
    /// When.
    pub stamp: Stamp,
}

/// A property definition.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Property {
    /// Its title (required).
    pub title: String,
    /// Its JSON-schema type.
    pub kind: String,
    /// The whole definition as canonical JSON text (title and type included).
    pub doc: String,
}

/// An object: a named set of property definitions.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Object {
    /// Free text.
    pub description: Option<String>,
    /// Names of the properties that are required.
    pub required: Vec<String>,
    /// Property definitions, by name.
    pub properties: BTreeMap<String, Property>,
    /// When.
    pub stamp: Stamp,
}

/// What a namespace create may carry besides its attributes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contents {
    /// Resource type associations: name, prefix, properties target.
    pub resource_types: Vec<(String, Option<String>, Option<String>)>,
    /// Property definitions.
    pub properties: Vec<(String, Property)>,
    /// Objects.
    pub objects: Vec<(String, ObjectSpec)>,
    /// Tag names.
    pub tags: Vec<String>,
}

/// An object as a request gives it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectSpec {
    /// Free text.
    pub description: Option<String>,
    /// Required property names.
    pub required: Vec<String>,
    /// Property definitions.
    pub properties: Vec<(String, Property)>,
}

/// The part of a namespace a command is about.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Part {
    /// A property definition.
    Property,
    /// An object.
    Object,
    /// A tag.
    Tag,
    /// A resource type association.
    ResourceType,
}

impl Part {
    fn noun(&self) -> &'static str {
        match self {
            Part::Property => "Property",
            Part::Object => "Object",
            Part::Tag => "Tag",
            Part::ResourceType => "Resource type association",
        }
    }
}

/// Metadefs commands (admins only).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Cmd {
    /// Creates a namespace with its contents.
    Create {
        /// The name.
        namespace: String,
        /// Its attributes.
        info: NamespaceInfo,
        /// Its contents.
        contents: Box<Contents>,
    },
    /// Renames a namespace and replaces its attributes.
    Update {
        /// The current name.
        namespace: String,
        /// The new name.
        rename: String,
        /// The new attributes.
        info: NamespaceInfo,
    },
    /// Deletes a namespace (refused while protected).
    Delete {
        /// The name.
        namespace: String,
    },
    /// Creates or replaces (`replace`: the old name) one property definition.
    PutProperty {
        /// The namespace.
        namespace: String,
        /// The name it had, for an update.
        replace: Option<String>,
        /// Its name.
        name: String,
        /// The definition.
        property: Property,
    },
    /// Creates or replaces one object.
    PutObject {
        /// The namespace.
        namespace: String,
        /// The name it had, for an update.
        replace: Option<String>,
        /// Its name.
        name: String,
        /// The object.
        object: ObjectSpec,
    },
    /// Creates or renames one tag.
    PutTag {
        /// The namespace.
        namespace: String,
        /// The name it had, for a rename.
        replace: Option<String>,
        /// Its name.
        name: String,
    },
    /// Replaces every tag.
    SetTags {
        /// The namespace.
        namespace: String,
        /// The new tags.
        tags: Vec<String>,
    },
    /// Associates a resource type.
    Associate {
        /// The namespace.
        namespace: String,
        /// The resource type.
        name: String,
        /// Its property prefix.
        prefix: Option<String>,
        /// Its properties target.
        properties_target: Option<String>,
    },
    /// Removes one part (`name`), or every part of that kind (`None`).
    Remove {
        /// The namespace.
        namespace: String,
        /// Which kind of part.
        part: Part,
        /// Its name, or all of them.
        name: Option<String>,
    },
}

fn bad(msg: String) -> Error {
    Error::bad_request("image.bad_request", msg)
}

fn conflict(msg: String) -> Error {
    Error::conflict("image.conflict", msg)
}

/// Whether `c` may see namespace `ns`: public ones, its project's own, or all for admins.
pub fn visible(ns: &Namespace, c: &Caller) -> bool {
    c.admin || ns.info.visibility == "public" || (ns.info.owner.is_some() && ns.info.owner == c.project)
}

/// The namespace `name` if `c` may see it; Glance's 404 otherwise.
pub fn namespace<'a>(defs: &'a Metadefs, c: &Caller, name: &str) -> Result<&'a Namespace> {
    defs.0
        .get(name)
        .filter(|ns| visible(ns, c))
        .ok_or_else(|| Error::not_found("image.not_found", format!("Metadata definition namespace={name} was not found.")))
}

/// Applies a metadefs command.
pub fn apply(defs: &mut Metadefs, core: &mut Core, c: &Caller, cmd: Cmd) -> Result<()> {
    if !c.admin {
        return Err(Error::forbidden("image.forbidden", "You are not authorized to complete this action: metadefs are changed by admins.".into()));
    }
    let now = core.now();
    match cmd {
        Cmd::Create { namespace, info, contents } => create(defs, c, now, namespace, info, *contents),
        Cmd::Update { namespace, rename, info } => update(defs, c, now, &namespace, rename, info),
        Cmd::Delete { namespace } => {
            if namespace_mut(defs, c, &namespace)?.info.protected {
                return Err(Error::forbidden("image.forbidden", format!("Namespace {namespace} is protected and cannot be deleted.")));
            }
            defs.0.remove(&namespace);
            Ok(())
        }
        Cmd::PutProperty { namespace, replace, name, property } => {
            let ns = namespace_mut(defs, c, &namespace)?;
            check_property(&name, &property)?;
            put(&mut ns.properties, Part::Property, replace, name, property)?;
            touch(ns, now)
        }
        Cmd::PutObject { namespace, replace, name, object } => {
            let ns = namespace_mut(defs, c, &namespace)?;
            check_name("object", &name)?;
            let created = match &replace {
                Some(old) => ns.objects.get(old).map(|o| o.stamp.created_at).unwrap_or(now),
                None => now,
            };
            let object = build_object(object, Stamp { created_at: created, updated_at: now })?;
            put(&mut ns.objects, Part::Object, replace, name, object)?;
            touch(ns, now)
        }
        Cmd::PutTag { namespace, replace, name } => {
            let ns = namespace_mut(defs, c, &namespace)?;
            check_name("tag", &name)?;
            put(&mut ns.tags, Part::Tag, replace, name, Stamp::at(now))?;
            touch(ns, now)
        }
        Cmd::SetTags { namespace, tags } => {
            let ns = namespace_mut(defs, c, &namespace)?;
            ns.tags = unique_tags(tags, now)?;
            touch(ns, now)
        }
        Cmd::Associate { namespace, name, prefix, properties_target } => {
            let ns = namespace_mut(defs, c, &namespace)?;
            associate(ns, now, name, prefix, properties_target)?;
            touch(ns, now)
        }
        Cmd::Remove { namespace, part, name } => {
            let ns = namespace_mut(defs, c, &namespace)?;
            remove(ns, &part, name.as_deref())?;
            touch(ns, now)
        }
    }
}

fn namespace_mut<'a>(defs: &'a mut Metadefs, c: &Caller, name: &str) -> Result<&'a mut Namespace> {
    namespace(defs, c, name)?;
    Ok(defs.0.get_mut(name).expect("found above"))
}

fn touch(ns: &mut Namespace, now: Time) -> Result<()> {
    ns.stamp.updated_at = now;
    Ok(())
}

fn check_name(what: &str, name: &str) -> Result<()> {
    if name.trim().is_empty() || name.chars().count() > 255 {
        return Err(bad(format!("Invalid {what} name '{name}': it must be 1 to 255 characters.")));
    }
    Ok(())
}

fn check_info(namespace: &str, info: &NamespaceInfo) -> Result<()> {
    if namespace.trim().is_empty() || namespace.chars().count() > 80 {
        return Err(bad(format!("Invalid namespace '{namespace}': it must be 1 to 80 characters.")));
    }
    if !["public", "private"].contains(&info.visibility.as_str()) {
        return Err(bad(format!("Invalid visibility '{}': it must be public or private.", info.visibility)));
    }
    Ok(())
}

fn check_property(name: &str, p: &Property) -> Result<()> {
    check_name("property", name)?;
    if p.title.is_empty() {
        return Err(bad(format!("Property '{name}' needs a title.")));
    }
    if !PROPERTY_TYPES.contains(&p.kind.as_str()) {
        return Err(bad(format!("Invalid type '{}' for property '{name}': it must be one of {}.", p.kind, PROPERTY_TYPES.join(", "))));
    }
    Ok(())
}

fn build_object(spec: ObjectSpec, stamp: Stamp) -> Result<Object> {
    let mut properties = BTreeMap::new();
    for (name, p) in spec.properties {
        check_property(&name, &p)?;
        properties.insert(name, p);
    }
    Ok(Object { description: spec.description, required: spec.required, properties, stamp })
}

fn unique_tags(tags: Vec<String>, now: Time) -> Result<BTreeMap<String, Stamp>> {
    let mut out = BTreeMap::new();
    for t in tags {
        check_name("tag", &t)?;
        if out.insert(t.clone(), Stamp::at(now)).is_some() {
            return Err(conflict(format!("Duplicate tag '{t}' in the request.")));
        }
    }
    Ok(out)
}

/// Inserts `value` under `name`: new when `replace` is None (409 if taken), else in place of
/// `replace` (404 if missing, 409 if the new name is another's).
fn put<V>(map: &mut BTreeMap<String, V>, part: Part, replace: Option<String>, name: String, value: V) -> Result<()> {
    match replace {
        None if map.contains_key(&name) => Err(conflict(format!("{} {name} already exists in this namespace.", part.noun()))),
        None => {
            map.insert(name, value);
            Ok(())
        }
        Some(old) if !map.contains_key(&old) => Err(Error::not_found("image.not_found", format!("{} {old} was not found in this namespace.", part.noun()))),
        Some(old) if old != name && map.contains_key(&name) => Err(conflict(format!("{} {name} already exists in this namespace.", part.noun()))),
        Some(old) => {
            map.remove(&old);
            map.insert(name, value);
            Ok(())
        }
    }
}

/// Every resource type: the shipped ones and those namespaces were associated with, by name.
pub fn resource_types(defs: &Metadefs) -> std::collections::BTreeSet<&str> {
    let used = defs.0.values().flat_map(|ns| ns.resource_types.keys().map(String::as_str));
    RESOURCE_TYPES.iter().copied().chain(used).collect()
}

fn associate(ns: &mut Namespace, now: Time, name: String, prefix: Option<String>, properties_target: Option<String>) -> Result<()> {
    if name.trim().is_empty() || name.chars().count() > 80 {
        return Err(bad(format!("Invalid resource type '{name}': it must be 1 to 80 characters.")));
    }
    let a = Association { prefix, properties_target, stamp: Stamp::at(now) };
    put(&mut ns.resource_types, Part::ResourceType, None, name, a)
}

fn remove(ns: &mut Namespace, part: &Part, name: Option<&str>) -> Result<()> {
    let gone = match (part, name) {
        (Part::Property, Some(n)) => ns.properties.remove(n).is_some(),
        (Part::Object, Some(n)) => ns.objects.remove(n).is_some(),
        (Part::Tag, Some(n)) => ns.tags.remove(n).is_some(),
        (Part::ResourceType, Some(n)) => ns.resource_types.remove(n).is_some(),
        (Part::Property, None) => {
            ns.properties.clear();
            true
        }
        (Part::Object, None) => {
            ns.objects.clear();
            true
        }
        (Part::Tag, None) => {
            ns.tags.clear();
            true
        }
        (Part::ResourceType, None) => {
            ns.resource_types.clear();
            true
        }
    };
    if !gone {
        let n = name.unwrap_or_default();
        return Err(Error::not_found("image.not_found", format!("{} {n} was not found in namespace {}.", part.noun(), ns.namespace)));
    }
    Ok(())
}

fn create(defs: &mut Metadefs, c: &Caller, now: Time, namespace: String, mut info: NamespaceInfo, contents: Contents) -> Result<()> {
    check_info(&namespace, &info)?;
    if defs.0.contains_key(&namespace) {
        return Err(conflict(format!("Metadata definition namespace={namespace} already exists.")));
    }
    info.owner = info.owner.or(c.project);
    let mut ns = Namespace {
        namespace: namespace.clone(),
        info,
        resource_types: BTreeMap::new(),
        properties: BTreeMap::new(),
        objects: BTreeMap::new(),
        tags: unique_tags(contents.tags, now)?,
        stamp: Stamp::at(now),
    };
    for (name, prefix, target) in contents.resource_types {
        associate(&mut ns, now, name, prefix, target)?;
    }
    for (name, p) in contents.properties {
        check_property(&name, &p)?;
        put(&mut ns.properties, Part::Property, None, name, p)?;
    }
    for (name, o) in contents.objects {
        check_name("object", &name)?;
        let o = build_object(o, Stamp::at(now))?;
        put(&mut ns.objects, Part::Object, None, name, o)?;
    }
    defs.0.insert(namespace, ns);
    Ok(())
}

fn update(defs: &mut Metadefs, c: &Caller, now: Time, name: &str, rename: String, mut info: NamespaceInfo) -> Result<()> {
    check_info(&rename, &info)?;
    let owner = namespace(defs, c, name)?.info.owner;
    if rename != name && defs.0.contains_key(&rename) {
        return Err(conflict(format!("Metadata definition namespace={rename} already exists.")));
    }
    let mut ns = defs.0.remove(name).expect("found above");
    info.owner = info.owner.or(owner);
    ns.info = info;
    ns.namespace = rename.clone();
    ns.stamp.updated_at = now;
    defs.0.insert(rename, ns);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compute::quotas::tests::{caller, kernel};
    use crate::Kernel;

    fn run(k: &mut Kernel, c: &Caller, cmd: Cmd) -> Result<()> {
        let mut core = Core::new(k.now, k.spec.as_ref().expect("test spec"), &mut k.rng, &mut k.timers);
        apply(&mut k.images.metadefs, &mut core, c, cmd)
    }

    fn info(protected: bool) -> NamespaceInfo {
        NamespaceInfo { visibility: "public".into(), protected, ..NamespaceInfo::default() }
    }

    fn create(name: &str, protected: bool, tags: &[&str]) -> Cmd {
        let contents = Contents { tags: tags.iter().map(|t| t.to_string()).collect(), ..Contents::default() };
        Cmd::Create { namespace: name.into(), info: info(protected), contents: Box::new(contents) }
    }

    #[test]
    fn refused_commands_change_nothing() {
        let mut k = kernel();
        let admin = caller(&k, 1, true);
        run(&mut k, &admin, create("a", true, &["t1"])).unwrap();
        run(&mut k, &admin, create("b", false, &[])).unwrap();
        let before = k.state_hash();
        let refused = [
            (create("x", false, &[]), caller(&k, 2, false), "only admins write"),
            (create("a", false, &[]), admin.clone(), "the name is taken"),
            (create("y", false, &["d", "d"]), admin.clone(), "duplicate tags"),
            (Cmd::Delete { namespace: "a".into() }, admin.clone(), "protected"),
            (Cmd::Update { namespace: "b".into(), rename: "a".into(), info: info(false) }, admin.clone(), "rename onto another"),
            (Cmd::SetTags { namespace: "a".into(), tags: vec!["e".into(), "e".into()] }, admin.clone(), "duplicate tags"),
            (Cmd::PutTag { namespace: "a".into(), replace: Some("zz".into()), name: "q".into() }, admin.clone(), "no such tag"),
            (Cmd::Remove { namespace: "b".into(), part: Part::Property, name: Some("p".into()) }, admin.clone(), "no such property"),
        ];
        for (cmd, who, why) in refused {
            assert!(run(&mut k, &who, cmd).is_err(), "{why}");
            assert_eq!(k.state_hash(), before, "{why}: a refused command changes nothing");
        }
        run(&mut k, &admin, Cmd::Update { namespace: "a".into(), rename: "a2".into(), info: info(false) }).unwrap();
        assert_eq!(k.images.metadefs.0["a2"].tags.keys().collect::<Vec<_>>(), ["t1"], "a rename keeps the contents");
        run(&mut k, &admin, Cmd::Delete { namespace: "a2".into() }).unwrap();
        assert!(!k.images.metadefs.0.contains_key("a2"));
    }

    #[test]
    fn resource_types_include_those_made_by_association() {
        let mut k = kernel();
        let admin = caller(&k, 1, true);
        run(&mut k, &admin, create("n", false, &[])).unwrap();
        let assoc = Cmd::Associate { namespace: "n".into(), name: "OS::Custom::X".into(), prefix: None, properties_target: None };
        run(&mut k, &admin, assoc.clone()).unwrap();
        assert!(run(&mut k, &admin, assoc).is_err(), "once per namespace");
        let types = resource_types(&k.images.metadefs);
        assert!(types.contains("OS::Custom::X") && types.contains("OS::Glance::Image"));
    }
}
