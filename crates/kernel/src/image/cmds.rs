//! Image commands (Glance v2 metadata): create a record, patch it, delete it, deactivate and
//! reactivate it, tag it, and share it with members.
//!
//! The rules are Glance's default policy: any project member may create private, shared or
//! community images, only admins public ones; only the owner (or an admin) changes or deletes
//! an image; only the member itself answers an offer. Reserved attributes (status, size,
//! checksums, dates, links) are read-only. Uploads are not commands: image data belongs to the
//! storage model, so a created image stays `queued` until that lands.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::{owns, visible, Extra, Image, Images, Member, MemberStatus};
use crate::ids::Uuid;
use crate::ports::Core;
use crate::{Caller, Error, Result};

/// Disk formats Glance accepts by default.
pub const DISK_FORMATS: &[&str] = &["ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso", "ploop"];
/// Container formats Glance accepts by default.
pub const CONTAINER_FORMATS: &[&str] = &["ami", "ari", "aki", "bare", "ovf", "ova", "docker", "compressed"];
/// Attributes only Glance sets.
pub const READ_ONLY: &[&str] = &["id", "status", "checksum", "size", "virtual_size", "os_hash_algo", "os_hash_value", "created_at", "updated_at"];
/// Attributes that are links or documents, never properties.
pub const RESERVED: &[&str] = &["self", "file", "schema", "direct_url", "location", "locations", "deleted", "deleted_at"];
/// Glance's default `image_tag_quota` and `image_member_quota`.
pub const TAG_QUOTA: usize = 128;
/// Glance's default limit of members per image.
pub const MEMBER_QUOTA: usize = 128;

/// An attribute's new value, typed by the shell from JSON; the kernel checks it fits.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Value {
    /// JSON `null`.
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A string.
    Str(String),
    /// A list of strings (tags).
    List(Vec<String>),
    /// Anything else (an object, a float, a list of non-strings): always refused.
    Other,
}

/// A JSON-patch operation on one attribute.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    /// Sets an attribute, creating a property if need be.
    Add,
    /// Sets an attribute that exists.
    Replace,
    /// Glance's v2.0 `add`: like [`Op::Add`], but 409 for a property that exists already.
    AddNew,
    /// Removes a property.
    Remove,
}

/// One change of an image update.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// add, replace or remove.
    pub op: Op,
    /// The attribute (the patch path without its leading `/`).
    pub attr: String,
    /// The value, for add and replace.
    pub value: Value,
}

/// A new image's attributes, as the create request gave them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewImage {
    /// An id chosen by the client; else the kernel picks one.
    pub id: Option<Uuid>,
    /// Every other attribute given, core or property, in request order.
    pub attrs: Vec<(String, Value)>,
}

/// Image commands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Cmd {
    /// Creates a queued image record.
    Create(Box<NewImage>),
    /// Applies a JSON patch, all or nothing.
    Update {
        /// The image.
        id: Uuid,
        /// The changes, in order.
        changes: Vec<Change>,
    },
    /// Deletes an image.
    Delete {
        /// The image.
        id: Uuid,
    },
    /// Deactivates (`true`) or reactivates (`false`) an active image.
    Deactivate {
        /// The image.
        id: Uuid,
        /// Deactivate, or reactivate.
        on: bool,
    },
    /// Adds (`on`) or removes a tag.
    Tag {
        /// The image.
        id: Uuid,
        /// The tag.
        tag: String,
        /// Add, or remove.
        on: bool,
    },
    /// Offers a shared image to a project.
    AddMember {
        /// The image.
        id: Uuid,
        /// The project id.
        member: String,
    },
    /// A member accepts, rejects or defers an offer.
    SetMember {
        /// The image.
        id: Uuid,
        /// The project id.
        member: String,
        /// Its new status.
        status: MemberStatus,
    },
    /// Sets string properties (Nova's image proxy): merges them in, or with `replace` makes
    /// them the image's only properties.
    SetProperties {
        /// The image.
        id: Uuid,
        /// The properties.
        properties: BTreeMap<String, String>,
        /// Drop every property not given.
        replace: bool,
    },
    /// Removes one property; 404 if the image does not have it (Nova's image proxy).
    RemoveProperty {
        /// The image.
        id: Uuid,
        /// The property.
        key: String,
    },
    /// Withdraws an offer.
    RemoveMember {
        /// The image.
        id: Uuid,
        /// The project id.
        member: String,
    },
    /// The metadata definitions catalog.
    Metadefs(super::metadefs::Cmd),
}

/// Image replies.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reply {
    /// The image as it is now.
    Image(Box<Image>),
    /// A membership as it is now.
    Member(String, Member),
    /// Done; nothing to show.
    Done,
}

fn bad(msg: String) -> Error {
    Error::bad_request("image.bad_request", msg)
}

fn forbidden(msg: String) -> Error {
    Error::forbidden("image.forbidden", msg)
}

fn not_found(id: &Uuid) -> Error {
    Error::not_found("image.not_found", format!("No image found with ID {id}"))
}

/// Applies an image command.
pub fn apply(images: &mut Images, core: &mut Core, caller: &Caller, cmd: Cmd) -> Result<Reply> {
    match cmd {
        Cmd::Create(spec) => create(images, core, caller, *spec),
        Cmd::Update { id, changes } => update(images, core, caller, &id, changes),
        Cmd::Delete { id } => delete(images, caller, &id),
        Cmd::Deactivate { id, on } => deactivate(images, core, caller, &id, on),
        Cmd::Tag { id, tag, on } => set_tag(images, core, caller, &id, tag, on),
        Cmd::AddMember { id, member } => add_member(images, core, caller, &id, member),
        Cmd::SetMember { id, member, status } => set_member(images, core, caller, &id, member, status),
        Cmd::RemoveMember { id, member } => remove_member(images, caller, &id, &member),
        Cmd::SetProperties { id, properties, replace } => set_properties(images, core, caller, &id, properties, replace),
        Cmd::RemoveProperty { id, key } => remove_property(images, core, caller, &id, &key),
        Cmd::Metadefs(c) => super::metadefs::apply(&mut images.metadefs, core, caller, c).map(|()| Reply::Done),
    }
}

/// The image `caller` may see, for reading.
fn seen<'a>(images: &'a Images, caller: &Caller, id: &Uuid) -> Result<&'a Image> {
    images.by_id.get(id).filter(|i| visible(i, caller)).ok_or_else(|| not_found(id))
}

/// The image `caller` may change: it sees it and owns it (or is an admin).
fn owned<'a>(images: &'a mut Images, caller: &Caller, id: &Uuid, what: &str) -> Result<&'a mut Image> {
    let img = seen(images, caller, id)?;
    if !caller.admin && !owns(img, caller) {
        return Err(forbidden(format!("You are not permitted to {what} this image.")));
    }
    if !caller.admin && !caller.member {
        return Err(forbidden(format!("You are not permitted to {what} this image: the member role is needed.")));
    }
    Ok(images.by_id.get_mut(id).expect("seen above"))
}

fn create(images: &mut Images, core: &mut Core, caller: &Caller, spec: NewImage) -> Result<Reply> {
    if !caller.admin && !caller.member {
        return Err(forbidden("You are not authorized to complete add_image action.".into()));
    }
    if let Some(id) = spec.id.filter(|id| images.by_id.contains_key(id)) {
        return Err(Error::conflict("image.conflict", format!("Image with identifier {id} already exists!")));
    }
    let now = core.now();
    let mut img = Image {
        id: Uuid(0),
        name: String::new(),
        disk_format: String::new(),
        container_format: String::new(),
        size: 0,
        min_disk: 0,
        min_ram: 0,
        visibility: "shared".into(),
        owner: caller.project,
        status: "queued".into(),
        properties: BTreeMap::new(),
        checksum: String::new(),
        created_at: now,
        updated_at: now,
        extra: Extra::default(),
    };
    for (attr, value) in spec.attrs {
        set(&mut img, caller, Op::Add, &attr, value)?;
    }
    check_formats(&img)?;
    // The id is drawn only once the request is known to be good: a refused create leaves the
    // kernel's RNG, and so the state, as it was.
    img.id = spec.id.unwrap_or_else(|| core.rng().uuid());
    let previous = images.by_id.insert(img.id, img.clone());
    debug_assert!(previous.is_none(), "a fresh image id is unused");
    Ok(Reply::Image(Box::new(img)))
}

/// The `owner` a create may set: any project for admins, only the caller's own otherwise.
fn owner(caller: &Caller, value: Value) -> Result<Option<Uuid>> {
    let owner = match value {
        Value::Null => None,
        Value::Str(s) => Some(s.parse::<Uuid>().map_err(|_| bad(format!("Invalid value '{s}' for 'owner': it is not a project id.")))?),
        _ => return Err(bad("Invalid type for 'owner': a string or null is expected.".into())),
    };
    if !caller.admin && owner != caller.project {
        return Err(forbidden("You are not permitted to create images owned by another project.".into()));
    }
    Ok(owner)
}

/// Glance's rule that Amazon formats come as a pair: an `ami`, `ari` or `aki` container goes
/// with the same disk format.
fn check_formats(img: &Image) -> Result<()> {
    let amazon = ["ami", "ari", "aki"];
    let (d, c) = (img.disk_format.as_str(), img.container_format.as_str());
    if !d.is_empty() && !c.is_empty() && (amazon.contains(&d) || amazon.contains(&c)) && d != c {
        return Err(bad(format!("Invalid mix of disk and container formats. When setting a disk or container format to one of 'aki', 'ari', or 'ami', the container and disk formats must match (disk {d}, container {c}).")));
    }
    Ok(())
}

fn update(images: &mut Images, core: &mut Core, caller: &Caller, id: &Uuid, changes: Vec<Change>) -> Result<Reply> {
    let now = core.now();
    let img = owned(images, caller, id, "modify")?;
    let mut next = img.clone();
    for c in changes {
        set(&mut next, caller, c.op, &c.attr, c.value)?;
    }
    check_formats(&next)?;
    next.updated_at = now;
    *img = next;
    Ok(Reply::Image(Box::new(img.clone())))
}

/// Applies one operation to one attribute of `img` (a copy: the caller commits all or nothing).
fn set(img: &mut Image, caller: &Caller, op: Op, attr: &str, value: Value) -> Result<()> {
    if READ_ONLY.contains(&attr) {
        return Err(forbidden(format!("Attribute '{attr}' is read-only.")));
    }
    if RESERVED.contains(&attr) {
        return Err(forbidden(format!("Attribute '{attr}' is reserved.")));
    }
    if attr.is_empty() || attr.len() > 255 || attr.contains('/') {
        return Err(bad(format!("Invalid attribute name '{attr}'.")));
    }
    match (op, attr) {
        (Op::Remove, "name" | "visibility" | "protected" | "os_hidden" | "min_disk" | "min_ram" | "disk_format" | "container_format" | "tags" | "owner") => {
            Err(forbidden(format!("Attribute '{attr}' is a core attribute and cannot be removed.")))
        }
        (_, "name") => set_name(img, value),
        (_, "visibility") => set_visibility(img, caller, value),
        (_, "protected") => boolean(attr, value).map(|b| img.extra.protected = b),
        (_, "os_hidden") => boolean(attr, value).map(|b| img.extra.hidden = b),
        (_, "min_disk") => count(attr, value).map(|n| img.min_disk = n),
        (_, "min_ram") => count(attr, value).map(|n| img.min_ram = n),
        (_, "disk_format") => set_format(img, attr, value, DISK_FORMATS),
        (_, "container_format") => set_format(img, attr, value, CONTAINER_FORMATS),
        (_, "tags") => set_tags(img, value),
        (_, "owner") => owner(caller, value).map(|o| img.owner = o),
        (Op::Remove, _) => img.properties.remove(attr).map(|_| ()).ok_or_else(|| Error::conflict("image.conflict", format!("Property {attr} does not exist."))),
        (Op::Replace, _) if !img.properties.contains_key(attr) => Err(Error::conflict("image.conflict", format!("Property {attr} does not exist."))),
        (Op::AddNew, _) if img.properties.contains_key(attr) => Err(Error::conflict("image.conflict", format!("Property {attr} already present."))),
        (_, _) => match value {
            Value::Str(s) if s.len() <= 65_535 => {
                img.properties.insert(attr.to_string(), s);
                Ok(())
            }
            Value::Str(_) => Err(bad(format!("Property '{attr}' is longer than 65535 characters."))),
            _ => Err(bad(format!("Property '{attr}' must be a string: Glance keeps extra properties as strings."))),
        },
    }
}

fn set_name(img: &mut Image, value: Value) -> Result<()> {
    img.name = match value {
        Value::Null => String::new(),
        Value::Str(s) if s.chars().count() <= 255 => s,
        Value::Str(_) => return Err(bad("Invalid value for 'name': it is longer than 255 characters.".into())),
        _ => return Err(bad("Invalid type for 'name': a string or null is expected.".into())),
    };
    Ok(())
}

fn set_visibility(img: &mut Image, caller: &Caller, value: Value) -> Result<()> {
    let Value::Str(v) = value else { return Err(bad("Invalid type for 'visibility': a string is expected.".into())) };
    if !["public", "private", "shared", "community"].contains(&v.as_str()) {
        return Err(bad(format!("Invalid value '{v}' for 'visibility': it must be one of public, private, shared or community.")));
    }
    if v == "public" && !caller.admin {
        return Err(forbidden("You are not authorized to complete publicize_image action.".into()));
    }
    img.visibility = v;
    Ok(())
}

fn boolean(attr: &str, value: Value) -> Result<bool> {
    match value {
        Value::Bool(b) => Ok(b),
        _ => Err(bad(format!("Invalid type for '{attr}': a boolean is expected."))),
    }
}

fn count(attr: &str, value: Value) -> Result<u64> {
    match value {
        Value::Int(n) if n >= 0 => Ok(n as u64),
        Value::Int(n) => Err(bad(format!("Invalid value '{n}' for '{attr}': it must be 0 or more."))),
        _ => Err(bad(format!("Invalid type for '{attr}': an integer is expected."))),
    }
}

fn set_format(img: &mut Image, attr: &str, value: Value, allowed: &[&str]) -> Result<()> {
    if img.status != "queued" {
        return Err(forbidden(format!("Attribute '{attr}' can be only replaced for a queued image.")));
    }
    let v = match value {
        Value::Null => String::new(),
        Value::Str(s) if allowed.contains(&s.as_str()) => s,
        Value::Str(s) => return Err(bad(format!("Invalid value '{s}' for '{attr}': it must be one of {}.", allowed.join(", ")))),
        _ => return Err(bad(format!("Invalid type for '{attr}': a string or null is expected."))),
    };
    if attr == "disk_format" {
        img.disk_format = v;
    } else {
        img.container_format = v;
    }
    Ok(())
}

fn set_tags(img: &mut Image, value: Value) -> Result<()> {
    let tags = match value {
        Value::List(t) => t,
        _ => return Err(bad("Invalid type for 'tags': a list of strings is expected.".into())),
    };
    for t in &tags {
        check_tag(t)?;
    }
    let set: BTreeSet<String> = tags.into_iter().collect();
    if set.len() > TAG_QUOTA {
        return Err(Error::over_quota("image.over_quota", format!("Maximum number of tags exceeded: {TAG_QUOTA} are allowed per image.")));
    }
    img.extra.tags = set;
    Ok(())
}

fn check_tag(tag: &str) -> Result<()> {
    if tag.is_empty() || tag.chars().count() > 255 {
        return Err(bad(format!("Invalid tag '{tag}': a tag is 1 to 255 characters.")));
    }
    Ok(())
}

fn delete(images: &mut Images, caller: &Caller, id: &Uuid) -> Result<Reply> {
    let img = owned(images, caller, id, "delete")?;
    if img.extra.protected {
        return Err(forbidden(format!("Image {id} is protected and cannot be deleted.")));
    }
    images.by_id.remove(id);
    Ok(Reply::Done)
}

fn deactivate(images: &mut Images, core: &mut Core, caller: &Caller, id: &Uuid, on: bool) -> Result<Reply> {
    let now = core.now();
    let what = if on { "deactivate" } else { "reactivate" };
    let img = owned(images, caller, id, what)?;
    let (from, to) = if on { ("active", "deactivated") } else { ("deactivated", "active") };
    if img.status == to {
        return Ok(Reply::Done);
    }
    if img.status != from {
        return Err(forbidden(format!("Not allowed to {what} image in status '{}'.", img.status)));
    }
    img.status = to.into();
    img.updated_at = now;
    Ok(Reply::Done)
}

fn set_tag(images: &mut Images, core: &mut Core, caller: &Caller, id: &Uuid, tag: String, on: bool) -> Result<Reply> {
    let now = core.now();
    let img = owned(images, caller, id, "modify")?;
    if on {
        check_tag(&tag)?;
        if !img.extra.tags.contains(&tag) && img.extra.tags.len() >= TAG_QUOTA {
            return Err(Error::over_quota("image.over_quota", format!("Maximum number of tags exceeded: {TAG_QUOTA} are allowed per image.")));
        }
        img.extra.tags.insert(tag);
    } else if !img.extra.tags.remove(&tag) {
        return Err(Error::not_found("image.not_found", format!("Tag {tag} not found.")));
    }
    img.updated_at = now;
    Ok(Reply::Done)
}

fn set_properties(images: &mut Images, core: &mut Core, caller: &Caller, id: &Uuid, properties: BTreeMap<String, String>, replace: bool) -> Result<Reply> {
    let now = core.now();
    let img = owned(images, caller, id, "modify")?;
    let mut next = img.clone();
    if replace {
        next.properties.clear();
    }
    for (k, v) in properties {
        set(&mut next, caller, Op::Add, &k, Value::Str(v))?;
    }
    next.updated_at = now;
    *img = next;
    Ok(Reply::Image(Box::new(img.clone())))
}

fn remove_property(images: &mut Images, core: &mut Core, caller: &Caller, id: &Uuid, key: &str) -> Result<Reply> {
    let now = core.now();
    let img = owned(images, caller, id, "modify")?;
    if img.properties.remove(key).is_none() {
        return Err(Error::not_found("image.not_found", format!("Image {id} has no property {key}.")));
    }
    img.updated_at = now;
    Ok(Reply::Image(Box::new(img.clone())))
}

fn add_member(images: &mut Images, core: &mut Core, caller: &Caller, id: &Uuid, member: String) -> Result<Reply> {
    let now = core.now();
    let img = owned(images, caller, id, "add members to")?;
    if img.visibility != "shared" {
        return Err(forbidden(format!("Only shared images have members; image {id} is {}.", img.visibility)));
    }
    if member.is_empty() || member.len() > 255 {
        return Err(bad("Invalid member: a project id is 1 to 255 characters.".into()));
    }
    let key = member;
    if img.extra.members.contains_key(&key) {
        return Err(Error::conflict("image.conflict", format!("Member {key} already exists.")));
    }
    if img.extra.members.len() >= MEMBER_QUOTA {
        return Err(Error::over_quota("image.over_quota", format!("Maximum number of members exceeded: {MEMBER_QUOTA} are allowed per image.")));
    }
    let m = Member { status: MemberStatus::Pending, created_at: now, updated_at: now };
    img.extra.members.insert(key.clone(), m.clone());
    Ok(Reply::Member(key, m))
}

fn set_member(images: &mut Images, core: &mut Core, caller: &Caller, id: &Uuid, member: String, status: MemberStatus) -> Result<Reply> {
    let now = core.now();
    let key = member;
    let img = seen(images, caller, id)?;
    if !img.extra.members.contains_key(&key) {
        return Err(Error::not_found("image.not_found", format!("Member {key} not found for image {id}.")));
    }
    if caller.project.map(|p| p.simple()) != Some(key.clone()) {
        return Err(forbidden(format!("Only the member itself may change its status; you are not member {key}.")));
    }
    let m = images.by_id.get_mut(id).and_then(|i| i.extra.members.get_mut(&key)).expect("checked above");
    m.status = status;
    m.updated_at = now;
    Ok(Reply::Member(key, m.clone()))
}

fn remove_member(images: &mut Images, caller: &Caller, id: &Uuid, member: &str) -> Result<Reply> {
    let img = owned(images, caller, id, "remove members from")?;
    if img.visibility != "shared" {
        return Err(forbidden(format!("Only shared images have members; image {id} is {}.", img.visibility)));
    }
    if img.extra.members.remove(member).is_none() {
        return Err(Error::not_found("image.not_found", format!("Member {member} not found for image {id}.")));
    }
    Ok(Reply::Done)
}

#[cfg(test)]
mod tests {
    use std::hash::{Hash, Hasher};

    use super::*;
    use crate::compute::quotas::tests::{caller, kernel};
    use crate::hash::StableHasher;
    use crate::image::{visible, Extra};
    use crate::Kernel;

    fn run(k: &mut Kernel, c: &Caller, cmd: Cmd) -> Result<Reply> {
        let mut core = Core::new(k.now, k.spec.as_ref().expect("test spec"), &mut k.rng, &mut k.timers);
        apply(&mut k.images, &mut core, c, cmd)
    }

    fn created(k: &mut Kernel, c: &Caller, attrs: Vec<(&str, Value)>) -> Image {
        let attrs = attrs.into_iter().map(|(a, v)| (a.to_string(), v)).collect();
        match run(k, c, Cmd::Create(Box::new(NewImage { id: None, attrs }))).expect("created") {
            Reply::Image(i) => *i,
            other => panic!("unexpected reply {other:?}"),
        }
    }

    #[test]
    fn untouched_extras_hash_as_nothing() {
        let mut h = StableHasher::default();
        Extra::default().hash(&mut h);
        assert_eq!(h.finish(), StableHasher::default().finish(), "catalogs from before extras keep their state hash");
        let mut h = StableHasher::default();
        Extra { protected: true, ..Extra::default() }.hash(&mut h);
        assert_ne!(h.finish(), StableHasher::default().finish());
    }

    #[test]
    fn a_refused_create_changes_nothing_not_even_the_rng() {
        let mut k = kernel();
        let owner = caller(&k, 1, false);
        let before = k.state_hash();
        for bad in [("visibility", Value::Str("bogus".into())), ("status", Value::Str("active".into())), ("min_ram", Value::Int(-1))] {
            let attrs = vec![(bad.0.to_string(), bad.1)];
            run(&mut k, &owner, Cmd::Create(Box::new(NewImage { id: None, attrs }))).unwrap_err();
            assert_eq!(k.state_hash(), before, "refused {}", bad.0);
        }
        let img = created(&mut k, &owner, vec![]);
        assert_ne!(k.state_hash(), before);
        assert!(k.images.by_id.contains_key(&img.id));
    }

    #[test]
    fn v2_0_add_refuses_an_existing_property_and_proxy_property_commands() {
        let mut k = kernel();
        let owner = caller(&k, 1, false);
        let img = created(&mut k, &owner, vec![("a", Value::Str("1".into()))]);
        let add_new = vec![Change { op: Op::AddNew, attr: "a".into(), value: Value::Str("2".into()) }];
        let e = run(&mut k, &owner, Cmd::Update { id: img.id, changes: add_new }).unwrap_err();
        assert_eq!((e.kind, e.message()), (crate::ErrorKind::Conflict, "Property a already present."));
        let props = BTreeMap::from([("b".to_string(), "2".to_string())]);
        run(&mut k, &owner, Cmd::SetProperties { id: img.id, properties: props.clone(), replace: true }).unwrap();
        assert_eq!(k.images.by_id[&img.id].properties, props, "replace drops the rest");
        assert_eq!(run(&mut k, &owner, Cmd::RemoveProperty { id: img.id, key: "a".into() }).unwrap_err().kind, crate::ErrorKind::NotFound);
        let bad = BTreeMap::from([("status".to_string(), "x".to_string())]);
        assert_eq!(run(&mut k, &owner, Cmd::SetProperties { id: img.id, properties: bad, replace: true }).unwrap_err().kind, crate::ErrorKind::Forbidden);
        assert_eq!(k.images.by_id[&img.id].properties, props, "a refused replace changes nothing");
    }

    #[test]
    fn a_refused_patch_changes_nothing() {
        let mut k = kernel();
        let owner = caller(&k, 1, false);
        let img = created(&mut k, &owner, vec![("name", Value::Str("a".into())), ("os_distro", Value::Str("x".into()))]);
        let changes = vec![
            Change { op: Op::Replace, attr: "name".into(), value: Value::Str("b".into()) },
            Change { op: Op::Add, attr: "checksum".into(), value: Value::Str("0".into()) },
        ];
        let e = run(&mut k, &owner, Cmd::Update { id: img.id, changes }).unwrap_err();
        assert_eq!((e.kind, e.message()), (crate::ErrorKind::Forbidden, "Attribute 'checksum' is read-only."));
        assert_eq!(k.images.by_id[&img.id], img, "all or nothing");
        let other = caller(&k, 2, false);
        let e = run(&mut k, &other, Cmd::Delete { id: img.id }).unwrap_err();
        assert_eq!(e.kind, crate::ErrorKind::NotFound, "a shared image with no members is hidden from others");
    }

    #[test]
    fn only_the_member_answers_and_members_see_the_image() {
        let mut k = kernel();
        let (owner, member) = (caller(&k, 1, false), caller(&k, 2, false));
        let img = created(&mut k, &owner, vec![]);
        assert_eq!(img.visibility, "shared");
        let key = Uuid(2).simple();
        run(&mut k, &owner, Cmd::AddMember { id: img.id, member: key.clone() }).expect("offered");
        assert!(k.images.by_id[&img.id].extra.members.contains_key(&key), "keyed as given, Keystone's 32-digit form");
        assert!(visible(&k.images.by_id[&img.id], &member));
        let answer = |status| Cmd::SetMember { id: img.id, member: key.clone(), status };
        assert_eq!(run(&mut k, &owner, answer(MemberStatus::Accepted)).unwrap_err().kind, crate::ErrorKind::Forbidden);
        run(&mut k, &member, answer(MemberStatus::Accepted)).expect("the member accepts");
        assert_eq!(k.images.by_id[&img.id].extra.members[&key].status, MemberStatus::Accepted);
        assert_eq!(run(&mut k, &member, Cmd::RemoveMember { id: img.id, member: key.clone() }).unwrap_err().kind, crate::ErrorKind::Forbidden);
        run(&mut k, &owner, Cmd::RemoveMember { id: img.id, member: key }).expect("withdrawn");
        assert!(!visible(&k.images.by_id[&img.id], &member));
    }
}
