//! Checks that turn the file form into a typed [`Experiment`]: each tagged table has the keys
//! its form needs and no others, numbers are in range, names are unique and exist in the
//! topology. Every message starts with the key path and points at the line where it is.

use std::collections::BTreeSet;
use std::path::Path;

use orrery_config::ConfigError;
use orrery_kernel::rng::Rng;
use orrery_kernel::scheduler::{GroupPolicy, ALL_FILTERS};
use orrery_kernel::time::Dur;
use orrery_kernel::topology::{Topology, TopologySpec};

use super::file::{
    ArrivalFile, CpuModelKind, CpuUtilFile, ExperimentFile, FlavorFile, GroupsFile, LifetimeFile, LifetimeKind, ProcessKind, RunFile, VariantFile,
    WorkloadFile, WorkloadKind,
};
use super::*;

/// Where a value sits: the `nth` table named `table` (`""` is the top level), and a key in it.
#[derive(Copy, Clone)]
pub(super) struct Loc<'a> {
    table: &'a str,
    nth: usize,
    key: &'a str,
}

fn at<'a>(table: &'a str, nth: usize, key: &'a str) -> Loc<'a> {
    Loc { table, nth, key }
}

/// Checks one parsed file; carries what messages need.
pub(super) struct Checker<'t> {
    pub text: &'t str,
    pub origin: &'t str,
    pub base_dir: &'t Path,
}

type Res<T> = Result<T, ConfigError>;

impl Checker<'_> {
    /// An error at `loc` saying `message` (which should start with the key path).
    fn err(&self, loc: Loc, message: String) -> ConfigError {
        ConfigError::Invalid { origin: self.origin.to_string(), line: locate(self.text, loc), message }
    }

    pub(super) fn experiment(&self, f: ExperimentFile) -> Res<Experiment> {
        let topology = self.topology(f.topology_file.as_deref(), f.topology)?;
        let built = Topology::build(&topology, &mut Rng::new(0))
            .map_err(|e| self.err(at("topology", 0, ""), format!("topology: {e}; fix the topology and try again")))?;
        if f.workload.is_empty() {
            return Err(self.err(at("", 0, "run"), "the experiment has no workload; add a [[workload]] table (see examples/experiment.toml)".into()));
        }
        let workloads = f.workload.into_iter().enumerate().map(|(i, w)| self.workload(i, w)).collect::<Res<Vec<_>>>()?;
        let run = self.run(f.run)?;
        Ok(Experiment {
            name: f.name.unwrap_or_default(),
            description: f.description,
            variants: self.variants(f.variant)?,
            faults: self.faults(f.faults, &built, &run)?,
            topology,
            workloads,
            run,
        })
    }

    fn topology(&self, file: Option<&str>, inline: Option<TopologySpec>) -> Res<TopologySpec> {
        let spec = match (file, inline) {
            (Some(_), Some(_)) => return Err(self.err(at("", 0, "topology_file"), "topology_file and [topology] are both given; keep one of them".into())),
            (None, None) => return Err(self.err(at("", 0, "run"), "the experiment has no topology; add topology_file = \"PATH\" or a [topology] table".into())),
            (Some(path), None) => return orrery_config::load_topology(&self.base_dir.join(path)),
            (None, Some(spec)) => spec,
        };
        if let Some(bad) = spec.scheduler.filters.iter().find(|f| !ALL_FILTERS.contains(&f.as_str())) {
            return Err(self.err(at("topology.scheduler", 0, "filters"), unknown_filter("topology.scheduler.filters", bad)));
        }
        if spec.scheduler.host_subset_size == 0 {
            let msg = "topology.scheduler.host_subset_size must be at least 1".to_string();
            return Err(self.err(at("topology.scheduler", 0, "host_subset_size"), msg));
        }
        Ok(spec)
    }

    fn workload(&self, i: usize, w: WorkloadFile) -> Res<Workload> {
        let path = format!("workload[{i}]");
        if w.limit == Some(0) {
            return Err(self.err(at("workload", i, "limit"), format!("{path}.limit must be at least 1")));
        }
        let cpu_util = w.cpu_util.as_ref().map(|c| self.cpu_util(i, c)).transpose()?;
        let source = match w.kind {
            WorkloadKind::Synthetic => Source::Synthetic(self.synthetic(i, &w)?),
            WorkloadKind::AzureVmtable => Source::Trace(self.trace(i, &w, TraceFormat::AzureVmtable)?),
            WorkloadKind::AzurePacking => Source::Trace(self.trace(i, &w, TraceFormat::AzurePacking)?),
            WorkloadKind::Huawei => Source::Trace(self.trace(i, &w, TraceFormat::Huawei)?),
        };
        let cpu_util = match (&source, cpu_util) {
            (Source::Synthetic(_), None) => Some(DEFAULT_CPU_UTIL),
            (_, model) => model,
        };
        Ok(Workload { name: w.name.unwrap_or_else(|| format!("workload-{}", i + 1)), limit: w.limit, cpu_util, source })
    }

    fn synthetic(&self, i: usize, w: &WorkloadFile) -> Res<Synthetic> {
        let trace_keys = [("path", w.path.is_some()), ("time_scale", w.time_scale.is_some()), ("machine", w.machine.is_some())];
        if let Some((key, _)) = trace_keys.iter().find(|(_, present)| *present) {
            let msg = format!("workload[{i}].{key} is only for trace workloads; remove it or set kind to a trace format");
            return Err(self.err(at("workload", i, key), msg));
        }
        let missing = |key: &str| self.err(at("workload", i, "kind"), format!("workload[{i}]: a synthetic workload needs `{key}`"));
        let arrival = w.arrival.as_ref().ok_or_else(|| missing("arrival"))?;
        let flavors = w.flavors.as_ref().ok_or_else(|| missing("flavors"))?;
        let lifetime = w.lifetime.as_ref().ok_or_else(|| missing("lifetime"))?;
        Ok(Synthetic {
            arrival: self.arrival(i, arrival)?,
            flavors: self.flavors(i, flavors)?,
            lifetime: self.lifetime(i, lifetime)?,
            groups: w.server_groups.as_ref().map(|g| self.groups(i, g)).transpose()?,
        })
    }

    /// The value of `key` in workload `i`'s `table`, which must be present and satisfy `ok`.
    fn need(&self, i: usize, table: &str, key: &str, v: Option<f64>, ok: impl Fn(f64) -> bool, what: &str) -> Res<f64> {
        let path = if table.is_empty() { format!("workload[{i}].{key}") } else { format!("workload[{i}].{table}.{key}") };
        match v {
            Some(x) if x.is_finite() && ok(x) => Ok(x),
            Some(x) => Err(self.err(at("workload", i, key), format!("{path} must be {what}, not {x}"))),
            None => Err(self.err(at("workload", i, table), format!("{path} is missing; it must be {what}"))),
        }
    }

    /// Rejects keys of `table` that the chosen form does not use.
    fn only(&self, i: usize, table: &str, form: &str, present: &[(&str, bool)], allowed: &[&str]) -> Res<()> {
        match present.iter().find(|(k, p)| *p && !allowed.contains(k)) {
            Some((k, _)) => {
                let msg = format!("workload[{i}].{table}.{k} does not apply to {form}; it takes {}", allowed.join(", "));
                Err(self.err(at("workload", i, k), msg))
            }
            None => Ok(()),
        }
    }

    fn arrival(&self, i: usize, a: &ArrivalFile) -> Res<ArrivalProcess> {
        let present = [
            ("rate", a.rate.is_some()),
            ("mean_rate", a.mean_rate.is_some()),
            ("peak_to_trough", a.peak_to_trough.is_some()),
            ("peak_hour", a.peak_hour.is_some()),
            ("base_rate", a.base_rate.is_some()),
            ("burst_rate", a.burst_rate.is_some()),
            ("burst_every", a.burst_every.is_some()),
            ("burst_length", a.burst_length.is_some()),
        ];
        let pos = |x: f64| x > 0.0;
        let rate = "a positive number of requests per hour";
        match a.process {
            ProcessKind::Poisson => {
                self.only(i, "arrival", "process = \"poisson\"", &present, &["rate"])?;
                Ok(ArrivalProcess::Poisson { rate: self.need(i, "arrival", "rate", a.rate, pos, rate)? })
            }
            ProcessKind::Diurnal => {
                self.only(i, "arrival", "process = \"diurnal\"", &present, &["mean_rate", "peak_to_trough", "peak_hour"])?;
                Ok(ArrivalProcess::Diurnal {
                    mean_rate: self.need(i, "arrival", "mean_rate", a.mean_rate, pos, rate)?,
                    peak_to_trough: self.need(i, "arrival", "peak_to_trough", a.peak_to_trough, |x| x >= 1.0, "at least 1")?,
                    peak_hour: self.need(i, "arrival", "peak_hour", a.peak_hour.or(Some(14.0)), |h| (0.0..24.0).contains(&h), "an hour from 0 to 24")?,
                })
            }
            ProcessKind::Bursts => self.bursts(i, a, &present),
        }
    }

    fn bursts(&self, i: usize, a: &ArrivalFile, present: &[(&str, bool)]) -> Res<ArrivalProcess> {
        let allowed = ["base_rate", "burst_rate", "burst_every", "burst_length"];
        self.only(i, "arrival", "process = \"bursts\"", present, &allowed)?;
        let base_rate = self.need(i, "arrival", "base_rate", a.base_rate, |x| x >= 0.0, "a rate per hour of 0 or more")?;
        let burst_rate = self.need(i, "arrival", "burst_rate", a.burst_rate, |x| x > 0.0, "a positive rate per hour")?;
        let loc = at("workload", i, "burst_every");
        let (Some(every), Some(length)) = (a.burst_every, a.burst_length) else {
            return Err(self.err(loc, format!("workload[{i}].arrival needs burst_every and burst_length, like \"1d\" and \"1h\"")));
        };
        if length.0 == 0 || length >= every {
            let msg = format!("workload[{i}].arrival.burst_length must be above zero and shorter than burst_every");
            return Err(self.err(at("workload", i, "burst_length"), msg));
        }
        Ok(ArrivalProcess::Bursts { base_rate, burst_rate, every, length })
    }

    fn flavors(&self, i: usize, fs: &[FlavorFile]) -> Res<Vec<Flavor>> {
        if fs.is_empty() {
            return Err(self.err(at("workload", i, "flavors"), format!("workload[{i}].flavors is empty; list at least one flavor")));
        }
        let mut out: Vec<Flavor> = Vec::new();
        for (j, f) in fs.iter().enumerate() {
            if f.vcpus == 0 || f.ram == 0 || f.weight == 0 {
                let msg = format!("workload[{i}].flavors[{j}] needs vcpus, ram and weight above zero");
                return Err(self.err(at("workload", i, "flavors"), msg));
            }
            let name = f.name.clone().unwrap_or_else(|| format!("v{}-r{}-d{}", f.vcpus, f.ram, f.disk));
            if out.iter().any(|o| o.name == name) {
                let msg = format!("workload[{i}].flavors[{j}]: flavor '{name}' is listed twice; merge the entries or name them apart");
                return Err(self.err(at("workload", i, "flavors"), msg));
            }
            out.push(Flavor { name, vcpus: f.vcpus, ram_mb: f.ram, disk_gb: f.disk, weight: f.weight });
        }
        Ok(out)
    }

    fn lifetime(&self, i: usize, l: &LifetimeFile) -> Res<Lifetime> {
        let present = [("mean", l.mean.is_some()), ("median", l.median.is_some()), ("sigma", l.sigma.is_some()), ("value", l.value.is_some())];
        let dur = |key: &str, v: Option<Dur>| match v {
            Some(d) if d.0 > 0 => Ok(d),
            _ => Err(self.err(at("workload", i, "lifetime"), format!("workload[{i}].lifetime.{key} must be a duration above zero, like \"4h\""))),
        };
        match l.dist {
            LifetimeKind::Exponential => {
                self.only(i, "lifetime", "dist = \"exponential\"", &present, &["mean"])?;
                Ok(Lifetime::Exponential { mean: dur("mean", l.mean)? })
            }
            LifetimeKind::Lognormal => {
                self.only(i, "lifetime", "dist = \"lognormal\"", &present, &["median", "sigma"])?;
                let sigma = self.need(i, "lifetime", "sigma", l.sigma, |s| (0.0..=10.0).contains(&s), "a number from 0 to 10")?;
                Ok(Lifetime::Lognormal { median: dur("median", l.median)?, sigma })
            }
            LifetimeKind::Fixed => {
                self.only(i, "lifetime", "dist = \"fixed\"", &present, &["value"])?;
                Ok(Lifetime::Fixed(dur("value", l.value)?))
            }
        }
    }

    fn groups(&self, i: usize, g: &GroupsFile) -> Res<Groups> {
        let fraction = self.need(i, "server_groups", "fraction", Some(g.fraction), |f| f > 0.0 && f <= 1.0, "above 0 and at most 1")?;
        if g.size < 2 {
            return Err(self.err(at("workload", i, "size"), format!("workload[{i}].server_groups.size must be at least 2")));
        }
        let policy = GroupPolicy::from_name(&g.policy).ok_or_else(|| {
            let msg = format!(
                "workload[{i}].server_groups.policy '{}' is not a server group policy; use affinity, anti-affinity, soft-affinity or soft-anti-affinity",
                g.policy
            );
            self.err(at("workload", i, "policy"), msg)
        })?;
        Ok(Groups { fraction, size: g.size, policy })
    }

    fn cpu_util(&self, i: usize, c: &CpuUtilFile) -> Res<CpuUtilModel> {
        let present = [
            ("value", c.value.is_some()),
            ("low", c.low.is_some()),
            ("high", c.high.is_some()),
            ("mean", c.mean.is_some()),
            ("amplitude", c.amplitude.is_some()),
        ];
        let unit = |x: f64| (0.0..=1.0).contains(&x);
        let frac = "a fraction from 0 to 1";
        match c.model {
            CpuModelKind::Constant => {
                self.only(i, "cpu_util", "model = \"constant\"", &present, &["value"])?;
                Ok(CpuUtilModel::Constant(self.need(i, "cpu_util", "value", c.value, unit, frac)?))
            }
            CpuModelKind::Uniform => {
                self.only(i, "cpu_util", "model = \"uniform\"", &present, &["low", "high"])?;
                let low = self.need(i, "cpu_util", "low", c.low, unit, frac)?;
                let high = self.need(i, "cpu_util", "high", c.high, |h| unit(h) && h >= low, "a fraction from `low` to 1")?;
                Ok(CpuUtilModel::Uniform { low, high })
            }
            CpuModelKind::Diurnal => {
                self.only(i, "cpu_util", "model = \"diurnal\"", &present, &["mean", "amplitude"])?;
                let mean = self.need(i, "cpu_util", "mean", c.mean, unit, frac)?;
                let fits = |a: f64| a >= 0.0 && mean - a >= 0.0 && mean + a <= 1.0;
                let amplitude = self.need(i, "cpu_util", "amplitude", c.amplitude, fits, "at least 0 and keep mean ± amplitude within 0 to 1")?;
                Ok(CpuUtilModel::Diurnal { mean, amplitude })
            }
        }
    }

    fn trace(&self, i: usize, w: &WorkloadFile, format: TraceFormat) -> Res<Trace> {
        let synth_keys = [
            ("arrival", w.arrival.is_some()),
            ("flavors", w.flavors.is_some()),
            ("lifetime", w.lifetime.is_some()),
            ("server_groups", w.server_groups.is_some()),
        ];
        if let Some((key, _)) = synth_keys.iter().find(|(_, p)| *p) {
            let msg = format!("workload[{i}].{key} is only for synthetic workloads; a trace brings its own arrivals and sizes");
            return Err(self.err(at("workload", i, key), msg));
        }
        if w.machine.is_some() && format != TraceFormat::AzurePacking {
            let msg = format!("workload[{i}].machine only applies to kind = \"azure_packing\"");
            return Err(self.err(at("workload", i, "machine"), msg));
        }
        let path = w.path.as_ref().ok_or_else(|| self.err(at("workload", i, "kind"), format!("workload[{i}]: a trace workload needs `path`")))?;
        let time_scale = self.need(i, "", "time_scale", w.time_scale.or(Some(1.0)), |x| x > 0.0, "a positive factor")?;
        let machine = match &w.machine {
            Some(m) if m.vcpus == 0 || m.ram == 0 => {
                return Err(self.err(at("workload", i, "machine"), format!("workload[{i}].machine needs vcpus and ram above zero")))
            }
            Some(m) => Machine { vcpus: m.vcpus, ram_mb: m.ram, disk_gb: m.disk },
            None => Machine::default(),
        };
        Ok(Trace { format, path: self.base_dir.join(path), time_scale, machine })
    }

    fn variants(&self, vs: Vec<VariantFile>) -> Res<Vec<Variant>> {
        if vs.is_empty() {
            return Ok(vec![Variant::baseline()]);
        }
        let mut names = BTreeSet::new();
        vs.into_iter().enumerate().map(|(i, v)| self.variant(i, v, &mut names)).collect()
    }

    fn variant(&self, i: usize, v: VariantFile, names: &mut BTreeSet<String>) -> Res<Variant> {
        let name_ok = !v.name.is_empty() && v.name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.+ ".contains(c));
        if !name_ok {
            let msg = format!("variant[{i}].name '{}' must be non-empty and use letters, digits, space, '-', '_', '.', '+'", v.name);
            return Err(self.err(at("variant", i, "name"), msg));
        }
        if !names.insert(v.name.clone()) {
            return Err(self.err(at("variant", i, "name"), format!("variant[{i}].name '{}' is used by another variant; names must be unique", v.name)));
        }
        if let Some(bad) = v.filters.iter().flatten().find(|f| !ALL_FILTERS.contains(&f.as_str())) {
            return Err(self.err(at("variant", i, "filters"), unknown_filter(&format!("variant[{i}].filters"), bad)));
        }
        if v.host_subset_size == Some(0) {
            return Err(self.err(at("variant", i, "host_subset_size"), format!("variant[{i}].host_subset_size must be at least 1")));
        }
        for (key, r) in [("cpu_ratio", v.cpu_ratio), ("ram_ratio", v.ram_ratio), ("disk_ratio", v.disk_ratio)] {
            if r.is_some_and(|r| !(r.is_finite() && r > 0.0)) {
                return Err(self.err(at("variant", i, key), format!("variant[{i}].{key} must be a positive number, like 1.5")));
            }
        }
        Ok(Variant {
            name: v.name,
            strategy: v.strategy,
            host_subset_size: v.host_subset_size,
            filters: v.filters,
            cpu_ratio: v.cpu_ratio,
            ram_ratio: v.ram_ratio,
            disk_ratio: v.disk_ratio,
            rack_spread: v.rack_spread,
            anti_affinity: v.anti_affinity.unwrap_or(true),
            evacuation: v.evacuation.unwrap_or_default(),
            power_off_idle: v.power_off_idle.unwrap_or(false),
        })
    }

    fn faults(&self, f: super::file::FaultsFile, topo: &Topology, run: &Run) -> Res<Faults> {
        for (kind, p) in [("host", &f.host), ("rack", &f.rack), ("zone", &f.zone), ("region", &f.region)] {
            if p.as_ref().is_some_and(|p| p.mtbf.0 == 0 || p.mttr.0 == 0) {
                let msg = format!("faults.{kind}: mtbf and mttr must be durations above zero, like \"30d\" and \"4h\"");
                return Err(self.err(at(&format!("faults.{kind}"), 0, "mtbf"), msg));
            }
        }
        for (i, e) in f.event.iter().enumerate() {
            let known = match e.kind {
                FaultKind::Host => topo.host_by_name.contains_key(&e.name),
                FaultKind::Rack => topo.racks.iter().any(|r| r.name == e.name),
                FaultKind::Zone => topo.zones.iter().any(|z| z.name == e.name),
                FaultKind::Region => topo.regions.iter().any(|r| r.name == e.name),
            };
            if !known {
                let kind = format!("{:?}", e.kind).to_lowercase();
                let msg =
                    format!("faults.event[{i}].name: there is no {kind} named '{}' in the topology; {kind} names look like {}", e.name, example_name(e.kind));
                return Err(self.err(at("faults.event", i, "name"), msg));
            }
            if e.at > run.duration {
                let msg = format!("faults.event[{i}].at is after the end of the run; make it at most run.duration");
                return Err(self.err(at("faults.event", i, "at"), msg));
            }
        }
        Ok(Faults { host: f.host, rack: f.rack, zone: f.zone, region: f.region, events: f.event })
    }

    fn run(&self, r: RunFile) -> Res<Run> {
        if r.duration.0 == 0 {
            return Err(self.err(at("run", 0, "duration"), "run.duration must be above zero, like \"7d\"".into()));
        }
        if r.sample_period.0 == 0 || r.sample_period > r.duration {
            return Err(self.err(at("run", 0, "sample_period"), "run.sample_period must be above zero and at most run.duration".into()));
        }
        let warmup = r.warmup.unwrap_or_default();
        if warmup >= r.duration {
            return Err(self.err(at("run", 0, "warmup"), "run.warmup must be shorter than run.duration".into()));
        }
        Ok(Run { duration: r.duration, seeds: r.seeds, sample_period: r.sample_period, warmup })
    }
}

fn unknown_filter(path: &str, bad: &str) -> String {
    format!("{path}: scheduler filter '{bad}' is not one orrery implements; use some of: {}", ALL_FILTERS.join(", "))
}

fn example_name(kind: FaultKind) -> &'static str {
    match kind {
        FaultKind::Host => "az1-r01-h03",
        FaultKind::Rack => "az1-r01",
        FaultKind::Zone => "az1",
        FaultKind::Region => "RegionOne",
    }
}

/// The 1-based line of `loc` in `text`: the key inside the `nth` `[table]` or `[[table]]`
/// (or the table header when the key is not found), or `None` when the table has no header.
pub(super) fn locate(text: &str, loc: Loc) -> Option<usize> {
    let lines: Vec<&str> = text.lines().map(strip_comment).collect();
    let start = if loc.table.is_empty() {
        0
    } else {
        let header = |l: &str| {
            let l: String = l.chars().filter(|c| !c.is_whitespace()).collect();
            l == format!("[[{}]]", loc.table) || l == format!("[{}]", loc.table)
        };
        lines.iter().enumerate().filter(|(_, l)| header(l)).nth(loc.nth)?.0 + 1
    };
    let inside = |l: &str| {
        let t = l.trim_start();
        !t.starts_with('[') || (!loc.table.is_empty() && (t.starts_with(&format!("[{}.", loc.table)) || t.starts_with(&format!("[[{}.", loc.table))))
    };
    let found = lines[start..].iter().take_while(|l| inside(l)).position(|l| has_key(l, loc.key));
    match found {
        Some(off) if !loc.key.is_empty() => Some(start + off + 1),
        _ if loc.table.is_empty() => None,
        _ => Some(start),
    }
}

/// Whether `line` assigns `key` (as `key =`, possibly inside an inline table).
fn has_key(line: &str, key: &str) -> bool {
    if key.is_empty() {
        return false;
    }
    line.match_indices(key).any(|(i, _)| {
        let before = line[..i].chars().next_back();
        let after = line[i + key.len()..].trim_start();
        before.is_none_or(|c| c.is_whitespace() || c == '{' || c == ',' || c == '.') && (after.starts_with('=') || after.starts_with('.'))
    })
}

/// A line without a trailing `# comment` (ignores `#` inside strings).
fn strip_comment(line: &str) -> &str {
    let mut quote = None;
    for (i, c) in line.char_indices() {
        match (c, quote) {
            ('"' | '\'', None) => quote = Some(c),
            (q, Some(open)) if q == open => quote = None,
            ('#', None) => return &line[..i],
            _ => {}
        }
    }
    line
}
