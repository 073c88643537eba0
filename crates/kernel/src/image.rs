//! Image catalog (Glance): built-in images, metadata only for now.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::ids::Uuid;
use crate::rng::Rng;
use crate::Time;

/// One image record.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Image {
    /// Its id.
    pub id: Uuid,
    /// Its name.
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
}

/// The image catalog.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Images {
    /// Images by id.
    pub by_id: BTreeMap<Uuid, Image>,
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
                },
            );
        }
        Images { by_id }
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

/// Whether `c` may see `img`: admins, the owner's project, and public or community images
/// (Glance's default policy).
pub fn visible(img: &Image, c: &crate::Caller) -> bool {
    let own = img.owner.is_some() && img.owner == c.project;
    c.admin || own || matches!(img.visibility.as_str(), "public" | "community")
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
