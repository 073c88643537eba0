//! Nova's registry of known flavor extra specs, and the check that microversion 2.86 applies
//! with it to `os-extra_specs` writes.
//!
//! A key whose namespace (the text before its first `:`) is one Nova registers specs in must
//! name one of them, and its value must fit that spec's [`Rule`]. Keys in other namespaces
//! (`custom:foo`), and keys without one that Nova does not register (`foo`), pass unchanged.
//!
//! The table follows Nova's `nova/api/validation/extra_specs` package: trait names are those of
//! os-traits 3.9.0 and resource classes those of os-resource-classes 1.1.0. Values are read as
//! Nova's Python reads them: integers as `int()` does (sign, surrounding spaces, `1_000`),
//! booleans as oslo's strict `bool_from_string`, patterns as a full match of Nova's regex (each
//! matched here by hand; the regex text is only quoted in the error). Python's `\d` and `int()`
//! also take non-ASCII decimal digits; these matchers take ASCII digits only.
//!
//! Lookup is a binary search of the literal names, then patterned names tried only within the
//! key's own namespace.

use std::cmp::Ordering;
use std::fmt;

/// What a known extra spec's value must be.
#[derive(Debug, Clone, Copy)]
pub enum Rule {
    /// Any text.
    Any,
    /// One of these strings, listed in Nova's order (its message lists them so).
    OneOf(&'static [&'static str]),
    /// An integer as Python's `int()` reads it, within the bounds present.
    Int {
        /// The least value allowed.
        min: Option<i64>,
        /// The greatest value allowed.
        max: Option<i64>,
    },
    /// A boolean-like word: `1`/`0`, `t`/`f`, `true`/`false`, `on`/`off`, `y`/`n`, `yes`/`no`,
    /// in any case and with surrounding spaces.
    Bool,
    /// Text that matches the pattern as a whole.
    Matches(&'static Pattern),
}

/// A value pattern: Nova's regex, quoted in the error, and a matcher for the same language.
#[derive(Debug)]
pub struct Pattern {
    /// The regex as Nova writes it.
    pub regex: &'static str,
    /// Whether a whole value matches [`Pattern::regex`].
    pub matches: fn(&str) -> bool,
}

/// Why microversion 2.86 refuses an extra spec; its `Display` is Nova's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invalid {
    /// The key is in a namespace Nova knows but names no spec there.
    UnknownKey(String),
    /// The value is not one of the spec's choices.
    NotOneOf {
        /// The value given.
        value: String,
        /// The choices, in Nova's order.
        choices: &'static [&'static str],
    },
    /// The value does not match the spec's pattern.
    NotMatching {
        /// The value given.
        value: String,
        /// Nova's regex for the value.
        regex: &'static str,
    },
    /// The value is not an integer.
    NotInteger(String),
    /// The integer (in Python's canonical form) is above the spec's maximum.
    AboveMax {
        /// The integer, as Python prints it.
        value: String,
        /// The maximum.
        max: i64,
    },
    /// The integer (in Python's canonical form) is below the spec's minimum.
    BelowMin {
        /// The integer, as Python prints it.
        value: String,
        /// The minimum.
        min: i64,
    },
    /// The value is not a boolean-like word.
    NotBool(String),
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Validation failed; ")?;
        match self {
            Invalid::UnknownKey(key) => write!(f, "extra spec '{key}' does not appear to be a valid extra spec."),
            Invalid::NotOneOf { value, choices } => write!(f, "'{value}' is not one of: {}.", choices.join(", ")),
            Invalid::NotMatching { value, regex } => write!(f, "'{value}' is not of the format '{regex}'."),
            Invalid::NotInteger(value) => write!(f, "'{value}' is not a valid integer value."),
            Invalid::AboveMax { value, max } => write!(f, "'{value}' is greater than the max value of '{max}'."),
            Invalid::BelowMin { value, min } => write!(f, "'{value}' is less than the min value of '{min}'."),
            Invalid::NotBool(value) => write!(f, "'{value}' is not a valid boolean-like value."),
        }
    }
}

impl std::error::Error for Invalid {}

/// Checks one extra spec as Nova does from microversion 2.86.
pub fn validate(key: &str, value: &str) -> Result<(), Invalid> {
    match rule(key) {
        Some(rule) => rule.check(value),
        None if known_namespace(key) => Err(Invalid::UnknownKey(key.to_string())),
        None => Ok(()),
    }
}

/// The rule for `key`, or `None` when Nova registers no spec of that name.
pub fn rule(key: &str) -> Option<Rule> {
    match KNOWN.binary_search_by(|(name, _)| name.cmp(&key)) {
        Ok(i) => Some(KNOWN[i].1),
        Err(_) => patterned(key),
    }
}

/// Whether `key` has a namespace Nova registers specs in (`hw`, `resources1`, `trait_a`, …).
pub fn known_namespace(key: &str) -> bool {
    key.split_once(':').is_some_and(|(ns, _)| NAMESPACES.contains(&ns) || grouped(ns, "resources") || grouped(ns, "trait"))
}

impl Rule {
    /// Checks `value` against this rule.
    pub fn check(&self, value: &str) -> Result<(), Invalid> {
        match *self {
            Rule::Any => Ok(()),
            Rule::OneOf(choices) if choices.contains(&value) => Ok(()),
            Rule::OneOf(choices) => Err(Invalid::NotOneOf { value: value.to_string(), choices }),
            Rule::Int { min, max } => {
                let n = PyInt::parse(value).ok_or_else(|| Invalid::NotInteger(value.to_string()))?;
                if let Some(max) = max.filter(|&m| n.cmp_i64(m) == Ordering::Greater) {
                    return Err(Invalid::AboveMax { value: n.to_string(), max });
                }
                if let Some(min) = min.filter(|&m| n.cmp_i64(m) == Ordering::Less) {
                    return Err(Invalid::BelowMin { value: n.to_string(), min });
                }
                Ok(())
            }
            Rule::Bool => {
                let word = value.trim_matches(py_space).to_lowercase();
                let known = ["1", "t", "true", "on", "y", "yes", "0", "f", "false", "off", "n", "no"].contains(&word.as_str());
                if known {
                    Ok(())
                } else {
                    Err(Invalid::NotBool(value.to_string()))
                }
            }
            Rule::Matches(p) if (p.matches)(value) => Ok(()),
            Rule::Matches(p) => Err(Invalid::NotMatching { value: value.to_string(), regex: p.regex }),
        }
    }
}

/// An integer as Python's `int()` reads it: a sign and canonical digits, of any size.
struct PyInt {
    negative: bool,
    digits: String,
}

impl PyInt {
    /// Reads `text` as `int(text)` would, or `None` where Python raises `ValueError`.
    fn parse(text: &str) -> Option<PyInt> {
        let t = text.trim_matches(py_space);
        let (negative, body) = match t.as_bytes().first() {
            Some(b'-') => (true, &t[1..]),
            Some(b'+') => (false, &t[1..]),
            _ => (false, t),
        };
        let mut digits = String::new();
        let mut after_underscore = true;
        for c in body.chars() {
            match c {
                '0'..='9' => {
                    after_underscore = false;
                    if !(digits.is_empty() && c == '0') {
                        digits.push(c);
                    }
                }
                '_' if !after_underscore => after_underscore = true,
                _ => return None,
            }
        }
        if body.is_empty() || after_underscore {
            return None;
        }
        if digits.is_empty() {
            return Some(PyInt { negative: false, digits: "0".into() });
        }
        Some(PyInt { negative, digits })
    }

    /// Compares with `bound`; magnitudes too long for `i128` lie beyond any `i64`.
    fn cmp_i64(&self, bound: i64) -> Ordering {
        match self.digits.parse::<i128>() {
            Ok(m) => (if self.negative { -m } else { m }).cmp(&i128::from(bound)),
            Err(_) if self.negative => Ordering::Less,
            Err(_) => Ordering::Greater,
        }
    }
}

impl fmt::Display for PyInt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", if self.negative { "-" } else { "" }, self.digits)
    }
}

/// Python's `str.isspace`, which `strip()`, `int()` and the regex `\s` use.
fn py_space(c: char) -> bool {
    c.is_whitespace() || ('\x1c'..='\x1f').contains(&c)
}

/// `\d+`, for ASCII digits.
fn digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// Skips leading ASCII digits; `None` if there are none.
fn skip_digits(s: &str) -> Option<&str> {
    let rest = s.trim_start_matches(|c: char| c.is_ascii_digit());
    (rest.len() < s.len()).then_some(rest)
}

/// A CPU set such as `0-3,^2,5`: `\^?\d+((-\d+)?(,\^?\d+(-\d+)?)?)*`, which comes to a first
/// number and then any run of `-N` and `,N` / `,^N` pieces.
fn cpu_set(s: &str) -> bool {
    let Some(mut rest) = skip_digits(s.strip_prefix('^').unwrap_or(s)) else { return false };
    while !rest.is_empty() {
        let next = if let Some(r) = rest.strip_prefix('-') {
            r
        } else if let Some(r) = rest.strip_prefix(',') {
            r.strip_prefix('^').unwrap_or(r)
        } else {
            return false;
        };
        match skip_digits(next) {
            Some(r) => rest = r,
            None => return false,
        }
    }
    true
}

/// A page size: `large`, `small`, `any`, or digits with an optional unit (`k`, `K`, `M`, `G`,
/// `T`, then optionally `i`) and an optional `b`, `bit` or `B`.
fn page_size(s: &str) -> bool {
    if ["large", "small", "any"].contains(&s) {
        return true;
    }
    let Some(mut rest) = skip_digits(s) else { return false };
    if let Some(r) = rest.strip_prefix(['k', 'K', 'M', 'G', 'T']) {
        rest = r.strip_prefix('i').unwrap_or(r);
    }
    ["", "b", "bit", "B"].contains(&rest)
}

/// `([a-zA-Z0-9_]+(,)?)+`: word characters and commas, starting with a word character and
/// never two commas in a row.
fn pmem_labels(s: &str) -> bool {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    s.starts_with(word) && !s.contains(",,") && s.chars().all(|c| word(c) || c == ',')
}

/// `[^:]+:\d+(?:\s*,\s*[^:]+:\d+)*`. Split at the colons: the first piece is not empty, the
/// last is a count, and each piece between is a count, spaces, a comma and a non-empty name.
fn pci_aliases(s: &str) -> bool {
    let pieces: Vec<&str> = s.split(':').collect();
    let [first, middle @ .., last] = pieces.as_slice() else { return false };
    let joined = |p: &&str| skip_digits(p).map(|r| r.trim_start_matches(py_space)).and_then(|r| r.strip_prefix(',')).is_some_and(|r| !r.is_empty());
    !first.is_empty() && digits(last) && middle.iter().all(joined)
}

/// The namespaces of Nova's literal spec names; `resources` and `trait` take a group suffix.
const NAMESPACES: &[&str] =
    &["accel", "aggregate_instance_extra_specs", "capabilities", "hw", "hw_rng", "hw_video", "os", "pci_passthrough", "quota", "vmware"];

/// Whether `ns` is `base` followed by an optional request group of 1 to 64 of
/// `[a-zA-Z0-9_-]` (`resources`, `resources1`, `trait_gpu`).
fn grouped(ns: &str, base: &str) -> bool {
    ns.strip_prefix(base).is_some_and(|g| g.len() <= 64 && g.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'))
}

/// The rule of a key whose name Nova writes with a parameter, tried in the key's namespace only.
fn patterned(key: &str) -> Option<Rule> {
    let (ns, rest) = key.split_once(':')?;
    match ns {
        "hw" => numa_node(rest),
        "capabilities" => NESTED_CAPABILITIES.iter().any(|c| rest.strip_prefix(c).is_some_and(capability_filter)).then_some(ANY),
        // `aggregate_instance_extra_specs:{key}`, with a key of `.+`.
        "aggregate_instance_extra_specs" => (!rest.is_empty() && !rest.contains('\n')).then_some(ANY),
        _ if grouped(ns, "resources") => (RESOURCE_CLASSES.contains(&rest) || custom(rest)).then_some(INT),
        _ if grouped(ns, "trait") => (TRAITS.binary_search(&rest).is_ok() || custom(rest)).then_some(TRAIT_USE),
        _ => None,
    }
}

/// `hw:numa_cpus.{num}` and `hw:numa_mem.{num}`. Nova's name regex leaves the `.` unescaped,
/// so any one character but a newline stands before the node number.
fn numa_node(rest: &str) -> Option<Rule> {
    let (tail, rule) = match (rest.strip_prefix("numa_cpus"), rest.strip_prefix("numa_mem")) {
        (Some(t), _) => (t, Rule::Matches(&CPU_SET)),
        (_, Some(t)) => (t, POSITIVE),
        _ => return None,
    };
    let mut chars = tail.chars();
    let dot = chars.next()?;
    (dot != '\n' && digits(chars.as_str())).then_some(rule)
}

/// The optional filter after a nested capability: `(:\w+)*`.
fn capability_filter(filter: &str) -> bool {
    filter.is_empty() || filter.strip_prefix(':').is_some_and(|f| f.split(':').all(|w| !w.is_empty() && w.chars().all(|c| c.is_alphanumeric() || c == '_')))
}

/// `CUSTOM_` and then `[A-Z0-9_]+`: an operator's own resource class or trait.
fn custom(name: &str) -> bool {
    name.strip_prefix("CUSTOM_").is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_'))
}

const ANY: Rule = Rule::Any;
const BOOL: Rule = Rule::Bool;
const INT: Rule = Rule::Int { min: None, max: None };
const NON_NEGATIVE: Rule = Rule::Int { min: Some(0), max: None };
const POSITIVE: Rule = Rule::Int { min: Some(1), max: None };
const SHARES_LEVEL: Rule = Rule::OneOf(&["custom", "high", "normal", "low"]);
const TRAIT_USE: Rule = Rule::OneOf(&["required", "forbidden"]);

/// `hw:cpu_dedicated_mask` and `hw:numa_cpus.{num}`.
static CPU_SET: Pattern = Pattern { regex: r"\^?\d+((-\d+)?(,\^?\d+(-\d+)?)?)*", matches: cpu_set };
/// `hw:cpu_realtime_mask`: the same language, written with a group.
static REALTIME_MASK: Pattern = Pattern { regex: r"(\^)?\d+((-\d+)?(,\^?\d+(-\d+)?)?)*", matches: cpu_set };
static PAGE_SIZE: Pattern = Pattern { regex: r"(large|small|any|\d+([kKMGT]i?)?(b|bit|B)?)", matches: page_size };
static PMEM: Pattern = Pattern { regex: r"([a-zA-Z0-9_]+(,)?)+", matches: pmem_labels };
static PCI_ALIAS: Pattern = Pattern { regex: r"[^:]+:\d+(?:\s*,\s*[^:]+:\d+)*", matches: pci_aliases };

/// Every spec Nova names without a parameter, sorted by name (a test keeps it so).
static KNOWN: &[(&str, Rule)] = &[
    ("accel:device_profile", ANY),
    ("capabilities:aggregates", ANY),
    ("capabilities:cell_uuid", ANY),
    ("capabilities:cpu_allocation_ratio", ANY),
    ("capabilities:current_workload", ANY),
    ("capabilities:disk_allocation_ratio", ANY),
    ("capabilities:disk_available_least", ANY),
    ("capabilities:disk_mb_used", ANY),
    ("capabilities:failed_builds", ANY),
    ("capabilities:free_disk_gb", ANY),
    ("capabilities:free_disk_mb", ANY),
    ("capabilities:free_ram_mb", ANY),
    ("capabilities:host", ANY),
    ("capabilities:host_ip", ANY),
    ("capabilities:hypervisor_hostname", ANY),
    ("capabilities:hypervisor_type", ANY),
    ("capabilities:hypervisor_version", ANY),
    ("capabilities:id", ANY),
    ("capabilities:local_gb", ANY),
    ("capabilities:local_gb_used", ANY),
    ("capabilities:mapped", ANY),
    ("capabilities:memory_mb", ANY),
    ("capabilities:memory_mb_used", ANY),
    ("capabilities:num_instances", ANY),
    ("capabilities:num_io_ops", ANY),
    ("capabilities:ram_allocation_ratio", ANY),
    ("capabilities:running_vms", ANY),
    ("capabilities:service_id", ANY),
    ("capabilities:total_usable_disk_gb", ANY),
    ("capabilities:total_usable_ram_mb", ANY),
    ("capabilities:updated", ANY),
    ("capabilities:uuid", ANY),
    ("capabilities:vcpus", ANY),
    ("capabilities:vcpus_total", ANY),
    ("capabilities:vcpus_used", ANY),
    ("group_policy", Rule::OneOf(&["isolate", "none"])),
    ("hide_hypervisor_id", BOOL),
    ("hw:boot_menu", BOOL),
    ("hw:cpu_cores", POSITIVE),
    ("hw:cpu_dedicated_mask", Rule::Matches(&CPU_SET)),
    ("hw:cpu_max_cores", POSITIVE),
    ("hw:cpu_max_sockets", POSITIVE),
    ("hw:cpu_max_threads", POSITIVE),
    ("hw:cpu_policy", Rule::OneOf(&["dedicated", "shared", "mixed"])),
    ("hw:cpu_realtime", BOOL),
    ("hw:cpu_realtime_mask", Rule::Matches(&REALTIME_MASK)),
    ("hw:cpu_sockets", POSITIVE),
    ("hw:cpu_thread_policy", Rule::OneOf(&["prefer", "isolate", "require"])),
    ("hw:cpu_threads", POSITIVE),
    ("hw:emulator_threads_policy", Rule::OneOf(&["isolate", "share"])),
    ("hw:ephemeral_encryption", BOOL),
    ("hw:ephemeral_encryption_format", Rule::OneOf(&["plain", "luks", "luksv2"])),
    ("hw:hide_hypervisor_id", BOOL),
    ("hw:locked_memory", BOOL),
    ("hw:mem_encryption", BOOL),
    ("hw:mem_encryption_model", Rule::OneOf(&["amd-sev", "amd-sev-es", "amd-sev-snp"])),
    ("hw:mem_page_size", Rule::Matches(&PAGE_SIZE)),
    ("hw:numa_nodes", POSITIVE),
    ("hw:pci_numa_affinity_policy", Rule::OneOf(&["required", "preferred", "legacy", "socket"])),
    ("hw:pmem", Rule::Matches(&PMEM)),
    ("hw:pmu", BOOL),
    ("hw:redirected_usb_ports", Rule::Int { min: Some(0), max: Some(15) }),
    ("hw:serial_port_count", NON_NEGATIVE),
    ("hw:sound_model", Rule::OneOf(&["sb16", "es1370", "pcspk", "ac97", "ich6", "ich9", "usb", "virtio"])),
    ("hw:tpm_model", Rule::OneOf(&["tpm-tis", "tpm-crb"])),
    ("hw:tpm_secret_security", Rule::OneOf(&["user", "host", "deployment"])),
    ("hw:tpm_version", Rule::OneOf(&["1.2", "2.0"])),
    ("hw:usb_model", Rule::OneOf(&["none", "nec-xhci", "qemu-xhci"])),
    ("hw:vif_multiqueue_enabled", BOOL),
    ("hw:viommu_model", Rule::OneOf(&["intel", "smmuv3", "virtio", "auto"])),
    ("hw:virtio_packed_ring", BOOL),
    ("hw:watchdog_action", Rule::OneOf(&["none", "pause", "poweroff", "reset", "disabled"])),
    ("hw_rng:allowed", BOOL),
    ("hw_rng:rate_bytes", NON_NEGATIVE),
    ("hw_rng:rate_period", NON_NEGATIVE),
    ("hw_video:ram_max_mb", NON_NEGATIVE),
    ("os:secure_boot", Rule::OneOf(&["disabled", "required"])),
    ("pci_passthrough:alias", Rule::Matches(&PCI_ALIAS)),
    ("quota:cpu_limit", NON_NEGATIVE),
    ("quota:cpu_period", NON_NEGATIVE),
    ("quota:cpu_quota", INT),
    ("quota:cpu_reservation", INT),
    ("quota:cpu_shares", NON_NEGATIVE),
    ("quota:cpu_shares_level", SHARES_LEVEL),
    ("quota:cpu_shares_share", NON_NEGATIVE),
    ("quota:disk_io_limit", NON_NEGATIVE),
    ("quota:disk_io_reservation", INT),
    ("quota:disk_io_shares_level", SHARES_LEVEL),
    ("quota:disk_io_shares_share", NON_NEGATIVE),
    ("quota:disk_read_bytes_sec", NON_NEGATIVE),
    ("quota:disk_read_iops_sec", NON_NEGATIVE),
    ("quota:disk_total_bytes_sec", NON_NEGATIVE),
    ("quota:disk_total_iops_sec", NON_NEGATIVE),
    ("quota:disk_write_bytes_sec", NON_NEGATIVE),
    ("quota:disk_write_iops_sec", NON_NEGATIVE),
    ("quota:memory_limit", NON_NEGATIVE),
    ("quota:memory_reservation", INT),
    ("quota:memory_shares_level", SHARES_LEVEL),
    ("quota:memory_shares_share", NON_NEGATIVE),
    ("quota:vif_inbound_average", NON_NEGATIVE),
    ("quota:vif_inbound_burst", NON_NEGATIVE),
    ("quota:vif_inbound_peak", NON_NEGATIVE),
    ("quota:vif_limit", NON_NEGATIVE),
    ("quota:vif_outbound_average", NON_NEGATIVE),
    ("quota:vif_outbound_burst", NON_NEGATIVE),
    ("quota:vif_outbound_peak", NON_NEGATIVE),
    ("quota:vif_reservation", INT),
    ("quota:vif_shares_level", SHARES_LEVEL),
    ("quota:vif_shares_share", NON_NEGATIVE),
    ("vmware:hw_version", ANY),
    ("vmware:storage_policy", ANY),
];

/// Capabilities that take a `:`-separated filter after them (`capabilities:stats:foo`).
const NESTED_CAPABILITIES: &[&str] = &[
    "cpu_info",
    "metrics",
    "stats",
    "numa_topology",
    "supported_hv_specs",
    "pci_device_pools",
    "nodename",
    "pci_stats",
    "supported_instances",
    "limits",
    "instances",
];

/// The standard resource classes (os-resource-classes 1.1.0), each `resources{group}:{class}`.
const RESOURCE_CLASSES: &[&str] = &[
    "VCPU",
    "MEMORY_MB",
    "DISK_GB",
    "PCI_DEVICE",
    "SRIOV_NET_VF",
    "NUMA_SOCKET",
    "NUMA_CORE",
    "NUMA_THREAD",
    "NUMA_MEMORY_MB",
    "IPV4_ADDRESS",
    "VGPU",
    "VGPU_DISPLAY_HEAD",
    "NET_BW_EGR_KILOBIT_PER_SEC",
    "NET_BW_IGR_KILOBIT_PER_SEC",
    "PCPU",
    "MEM_ENCRYPTION_CONTEXT",
    "FPGA",
    "PGPU",
    "NET_PACKET_RATE_KILOPACKET_PER_SEC",
    "NET_PACKET_RATE_EGR_KILOPACKET_PER_SEC",
    "NET_PACKET_RATE_IGR_KILOPACKET_PER_SEC",
];

/// The standard traits (os-traits 3.9.0), sorted, each `trait{group}:{name}`.
#[rustfmt::skip]
static TRAITS: &[&str] = &[
    "COMPUTE_ACCELERATORS", "COMPUTE_ADDRESS_SPACE_EMULATED", "COMPUTE_ADDRESS_SPACE_PASSTHROUGH", "COMPUTE_ARCH_AARCH64", "COMPUTE_ARCH_MIPSEL",
    "COMPUTE_ARCH_PPC64LE", "COMPUTE_ARCH_RISCV64", "COMPUTE_ARCH_S390X", "COMPUTE_ARCH_X86_64", "COMPUTE_CONFIG_DRIVE_REGENERATION",
    "COMPUTE_DEVICE_TAGGING", "COMPUTE_EPHEMERAL_ENCRYPTION", "COMPUTE_EPHEMERAL_ENCRYPTION_LUKS", "COMPUTE_EPHEMERAL_ENCRYPTION_LUKSV2",
    "COMPUTE_EPHEMERAL_ENCRYPTION_PLAIN", "COMPUTE_FIRMWARE_BIOS", "COMPUTE_FIRMWARE_UEFI", "COMPUTE_GRAPHICS_MODEL_BOCHS",
    "COMPUTE_GRAPHICS_MODEL_CIRRUS", "COMPUTE_GRAPHICS_MODEL_GOP", "COMPUTE_GRAPHICS_MODEL_NONE", "COMPUTE_GRAPHICS_MODEL_QXL",
    "COMPUTE_GRAPHICS_MODEL_VGA", "COMPUTE_GRAPHICS_MODEL_VIRTIO", "COMPUTE_GRAPHICS_MODEL_VMVGA", "COMPUTE_GRAPHICS_MODEL_XEN",
    "COMPUTE_IMAGE_TYPE_AKI", "COMPUTE_IMAGE_TYPE_AMI", "COMPUTE_IMAGE_TYPE_ARI", "COMPUTE_IMAGE_TYPE_ISO", "COMPUTE_IMAGE_TYPE_PLOOP",
    "COMPUTE_IMAGE_TYPE_QCOW2", "COMPUTE_IMAGE_TYPE_RAW", "COMPUTE_IMAGE_TYPE_VDI", "COMPUTE_IMAGE_TYPE_VHD", "COMPUTE_IMAGE_TYPE_VHDX",
    "COMPUTE_IMAGE_TYPE_VMDK", "COMPUTE_MANAGED_PCI_DEVICE", "COMPUTE_MEM_BACKING_FILE", "COMPUTE_MIGRATE_AUTO_CONVERGE", "COMPUTE_MIGRATE_POST_COPY",
    "COMPUTE_NET_ATTACH_INTERFACE", "COMPUTE_NET_ATTACH_INTERFACE_WITH_TAG", "COMPUTE_NET_VIF_MODEL_E1000", "COMPUTE_NET_VIF_MODEL_E1000E",
    "COMPUTE_NET_VIF_MODEL_IGB", "COMPUTE_NET_VIF_MODEL_LAN9118", "COMPUTE_NET_VIF_MODEL_NE2K_PCI", "COMPUTE_NET_VIF_MODEL_NETFRONT",
    "COMPUTE_NET_VIF_MODEL_PCNET", "COMPUTE_NET_VIF_MODEL_RTL8139", "COMPUTE_NET_VIF_MODEL_SPAPR_VLAN", "COMPUTE_NET_VIF_MODEL_SRIOV",
    "COMPUTE_NET_VIF_MODEL_VIRTIO", "COMPUTE_NET_VIF_MODEL_VMXNET", "COMPUTE_NET_VIF_MODEL_VMXNET3", "COMPUTE_NET_VIRTIO_PACKED", "COMPUTE_NODE",
    "COMPUTE_REMOTE_MANAGED_PORTS", "COMPUTE_RESCUE_BFV", "COMPUTE_SAME_HOST_COLD_MIGRATE", "COMPUTE_SECURITY_STATELESS_FIRMWARE",
    "COMPUTE_SECURITY_TPM_1_2", "COMPUTE_SECURITY_TPM_2_0", "COMPUTE_SECURITY_TPM_CRB", "COMPUTE_SECURITY_TPM_SECRET_SECURITY_DEPLOYMENT",
    "COMPUTE_SECURITY_TPM_SECRET_SECURITY_HOST", "COMPUTE_SECURITY_TPM_SECRET_SECURITY_USER", "COMPUTE_SECURITY_TPM_TIS",
    "COMPUTE_SECURITY_UEFI_SECURE_BOOT", "COMPUTE_SHARE_LOCAL_FS", "COMPUTE_SOCKET_PCI_NUMA_AFFINITY", "COMPUTE_SOUND_MODEL_AC97",
    "COMPUTE_SOUND_MODEL_ES1370", "COMPUTE_SOUND_MODEL_ICH6", "COMPUTE_SOUND_MODEL_ICH9", "COMPUTE_SOUND_MODEL_PCSPK", "COMPUTE_SOUND_MODEL_SB16",
    "COMPUTE_SOUND_MODEL_USB", "COMPUTE_SOUND_MODEL_VIRTIO", "COMPUTE_STATUS_DISABLED", "COMPUTE_STORAGE_BUS_FDC", "COMPUTE_STORAGE_BUS_IDE",
    "COMPUTE_STORAGE_BUS_LXC", "COMPUTE_STORAGE_BUS_SATA", "COMPUTE_STORAGE_BUS_SCSI", "COMPUTE_STORAGE_BUS_UML", "COMPUTE_STORAGE_BUS_USB",
    "COMPUTE_STORAGE_BUS_VIRTIO", "COMPUTE_STORAGE_BUS_XEN", "COMPUTE_STORAGE_VIRTIO_FS", "COMPUTE_TRUSTED_CERTS", "COMPUTE_USB_MODEL_NEC_XHCI",
    "COMPUTE_USB_MODEL_QEMU_XHCI", "COMPUTE_VIOMMU_MODEL_AUTO", "COMPUTE_VIOMMU_MODEL_INTEL", "COMPUTE_VIOMMU_MODEL_SMMUV3",
    "COMPUTE_VIOMMU_MODEL_VIRTIO", "COMPUTE_VOLUME_ATTACH", "COMPUTE_VOLUME_ATTACH_WITH_TAG", "COMPUTE_VOLUME_EXTEND", "COMPUTE_VOLUME_MULTI_ATTACH",
    "HW_ARCH_AARCH64", "HW_ARCH_ALPHA", "HW_ARCH_ARMV6", "HW_ARCH_ARMV7", "HW_ARCH_ARMV7B", "HW_ARCH_CRIS", "HW_ARCH_I686", "HW_ARCH_IA64",
    "HW_ARCH_LM32", "HW_ARCH_M68K", "HW_ARCH_MICROBLAZE", "HW_ARCH_MICROBLAZEEL", "HW_ARCH_MIPS", "HW_ARCH_MIPS64", "HW_ARCH_MIPS64EL",
    "HW_ARCH_MIPSEL", "HW_ARCH_OPENRISC", "HW_ARCH_PARISC", "HW_ARCH_PARISC64", "HW_ARCH_PPC", "HW_ARCH_PPC64", "HW_ARCH_PPC64LE", "HW_ARCH_PPCEMB",
    "HW_ARCH_PPCLE", "HW_ARCH_S390", "HW_ARCH_S390X", "HW_ARCH_SH4", "HW_ARCH_SH4EB", "HW_ARCH_SPARC", "HW_ARCH_SPARC64", "HW_ARCH_UNICORE32",
    "HW_ARCH_X86_64", "HW_ARCH_XTENSA", "HW_ARCH_XTENSAEB", "HW_CPU_AARCH64_AES", "HW_CPU_AARCH64_ASIMD", "HW_CPU_AARCH64_ASIMDDP",
    "HW_CPU_AARCH64_ASIMDHP", "HW_CPU_AARCH64_ASIMDRDM", "HW_CPU_AARCH64_ATOMICS", "HW_CPU_AARCH64_CPUID", "HW_CPU_AARCH64_CRC32",
    "HW_CPU_AARCH64_DCPOP", "HW_CPU_AARCH64_EVTSTRM", "HW_CPU_AARCH64_FCMA", "HW_CPU_AARCH64_FP", "HW_CPU_AARCH64_FPHP", "HW_CPU_AARCH64_JSCVT",
    "HW_CPU_AARCH64_LRCPC", "HW_CPU_AARCH64_PMULL", "HW_CPU_AARCH64_SHA1", "HW_CPU_AARCH64_SHA2", "HW_CPU_AARCH64_SHA3", "HW_CPU_AARCH64_SHA512",
    "HW_CPU_AARCH64_SM3", "HW_CPU_AARCH64_SM4", "HW_CPU_AARCH64_SVE", "HW_CPU_AMD_SEV", "HW_CPU_HYPERTHREADING", "HW_CPU_PPC64LE_POWER8",
    "HW_CPU_PPC64LE_POWER9", "HW_CPU_X86_3DNOW", "HW_CPU_X86_ABM", "HW_CPU_X86_AESNI", "HW_CPU_X86_AMD_IBPB", "HW_CPU_X86_AMD_NO_SSB",
    "HW_CPU_X86_AMD_SEV", "HW_CPU_X86_AMD_SEV_ES", "HW_CPU_X86_AMD_SEV_SNP", "HW_CPU_X86_AMD_SSBD", "HW_CPU_X86_AMD_SVM", "HW_CPU_X86_AMD_VIRT_SSBD",
    "HW_CPU_X86_AMXBF16", "HW_CPU_X86_AMXINT8", "HW_CPU_X86_AMXTILE", "HW_CPU_X86_ASF", "HW_CPU_X86_AVX", "HW_CPU_X86_AVX2",
    "HW_CPU_X86_AVX512BITALG", "HW_CPU_X86_AVX512BW", "HW_CPU_X86_AVX512CD", "HW_CPU_X86_AVX512DQ", "HW_CPU_X86_AVX512ER", "HW_CPU_X86_AVX512F",
    "HW_CPU_X86_AVX512GFNI", "HW_CPU_X86_AVX512IFMA", "HW_CPU_X86_AVX512PF", "HW_CPU_X86_AVX512VAES", "HW_CPU_X86_AVX512VBMI",
    "HW_CPU_X86_AVX512VBMI2", "HW_CPU_X86_AVX512VL", "HW_CPU_X86_AVX512VNNI", "HW_CPU_X86_AVX512VPCLMULQDQ", "HW_CPU_X86_AVX512VPOPCNTDQ",
    "HW_CPU_X86_BMI", "HW_CPU_X86_BMI2", "HW_CPU_X86_CLMUL", "HW_CPU_X86_F16C", "HW_CPU_X86_FMA3", "HW_CPU_X86_FMA4", "HW_CPU_X86_INTEL_MD_CLEAR",
    "HW_CPU_X86_INTEL_PCID", "HW_CPU_X86_INTEL_SPEC_CTRL", "HW_CPU_X86_INTEL_SSBD", "HW_CPU_X86_INTEL_TDX", "HW_CPU_X86_INTEL_VMX", "HW_CPU_X86_MMX",
    "HW_CPU_X86_MPX", "HW_CPU_X86_PDPE1GB", "HW_CPU_X86_SGX", "HW_CPU_X86_SHA", "HW_CPU_X86_SSE", "HW_CPU_X86_SSE2", "HW_CPU_X86_SSE3",
    "HW_CPU_X86_SSE41", "HW_CPU_X86_SSE42", "HW_CPU_X86_SSE4A", "HW_CPU_X86_SSSE3", "HW_CPU_X86_STIBP", "HW_CPU_X86_SVM", "HW_CPU_X86_TBM",
    "HW_CPU_X86_TSX", "HW_CPU_X86_VMX", "HW_CPU_X86_XOP", "HW_GPU_API_DIRECT2D", "HW_GPU_API_DIRECT3D_V10_0", "HW_GPU_API_DIRECT3D_V10_1",
    "HW_GPU_API_DIRECT3D_V11_0", "HW_GPU_API_DIRECT3D_V11_1", "HW_GPU_API_DIRECT3D_V11_2", "HW_GPU_API_DIRECT3D_V11_3", "HW_GPU_API_DIRECT3D_V12_0",
    "HW_GPU_API_DIRECT3D_V6_0", "HW_GPU_API_DIRECT3D_V7_0", "HW_GPU_API_DIRECT3D_V8_0", "HW_GPU_API_DIRECT3D_V8_1", "HW_GPU_API_DIRECT3D_V9_0",
    "HW_GPU_API_DIRECT3D_V9_0B", "HW_GPU_API_DIRECT3D_V9_0C", "HW_GPU_API_DIRECT3D_V9_0L", "HW_GPU_API_DIRECTX_V10", "HW_GPU_API_DIRECTX_V11",
    "HW_GPU_API_DIRECTX_V12", "HW_GPU_API_DXVA", "HW_GPU_API_OPENCL_V1_0", "HW_GPU_API_OPENCL_V1_1", "HW_GPU_API_OPENCL_V1_2",
    "HW_GPU_API_OPENCL_V2_0", "HW_GPU_API_OPENCL_V2_1", "HW_GPU_API_OPENCL_V2_2", "HW_GPU_API_OPENGL_V1_1", "HW_GPU_API_OPENGL_V1_2",
    "HW_GPU_API_OPENGL_V1_3", "HW_GPU_API_OPENGL_V1_4", "HW_GPU_API_OPENGL_V1_5", "HW_GPU_API_OPENGL_V2_0", "HW_GPU_API_OPENGL_V2_1",
    "HW_GPU_API_OPENGL_V3_0", "HW_GPU_API_OPENGL_V3_1", "HW_GPU_API_OPENGL_V3_2", "HW_GPU_API_OPENGL_V3_3", "HW_GPU_API_OPENGL_V4_0",
    "HW_GPU_API_OPENGL_V4_1", "HW_GPU_API_OPENGL_V4_2", "HW_GPU_API_OPENGL_V4_3", "HW_GPU_API_OPENGL_V4_4", "HW_GPU_API_OPENGL_V4_5",
    "HW_GPU_API_VULKAN", "HW_GPU_CUDA_COMPUTE_CAPABILITY_V1_0", "HW_GPU_CUDA_COMPUTE_CAPABILITY_V1_1", "HW_GPU_CUDA_COMPUTE_CAPABILITY_V1_2",
    "HW_GPU_CUDA_COMPUTE_CAPABILITY_V1_3", "HW_GPU_CUDA_COMPUTE_CAPABILITY_V2_0", "HW_GPU_CUDA_COMPUTE_CAPABILITY_V2_1",
    "HW_GPU_CUDA_COMPUTE_CAPABILITY_V3_0", "HW_GPU_CUDA_COMPUTE_CAPABILITY_V3_2", "HW_GPU_CUDA_COMPUTE_CAPABILITY_V3_5",
    "HW_GPU_CUDA_COMPUTE_CAPABILITY_V3_7", "HW_GPU_CUDA_COMPUTE_CAPABILITY_V5_0", "HW_GPU_CUDA_COMPUTE_CAPABILITY_V5_2",
    "HW_GPU_CUDA_COMPUTE_CAPABILITY_V5_3", "HW_GPU_CUDA_COMPUTE_CAPABILITY_V6_0", "HW_GPU_CUDA_COMPUTE_CAPABILITY_V6_1",
    "HW_GPU_CUDA_COMPUTE_CAPABILITY_V6_2", "HW_GPU_CUDA_COMPUTE_CAPABILITY_V7_0", "HW_GPU_CUDA_COMPUTE_CAPABILITY_V7_1",
    "HW_GPU_CUDA_COMPUTE_CAPABILITY_V7_2", "HW_GPU_CUDA_SDK_V10_0", "HW_GPU_CUDA_SDK_V6_5", "HW_GPU_CUDA_SDK_V7_5", "HW_GPU_CUDA_SDK_V8_0",
    "HW_GPU_CUDA_SDK_V9_0", "HW_GPU_CUDA_SDK_V9_1", "HW_GPU_CUDA_SDK_V9_2", "HW_GPU_MAX_DISPLAY_HEADS_1", "HW_GPU_MAX_DISPLAY_HEADS_2",
    "HW_GPU_MAX_DISPLAY_HEADS_4", "HW_GPU_MAX_DISPLAY_HEADS_6", "HW_GPU_MAX_DISPLAY_HEADS_8", "HW_GPU_RESOLUTION_W1024H600",
    "HW_GPU_RESOLUTION_W1024H768", "HW_GPU_RESOLUTION_W1152H864", "HW_GPU_RESOLUTION_W1280H1024", "HW_GPU_RESOLUTION_W1280H720",
    "HW_GPU_RESOLUTION_W1280H768", "HW_GPU_RESOLUTION_W1280H800", "HW_GPU_RESOLUTION_W1360H768", "HW_GPU_RESOLUTION_W1366H768",
    "HW_GPU_RESOLUTION_W1440H900", "HW_GPU_RESOLUTION_W1600H1200", "HW_GPU_RESOLUTION_W1600H900", "HW_GPU_RESOLUTION_W1680H1050",
    "HW_GPU_RESOLUTION_W1920H1080", "HW_GPU_RESOLUTION_W1920H1200", "HW_GPU_RESOLUTION_W2560H1440", "HW_GPU_RESOLUTION_W2560H1600",
    "HW_GPU_RESOLUTION_W320H240", "HW_GPU_RESOLUTION_W3840H2160", "HW_GPU_RESOLUTION_W640H480", "HW_GPU_RESOLUTION_W7680H4320",
    "HW_GPU_RESOLUTION_W800H600", "HW_NIC_ACCEL_DEFLATE", "HW_NIC_ACCEL_DIFFIEH", "HW_NIC_ACCEL_ECC", "HW_NIC_ACCEL_IPSEC", "HW_NIC_ACCEL_LZS",
    "HW_NIC_ACCEL_RSA", "HW_NIC_ACCEL_SSL", "HW_NIC_ACCEL_TLS", "HW_NIC_DCB_ETS", "HW_NIC_DCB_PFC", "HW_NIC_DCB_QCN", "HW_NIC_MULTIQUEUE",
    "HW_NIC_OFFLOAD_FDF", "HW_NIC_OFFLOAD_GENEVE", "HW_NIC_OFFLOAD_GRE", "HW_NIC_OFFLOAD_GRO", "HW_NIC_OFFLOAD_GSO", "HW_NIC_OFFLOAD_L2CRC",
    "HW_NIC_OFFLOAD_LRO", "HW_NIC_OFFLOAD_LSO", "HW_NIC_OFFLOAD_QINQ", "HW_NIC_OFFLOAD_RDMA", "HW_NIC_OFFLOAD_RX", "HW_NIC_OFFLOAD_RXHASH",
    "HW_NIC_OFFLOAD_RXVLAN", "HW_NIC_OFFLOAD_SCS", "HW_NIC_OFFLOAD_SG", "HW_NIC_OFFLOAD_SWITCHDEV", "HW_NIC_OFFLOAD_TCS", "HW_NIC_OFFLOAD_TSO",
    "HW_NIC_OFFLOAD_TX", "HW_NIC_OFFLOAD_TXUDP", "HW_NIC_OFFLOAD_TXVLAN", "HW_NIC_OFFLOAD_UCS", "HW_NIC_OFFLOAD_UFO", "HW_NIC_OFFLOAD_VXLAN",
    "HW_NIC_PROGRAMMABLE_PIPELINE", "HW_NIC_SRIOV", "HW_NIC_SRIOV_MULTIQUEUE", "HW_NIC_SRIOV_QOS_RX", "HW_NIC_SRIOV_QOS_TX", "HW_NIC_SRIOV_TRUSTED",
    "HW_NIC_VMDQ", "HW_NUMA_ROOT", "HW_NVME_BES", "HW_NVME_CES", "HW_NVME_WZS", "HW_PCI_LIVE_MIGRATABLE", "HW_PCI_ONE_TIME_USE",
    "MISC_SHARES_VIA_AGGREGATE", "OWNER_CYBORG", "OWNER_NOVA", "STORAGE_DISK_HDD", "STORAGE_DISK_SSD",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(key: &str, value: &str) -> Option<String> {
        validate(key, value).err().map(|e| e.to_string())
    }

    #[test]
    fn tables_are_sorted_without_duplicates() {
        assert!(KNOWN.windows(2).all(|w| w[0].0 < w[1].0), "KNOWN must stay sorted for its binary search");
        assert!(TRAITS.windows(2).all(|w| w[0] < w[1]), "TRAITS must stay sorted for its binary search");
        assert_eq!((KNOWN.len(), TRAITS.len(), RESOURCE_CLASSES.len()), (111, 377, 21));
        for (name, _) in KNOWN {
            assert!(!name.contains(':') || known_namespace(name), "{name} is in a namespace NAMESPACES lacks");
        }
    }

    #[test]
    fn literal_keys_and_unknown_names_in_known_namespaces() {
        assert_eq!(msg("hw:cpu_policy", "dedicated"), None);
        assert_eq!(msg("accel:device_profile", "anything at all"), None);
        assert_eq!(msg("hw:bogus", "x").as_deref(), Some("Validation failed; extra spec 'hw:bogus' does not appear to be a valid extra spec."));
        assert_eq!(msg("hw_rng:rate", "1").as_deref(), Some("Validation failed; extra spec 'hw_rng:rate' does not appear to be a valid extra spec."));
        assert!(msg("quota:cpu_limits", "1").is_some() && msg("vmware:", "x").is_some() && msg("capabilities:cpu", "x").is_some());
        assert_eq!(msg("group_policy", "isolate"), None);
        assert_eq!(msg("hide_hypervisor_id", "maybe").as_deref(), Some("Validation failed; 'maybe' is not a valid boolean-like value."));
    }

    #[test]
    fn unknown_namespaces_and_bare_keys_pass_unchanged() {
        for key in ["custom:foo", "foo", "foo:bar", "HW:cpu_policy", "hwx:cpu_policy", "traitor", "key1", "resources"] {
            assert_eq!(msg(key, "anything"), None, "{key}");
        }
        assert!(!known_namespace("custom:foo") && !known_namespace("hw") && known_namespace("hw:"));
    }

    #[test]
    fn patterned_keys_match_within_their_namespace() {
        assert_eq!(msg("hw:numa_cpus.0", "0-3,^2"), None);
        assert_eq!(msg("hw:numa_cpusX12", "1"), None, "Nova's name regex leaves the dot unescaped");
        assert!(msg("hw:numa_cpus.", "1").unwrap().contains("does not appear"));
        assert!(msg("hw:numa_cpus.a", "1").unwrap().contains("does not appear"));
        assert_eq!(msg("hw:numa_mem.1", "0").as_deref(), Some("Validation failed; '0' is less than the min value of '1'."));
        assert_eq!(msg("resources:VCPU", "-1"), None, "resource amounts have no bounds in the registry");
        assert_eq!(msg("resources1:VGPU", "x").as_deref(), Some("Validation failed; 'x' is not a valid integer value."));
        assert_eq!(msg("resources_gpu-a:CUSTOM_MAGIC_1", "2"), None);
        assert!(msg("resources:CUSTOM_", "1").is_some() && msg("resources:CUSTOM_lower", "1").is_some() && msg("resources:WIDGET", "1").is_some());
        assert!(msg(&format!("resources{}:VCPU", "g".repeat(65)), "1").is_none(), "a 65-character group is no namespace of Nova's");
        assert_eq!(msg("trait:HW_CPU_X86_AVX2", "required"), None);
        assert_eq!(msg("traits:COMPUTE_STATUS_DISABLED", "forbidden"), None, "`s` is a request group of `trait`");
        assert_eq!(msg("trait1:CUSTOM_FOO", "preferred").as_deref(), Some("Validation failed; 'preferred' is not one of: required, forbidden."));
        assert!(msg("trait:HW_CPU_X86_AVX3", "required").unwrap().contains("does not appear"));
        assert_eq!(msg("capabilities:cpu_info", "x"), None);
        assert_eq!(msg("capabilities:cpu_info:features:vmx", "x"), None);
        assert!(msg("capabilities:cpu_info:", "x").is_some() && msg("capabilities:cpu_infos", "x").is_some());
        assert_eq!(msg("aggregate_instance_extra_specs:ssd:fast", "true"), None);
        assert!(msg("aggregate_instance_extra_specs:", "true").is_some());
    }

    #[test]
    fn enum_values_are_listed_in_novas_order() {
        assert_eq!(msg("hw:cpu_policy", "pinned").as_deref(), Some("Validation failed; 'pinned' is not one of: dedicated, shared, mixed."));
        assert!(msg("hw:cpu_policy", "Dedicated").is_some(), "enum matching is exact");
        assert_eq!(msg("hw:tpm_version", "2.0"), None);
    }

    #[test]
    fn integers_read_as_python_int_does() {
        for ok in ["0", "15", " 7 ", "+7", "007", "1_5"] {
            assert_eq!(msg("hw:redirected_usb_ports", ok), None, "{ok:?}");
        }
        assert_eq!(msg("hw:redirected_usb_ports", "16").as_deref(), Some("Validation failed; '16' is greater than the max value of '15'."));
        assert_eq!(msg("hw:redirected_usb_ports", "+0016").as_deref(), Some("Validation failed; '16' is greater than the max value of '15'."));
        assert_eq!(msg("hw:redirected_usb_ports", "-1").as_deref(), Some("Validation failed; '-1' is less than the min value of '0'."));
        assert_eq!(msg("hw:numa_nodes", "-0"), Some("Validation failed; '0' is less than the min value of '1'.".into()));
        for bad in ["", " ", "1.0", "1e3", "_1", "1_", "1__0", "- 1", "0x10", "one"] {
            assert_eq!(msg("hw:numa_nodes", bad), Some(format!("Validation failed; '{bad}' is not a valid integer value.")), "{bad:?}");
        }
        let huge = "9".repeat(60);
        assert_eq!(msg("quota:cpu_quota", &huge), None);
        assert_eq!(msg("quota:cpu_quota", &format!("-{huge}")), None);
        assert!(msg("hw:redirected_usb_ports", &huge).unwrap().contains("greater than"));
        assert!(msg("hw:serial_port_count", &format!("-{huge}")).unwrap().contains("less than"));
    }

    #[test]
    fn booleans_take_oslos_strict_words() {
        for ok in ["true", "False", "YES", "no", "1", "0", "t", "F", "on", "Off", "y", "N", " true\n"] {
            assert_eq!(msg("hw:boot_menu", ok), None, "{ok:?}");
        }
        for bad in ["", "2", "enabled", "truthy", "nope"] {
            assert_eq!(msg("hw_rng:allowed", bad), Some(format!("Validation failed; '{bad}' is not a valid boolean-like value.")), "{bad:?}");
        }
    }

    #[test]
    fn value_patterns_match_as_a_whole() {
        let accept = |key: &str, vals: &[&str]| vals.iter().for_each(|v| assert_eq!(msg(key, v), None, "{key}={v:?}"));
        let reject = |key: &str, vals: &[&str]| vals.iter().for_each(|v| assert!(msg(key, v).is_some(), "{key}={v:?}"));
        accept("hw:cpu_realtime_mask", &["^0", "0-3,^2", "1-2-3", "0,^1-3,5", "12"]);
        reject("hw:cpu_realtime_mask", &["", "^", "0-", "0,", "0,,1", "-1", "0-^1", "a", "0 ,1"]);
        accept("hw:mem_page_size", &["large", "small", "any", "2048", "2MiB", "1G", "1Gb", "4kbit", "1Ti", "2048B"]);
        reject("hw:mem_page_size", &["huge", "", "MiB", "2m", "2MB ", "2iB", "2Mii", "2Mbits"]);
        accept("hw:pmem", &["a", "a,b", "a_1,B2,", "6GB,LARGE"]);
        reject("hw:pmem", &["", ",a", "a,,b", "a-b", "a b"]);
        accept("pci_passthrough:alias", &["a1:2", "a1:2,b:3", "a1:2 , b:3", "x y:1", "a,b:1", "a:1,b,c:2"]);
        reject("pci_passthrough:alias", &["a1", ":1", "a:", "a:x", "a:1,", "a:1 b:2", "a:1,:2", "a::1"]);
        assert_eq!(msg("hw:cpu_dedicated_mask", "x").as_deref(), Some(r"Validation failed; 'x' is not of the format '\^?\d+((-\d+)?(,\^?\d+(-\d+)?)?)*'."));
    }
}
