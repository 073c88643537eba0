//! Image catalog (Glance): the built-in images and the records users create, with their
//! tags, members and protection. Metadata only: image data (upload, download, import) lives in
//! the storage model, which is not built yet, so a created image stays `queued`.
//!
//! The commands are in [`cmds`]; this module holds the state and the views: who may see an
//! image, and how a member sees a shared one.

pub mod cmds;
pub mod metadefs;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::ids::Uuid;
use crate::rng::Rng;
use crate::Time;

/// One image record.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Image {
    /// Its id.
    pub id: Uuid,
    /// Its name; empty for an image created without one (Glance's `null`).
    pub name: String,
    /// Disk format (qcow2, raw, ...).
    pub disk_format: String,
    /// Container format (bare, ...).
    pub container_format: String,
    /// Size in bytes.
    pub size: u64,
    /// Minimum disk in GiB a flavor needs to boot it.
    pub min_disk: u64,
    /// Minimum RAM in MiB a flavor needs to boot it.
    pub min_ram: u64,
    /// public, private, shared or community.
    pub visibility: String,
    /// Owning project, if any.
    pub owner: Option<Uuid>,
    /// queued, active, ...
    pub status: String,
    /// Free-form properties such as `hw_architecture` and `os_distro`.
    pub properties: BTreeMap<String, String>,
    /// MD5 of the content (Glance's `checksum`).
    pub checksum: String,
    /// When it was created.
    pub created_at: Time,
    /// When it last changed.
    pub updated_at: Time,
    /// Tags, protection, hiding and members: what only user-made changes set. Left out of
    /// snapshots and hashed as nothing while empty, so catalogs from before it keep their hash.
    #[serde(default, skip_serializing_if = "Extra::is_empty")]
    pub extra: Extra,
}

/// What Glance keeps on an image beyond its core record.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Extra {
    /// Tags, as a set (Glance keeps them unique).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub tags: BTreeSet<String>,
    /// A protected image cannot be deleted.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub protected: bool,
    /// Hidden images are left out of default listings (`os_hidden`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub hidden: bool,
    /// Projects a shared image is offered to, by project id (as given: Glance does not check it).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub members: BTreeMap<String, Member>,
}

impl Extra {
    /// Whether nothing is set.
    pub fn is_empty(&self) -> bool {
        *self == Extra::default()
    }
}

impl std::hash::Hash for Extra {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        if !self.is_empty() {
            self.tags.hash(h);
            self.protected.hash(h);
            self.hidden.hash(h);
            self.members.hash(h);
        }
    }
}

/// Where a member stands with a shared image.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MemberStatus {
    /// Offered, not yet answered: the image is visible by id but not listed.
    Pending,
    /// Accepted: listed with the member's images.
    Accepted,
    /// Rejected: visible by id only.
    Rejected,
}

impl MemberStatus {
    /// Glance's name for it.
    pub fn name(self) -> &'static str {
        match self {
            MemberStatus::Pending => "pending",
            MemberStatus::Accepted => "accepted",
            MemberStatus::Rejected => "rejected",
        }
    }

    /// Parses Glance's name.
    pub fn parse(s: &str) -> Option<MemberStatus> {
        [MemberStatus::Pending, MemberStatus::Accepted, MemberStatus::Rejected].into_iter().find(|m| m.name() == s)
    }
}

/// One project's membership of a shared image.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Member {
    /// Its status.
    pub status: MemberStatus,
    /// When the image was offered.
    pub created_at: Time,
    /// When the status last changed.
    pub updated_at: Time,
}

/// The image catalog.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Images {
    /// Images by id.
    pub by_id: BTreeMap<Uuid, Image>,
    /// The metadata definitions catalog (hashed as nothing while empty).
    #[serde(default, skip_serializing_if = "metadefs::Metadefs::is_empty")]
    pub metadefs: metadefs::Metadefs,
}

/// (name, size in bytes, min disk GiB, min RAM MiB, os_distro, os_version, checksum)
const BUILTIN: &[(&str, u64, u64, u64, &str, &str, &str)] = &[
    ("cirros-0.6", 21_692_416, 1, 64, "cirros", "0.6.2", "c8fc807773e5354afe61636071771906"),
    ("ubuntu-24.04", 600_834_560, 5, 512, "ubuntu", "24.04", "f03cd0ae1a1c5c0ea0b3c5b0e8c6bd2d"),
    ("debian-12", 340_525_056, 3, 512, "debian", "12", "3f2a7fa3a0b53b2fbb0bd6e1cbbdb0bd"),
];

impl Images {
    /// The built-in catalog every new cloud starts with.
    pub fn builtin(rng: &mut Rng, now: Time) -> Images {
        let mut by_id = BTreeMap::new();
        for &(name, size, min_disk, min_ram, distro, version, checksum) in BUILTIN {
            let id = rng.uuid();
            let properties = BTreeMap::from([
                ("hw_architecture".to_string(), "x86_64".to_string()),
                ("os_distro".to_string(), distro.to_string()),
                ("os_version".to_string(), version.to_string()),
            ]);
            by_id.insert(
                id,
                Image {
                    id,
                    name: name.into(),
                    disk_format: "qcow2".into(),
                    container_format: "bare".into(),
                    size,
                    min_disk,
                    min_ram,
                    visibility: "public".into(),
                    owner: None,
                    status: "active".into(),
                    properties,
                    checksum: checksum.into(),
                    created_at: now,
                    updated_at: now,
                    extra: Extra::default(),
                },
            );
        }
        Images { by_id, metadefs: Default::default() }
    }

    /// Finds an image by id, or by name when exactly one image has it.
    pub fn find(&self, id_or_name: &str) -> Option<&Image> {
        if let Ok(id) = id_or_name.parse::<Uuid>() {
            return self.by_id.get(&id);
        }
        let mut hits = self.by_id.values().filter(|i| i.name == id_or_name);
        match (hits.next(), hits.next()) {
            (Some(i), None) => Some(i),
            _ => None,
        }
    }
}

/// Whether `c`'s project owns `img`.
pub fn owns(img: &Image, c: &crate::Caller) -> bool {
    img.owner.is_some() && img.owner == c.project
}

/// `c`'s membership of a shared image, if its project is a member.
pub fn membership<'a>(img: &'a Image, c: &crate::Caller) -> Option<&'a Member> {
    let project = c.project?;
    (img.visibility == "shared").then(|| img.extra.members.get(&project.simple())).flatten()
}

/// Whether `c` may see `img`: admins, the owner's project, public and community images, and
/// members of a shared image whatever their status (Glance's default policy).
pub fn visible(img: &Image, c: &crate::Caller) -> bool {
    c.admin || owns(img, c) || matches!(img.visibility.as_str(), "public" | "community") || membership(img, c).is_some()
}

/// What an image listing asks for besides field filters (Glance's list parameters).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listing {
    /// `visibility`: None for Glance's default (everything but community images of other
    /// projects), `all`, or one visibility.
    pub visibility: Option<String>,
    /// `member_status` for shared images the caller is a member of: None for all.
    pub member_status: Option<MemberStatus>,
    /// `os_hidden`: hidden images only, or (the default) visible ones only.
    pub hidden: bool,
}

impl Default for Listing {
    /// Glance's default listing: accepted shares, no hidden images.
    fn default() -> Listing {
        Listing { visibility: None, member_status: Some(MemberStatus::Accepted), hidden: false }
    }
}

/// Whether `img` is in `c`'s listing `l` (Glance's rules): it must be visible to `c`; by
/// default community images show only to their own project; a member lists a shared image
/// whose offer has the asked status (by default, accepted ones); hidden images show only when
/// asked for.
pub fn listed(img: &Image, c: &crate::Caller, l: &Listing) -> bool {
    let vis_ok = match l.visibility.as_deref() {
        None => img.visibility != "community" || owns(img, c),
        Some("all") => true,
        Some(v) => img.visibility == v,
    };
    let member_ok = match (membership(img, c), l.member_status) {
        (Some(m), Some(want)) => owns(img, c) || m.status == want,
        _ => true,
    };
    visible(img, c) && vis_ok && member_ok && img.extra.hidden == l.hidden
}

/// What a download of `img` finds: Glance's 403 for a deactivated image, `None` for one with
/// no data yet (queued: Glance answers 204), else the image, whose data is not stored yet.
pub fn download(k: &crate::Kernel, c: &crate::Caller, id: &str) -> crate::Result<Option<Image>> {
    let img = image(k, c, id)?;
    match img.status.as_str() {
        "queued" => Ok(None),
        "deactivated" => Err(crate::Error::forbidden("image.forbidden", "The requested image has been deactivated. Image data download is forbidden.".into())),
        _ => Ok(Some(img)),
    }
}

/// The images `c` may see, in id order; listing filters and sorting apply on top.
pub fn visible_images<'a>(k: &'a crate::Kernel, c: &'a crate::Caller) -> impl Iterator<Item = &'a Image> + 'a {
    k.images.by_id.values().filter(move |i| visible(i, c))
}

/// One image `c` may see; Glance's 404 for an image that does not exist or is not visible.
pub fn image(k: &crate::Kernel, c: &crate::Caller, id: &str) -> crate::Result<Image> {
    let found = id.parse::<Uuid>().ok().and_then(|u| k.images.by_id.get(&u)).filter(|i| visible(i, c));
    found.cloned().ok_or_else(|| crate::Error::not_found("image.not_found", format!("No image found with ID {id}")))
}

/// The memberships of an image `c` may see: all of them for its owner (or an admin), only its
/// own for a member; Glance's 403 for anyone else, and 404 for an image not visible.
pub fn members(k: &crate::Kernel, c: &crate::Caller, id: &str) -> crate::Result<Vec<(String, Member)>> {
    let img = image(k, c, id)?;
    if img.visibility != "shared" {
        return Err(crate::Error::forbidden("image.forbidden", format!("Only shared images have members; image {id} is {}.", img.visibility)));
    }
    let mine = c.project.map(|p| p.simple());
    let all = c.admin || owns(&img, c);
    Ok(img.extra.members.into_iter().filter(|(m, _)| all || Some(m) == mine.as_ref()).collect())
}

/// One membership `c` may see; Glance's 404 when there is none to see (a missing member, or
/// an image that is not shared).
pub fn member(k: &crate::Kernel, c: &crate::Caller, id: &str, member: &str) -> crate::Result<Member> {
    let none = || crate::Error::not_found("image.not_found", format!("Member {member} not found for image {id}."));
    let all = members(k, c, id).map_err(|e| if e.kind == crate::ErrorKind::Forbidden { none() } else { e })?;
    all.into_iter().find(|(m, _)| m == member).map(|(_, m)| m).ok_or_else(none)
}
