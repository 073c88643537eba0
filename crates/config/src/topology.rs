//! Topology files: parsing into [`TopologySpec`], checking that the spec expands into a usable
//! datacenter, and the embedded default topology.

use std::path::Path;

use orrery_kernel::rng::Rng;
use orrery_kernel::scheduler::ALL_FILTERS;
use orrery_kernel::topology::{Topology, TopologyError, TopologySpec};

use crate::error::lines_where;
use crate::ConfigError;

/// The text of `etc/topology.default.toml`, the topology `orrery up` models without `--topology`.
pub const DEFAULT_TOPOLOGY_TOML: &str = include_str!("../../../etc/topology.default.toml");

/// Closing sentence of every topology syntax error.
const HINT: &str = "etc/topology.example.toml shows every key with an example value.";

/// The embedded default topology: one region, two zones, two racks of eight hosts per zone.
pub fn default_topology() -> TopologySpec {
    // The embedded file is part of the program, not user input; a unit test parses it.
    parse_topology(DEFAULT_TOPOLOGY_TOML, "etc/topology.default.toml").expect("the embedded default topology is valid")
}

/// Reads and checks the topology file at `path`.
pub fn load_topology(path: &Path) -> Result<TopologySpec, ConfigError> {
    let text = crate::read(path)?;
    parse_topology(&text, &path.display().to_string())
}

/// Parses and checks topology `text`; `origin` names it in messages (usually the file path).
///
/// Checks go beyond the shape: the spec must expand (every profile exists, names are unique,
/// aggregates name real racks and hosts, there is a compute host) and scheduler filters must be
/// ones orrery knows.
pub fn parse_topology(text: &str, origin: &str) -> Result<TopologySpec, ConfigError> {
    let spec: TopologySpec = crate::parse_toml_with_hint(text, origin, HINT)?;
    check_filters(&spec, text, origin)?;
    check_scheduler(&spec, text, origin)?;
    Topology::build(&spec, &mut Rng::new(0)).map_err(|error| ConfigError::Topology { origin: origin.to_string(), line: line_of(text, &error), error })?;
    Ok(spec)
}

fn check_filters(spec: &TopologySpec, text: &str, origin: &str) -> Result<(), ConfigError> {
    let Some(bad) = spec.scheduler.filters.iter().find(|f| !ALL_FILTERS.contains(&f.as_str())) else {
        return Ok(());
    };
    Err(ConfigError::Invalid {
        origin: origin.to_string(),
        line: first(lines_where(text, |l| quotes(l, bad))),
        message: format!("scheduler filter '{bad}' is not one orrery implements; use some of: {}", ALL_FILTERS.join(", ")),
    })
}

fn check_scheduler(spec: &TopologySpec, text: &str, origin: &str) -> Result<(), ConfigError> {
    if spec.scheduler.host_subset_size >= 1 {
        return Ok(());
    }
    Err(ConfigError::Invalid {
        origin: origin.to_string(),
        line: first(lines_where(text, |l| l.trim_start().starts_with("host_subset_size"))),
        message: "scheduler host_subset_size must be at least 1; 1 always picks the best host".to_string(),
    })
}

/// The line where the name a [`TopologyError`] complains about appears, if it can be found.
fn line_of(text: &str, error: &TopologyError) -> Option<usize> {
    match error {
        TopologyError::UnknownProfile { profile, .. } => {
            first(lines_where(text, |l| l.contains("profile") && !l.contains("host_profile") && quotes(l, profile)))
        }
        TopologyError::DuplicateZone(name) | TopologyError::DuplicateRegion(name) => {
            let lines = lines_where(text, |l| l.contains("name") && quotes(l, name));
            lines.get(1).or(lines.first()).copied()
        }
        TopologyError::UnknownMember { member, .. } => first(lines_where(text, |l| quotes(l, member))),
        TopologyError::EmptyProfile(name) => {
            let header = format!("host_profile.{name}");
            first(lines_where(text, |l| l.contains(&header) || l.contains(&format!("host_profile.\"{name}\""))))
        }
        TopologyError::NoComputeHost => None,
    }
}

fn first(lines: Vec<usize>) -> Option<usize> {
    lines.first().copied()
}

/// Whether `line` holds `name` as a quoted TOML string.
fn quotes(line: &str, name: &str) -> bool {
    line.contains(&format!("\"{name}\"")) || line.contains(&format!("'{name}'"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use orrery_kernel::topology::Role;

    /// A small valid topology; tests edit one line of it.
    const SMALL: &str = r#"[host_profile.std]
vcpus = 8
ram = "32GiB"
disk = "500GiB"

[[region]]
name = "R"

[[region.zones]]
name = "z1"
racks = [{ count = 2, hosts = 3, profile = "std" }]
"#;

    fn err(text: &str) -> ConfigError {
        parse_topology(text, "etc/bad.toml").expect_err("the topology should be rejected")
    }

    #[test]
    fn default_expands_to_32_compute_hosts_in_2_zones() {
        let spec = default_topology();
        let t = Topology::build(&spec, &mut Rng::new(1)).unwrap();
        assert_eq!(t.regions.len(), 1);
        assert_eq!(t.regions[0].name, "RegionOne");
        assert_eq!(t.zones.iter().map(|z| z.name.as_str()).collect::<Vec<_>>(), ["az1", "az2"]);
        assert_eq!(t.racks.len(), 4);
        for (ri, _) in t.racks.iter().enumerate() {
            assert_eq!(t.hosts.iter().filter(|h| h.rack as usize == ri).count(), 8);
        }
        assert_eq!(t.hosts.iter().filter(|h| h.spec.role == Role::Compute).count(), 32);
        let h = &t.hosts[0].spec;
        assert_eq!((h.vcpus, h.ram, h.disk), (64, 384 * 1024, 1920));
        assert_eq!((h.power.idle_watts, h.power.max_watts), (110, 420));
        assert_eq!(spec.allocation.reserved_ram, 4096);
        assert_eq!(spec.allocation.cpu_ratio.0, 4.0);
        assert_eq!(t.hosts[0].name, "az1-r01-h01");
    }

    #[test]
    fn shipped_example_parses_and_expands() {
        let text = include_str!("../../../etc/topology.example.toml");
        let spec = parse_topology(text, "etc/topology.example.toml").unwrap_or_else(|e| panic!("{e}"));
        let t = Topology::build(&spec, &mut Rng::new(0)).unwrap();
        assert_eq!(t.regions.len(), 2);
        assert_eq!(t.zones.len(), 3);
        assert!(t.hosts.iter().any(|h| h.spec.gpus == 8));
        assert!(t.hosts.iter().any(|h| h.spec.role == Role::Storage && h.spec.data_disks.len() == 12));
        assert_eq!(t.aggregates[0].hosts.len(), 8);
        assert_eq!(spec.timing.token_ttl, orrery_kernel::Dur::secs(3600));
    }

    #[test]
    fn shipped_files_load_from_disk() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../etc");
        assert_eq!(load_topology(&root.join("topology.default.toml")).unwrap(), default_topology());
        load_topology(&root.join("topology.example.toml")).unwrap();
    }

    #[test]
    fn unknown_key_names_key_table_and_line() {
        let e = err(&SMALL.replace("disk = \"500GiB\"", "disk = \"500GiB\"\ncolour = \"red\""));
        let text = e.to_string();
        assert_eq!(e.line(), Some(5));
        assert!(text.starts_with("etc/bad.toml:5:1: unknown field `colour` in [host_profile.std], expected one of"), "{text}");
        assert!(text.contains("5 | colour = \"red\"\n  | ^^^^^^"), "{text}");
        assert!(text.ends_with(HINT), "{text}");
    }

    #[test]
    fn unknown_key_deep_in_arrays_gets_its_path() {
        let e = err(&SMALL.replace("profile = \"std\" }", "profile = \"std\", hots = 1 }"));
        assert_eq!(e.line(), Some(11));
        assert!(e.to_string().contains("unknown field `hots` in [region[0].zones[0].racks[0]]"), "{e}");
    }

    #[test]
    fn bad_unit_names_the_line_and_the_units() {
        let e = err(&SMALL.replace("\"32GiB\"", "\"12XB\""));
        assert_eq!(e.line(), Some(3));
        assert_eq!(e.key(), Some("host_profile.std.ram"));
        let text = e.to_string();
        assert!(text.starts_with("etc/bad.toml:3:7: host_profile.std.ram: unknown size unit 'XB'"), "{text}");
        assert!(text.contains("use MiB, GiB or TiB"), "{text}");
    }

    #[test]
    fn bad_duration_names_the_line() {
        let e = err(&format!("{SMALL}\n[timing]\nboot = \"8 parsecs\"\n"));
        assert_eq!(e.line(), Some(14));
        assert!(e.to_string().contains("timing.boot: unknown duration unit"), "{e}");
    }

    #[test]
    fn wrong_type_names_the_line_and_key() {
        let e = err(&SMALL.replace("hosts = 3", "hosts = \"three\""));
        assert_eq!(e.line(), Some(11));
        assert_eq!(e.key(), Some("region[0].zones[0].racks[0].hosts"));
        assert!(e.to_string().contains("invalid type: string \"three\", expected u32"), "{e}");
    }

    #[test]
    fn unknown_profile_is_named_with_its_line() {
        let e = err(&SMALL.replace("profile = \"std\"", "profile = \"big\""));
        let text = e.to_string();
        assert!(matches!(e, ConfigError::Topology { line: Some(11), .. }), "{text}");
        assert!(text.starts_with("etc/bad.toml:11: "), "{text}");
        assert!(text.contains("host profile 'big'"), "{text}");
    }

    #[test]
    fn duplicate_zone_points_at_the_second() {
        let e = err(&format!("{SMALL}\n[[region.zones]]\nname = \"z1\"\nracks = []\n"));
        assert!(matches!(e, ConfigError::Topology { line: Some(14), error: TopologyError::DuplicateZone(_), .. }), "{e}");
    }

    #[test]
    fn empty_topology_is_rejected() {
        let e = err("host_profile = {}\nregion = []\n");
        assert!(matches!(e, ConfigError::Topology { line: None, error: TopologyError::NoComputeHost, .. }), "{e}");
        assert!(err("").to_string().contains("missing field"), "an empty file needs its tables");
    }

    #[test]
    fn aggregate_with_unknown_rack_is_named() {
        let e = err(&format!("{SMALL}\n[[aggregate]]\nname = \"a\"\nracks = [\"z1-r09\"]\n"));
        assert!(matches!(e, ConfigError::Topology { line: Some(15), .. }), "{e}");
        assert!(e.to_string().contains("'z1-r09'"), "{e}");
    }

    #[test]
    fn unknown_filter_is_rejected() {
        let e = err(&format!("{SMALL}\n[scheduler]\nfilters = [\"RamFilter\"]\n"));
        assert_eq!(e.line(), Some(14));
        assert!(e.to_string().contains("scheduler filter 'RamFilter'"), "{e}");
    }

    #[test]
    fn syntax_error_has_line() {
        let e = err(&SMALL.replace("vcpus = 8", "vcpus = 8 8"));
        assert_eq!(e.line(), Some(2));
    }
}
