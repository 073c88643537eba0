//! Query strings of `GET /servers` and `/servers/detail`: Nova's filters (with the admin-only
//! ones dropped for other callers, as Nova does; from 2.83 only `host` and `node` are),
//! `all_tenants`, paging and sorting.

use orrery_kernel::compute::servers::{ListQuery, SortKey, Status};
use orrery_kernel::compute::views as kviews;
use orrery_kernel::{Caller, Error, Kernel, Result, Time, Uuid};

use crate::compute::versions::Microversion;

/// Raw query pairs, in order, repeated keys kept.
pub type Pairs = Vec<(String, String)>;

fn get<'a>(q: &'a Pairs, key: &str) -> Option<&'a str> {
    q.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

fn all<'a>(q: &'a Pairs, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    q.iter().filter(move |(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// Nova's boolean strings.
pub fn parse_bool(field: &str, v: &str) -> Result<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "t" | "true" | "on" | "y" | "yes" => Ok(true),
        "0" | "f" | "false" | "off" | "n" | "no" => Ok(false),
        _ => {
            Err(Error::bad_request("compute.bad_request", format!("Invalid input for field/attribute {field}. Value: {v}. '{v}' is not a valid boolean value")))
        }
    }
}

/// Parses ISO 8601 timestamps as Nova accepts them: a date, optionally a time with seconds
/// and fraction, optionally `Z` or an offset.
pub fn parse_iso(s: &str) -> Option<Time> {
    let s = s.trim();
    if !s.is_ascii() {
        return None;
    }
    let (date, rest) = s.split_at(s.len().min(10));
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, mo, da) = (d.next()??, d.next()??, d.next()??);
    if d.next().is_some() || !(1..=12).contains(&mo) || !(1..=31).contains(&da) {
        return None;
    }
    let (mut secs, mut micros) = (0i64, 0i64);
    let mut offset = 0i64;
    if !rest.is_empty() {
        let rest = rest.strip_prefix('T').or_else(|| rest.strip_prefix(' '))?;
        let (clock, zone) = match rest.find(['Z', 'z', '+', '-']) {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        let (hms, frac) = clock.split_once('.').unwrap_or((clock, ""));
        let mut parts = hms.split(':').map(|p| p.parse::<i64>().ok());
        let (h, mi) = (parts.next()??, parts.next()??);
        let sec = parts.next().map(|p| p.ok_or(())).transpose().ok()?.unwrap_or(0);
        secs = h * 3600 + mi * 60 + sec;
        if !frac.is_empty() {
            let digits: String = frac.chars().chain(std::iter::repeat('0')).take(6).collect();
            micros = digits.parse().ok()?;
        }
        offset = match zone {
            "" | "Z" | "z" => 0,
            z => {
                let sign = if z.starts_with('-') { -1 } else { 1 };
                let (oh, om) = z[1..].split_once(':').unwrap_or((&z[1..z.len().min(3)], z.get(3..).unwrap_or("0")));
                sign * (oh.parse::<i64>().ok()? * 3600 + om.parse::<i64>().ok()? * 60)
            }
        };
    }
    let days = days_from_civil(y, mo, da);
    let total = days * 86_400 + secs - offset;
    (total >= 0).then(|| Time(total as u64 * 1_000_000 + micros as u64))
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn time_filter(q: &Pairs, key: &str) -> Result<Option<Time>> {
    match get(q, key) {
        None => Ok(None),
        Some(v) => parse_iso(v).map(Some).ok_or_else(|| Error::bad_request("compute.bad_request", format!("Invalid filter field: {key}."))),
    }
}

fn uuid_param(field: &str, v: &str) -> Result<Uuid> {
    v.parse().map_err(|_| Error::bad_request("compute.bad_request", format!("Invalid input for field/attribute {field}. Value: {v}.")))
}

fn list_param(q: &Pairs, key: &str) -> Vec<String> {
    get(q, key).map(|v| v.split(',').map(|t| t.trim().to_string()).filter(|t| !t.is_empty()).collect()).unwrap_or_default()
}

/// Whether the listing asks for every project (`all_tenants`, any value but a false one).
fn all_tenants(q: &Pairs) -> Result<bool> {
    match get(q, "all_tenants") {
        None => Ok(false),
        Some("") => Ok(true),
        Some(v) => parse_bool("all_tenants", v),
    }
}

/// The kernel query for `q`, authorised for `caller`. `Ok(None)` means Nova would answer an
/// empty list outright (an unknown status before 2.38, or an IP filter with no networking).
pub fn parse(k: &Kernel, caller: &Caller, mv: Microversion, q: &Pairs, detail: bool) -> Result<Option<ListQuery>> {
    let mut out = ListQuery::default();
    if all_tenants(q)? {
        if !caller.admin {
            let which = if detail { "detail" } else { "index" };
            return Err(Error::forbidden("compute.forbidden", format!("Policy doesn't allow os_compute_api:servers:{which}:get_all_tenants to be performed.")));
        }
        out.project = match get(q, "project_id").or_else(|| get(q, "tenant_id")) {
            Some(p) => Some(uuid_param("project_id", p)?),
            None => None,
        };
    } else {
        out.project = Some(caller.project.ok_or_else(|| Error::forbidden("compute.forbidden", "Listing servers needs a project-scoped token.".into()))?);
    }
    let statuses: Vec<&str> = all(q, "status").collect();
    if !statuses.is_empty() {
        let parsed: Vec<Status> = statuses.iter().filter_map(|s| Status::from_name(s)).collect();
        if parsed.is_empty() {
            if mv.at_least(38) {
                return Err(Error::bad_request("compute.bad_request", "Invalid status value".into()));
            }
            return Ok(None);
        }
        out.status = Some(parsed);
    }
    if get(q, "ip").is_some() || get(q, "ip6").is_some() {
        return Ok(None);
    }
    out.name = get(q, "name").map(str::to_string);
    out.flavor = get(q, "flavor").map(|f| f.rsplit('/').next().unwrap_or(f).to_string());
    out.image = match get(q, "image") {
        Some(i) => match i.rsplit('/').next().unwrap_or(i).parse() {
            Ok(id) => Some(id),
            Err(_) => return Ok(None),
        },
        None => None,
    };
    out.reservation_id = get(q, "reservation_id").map(str::to_string);
    out.changes_since = time_filter(q, "changes-since")?;
    if mv.at_least(66) {
        out.changes_before = time_filter(q, "changes-before")?;
        if let (Some(a), Some(b)) = (out.changes_since, out.changes_before) {
            if b < a {
                return Err(Error::bad_request("compute.bad_request", "The value of changes-since must be less than or equal to changes-before.".into()));
            }
        }
    }
    if mv.at_least(26) {
        out.tags = list_param(q, "tags");
        out.tags_any = list_param(q, "tags-any");
        out.not_tags = list_param(q, "not-tags");
        out.not_tags_any = list_param(q, "not-tags-any");
    }
    if mv.at_least(73) {
        out.locked = get(q, "locked").map(|v| parse_bool("locked", v)).transpose()?;
    }
    if caller.admin || mv.at_least(83) {
        if !owner_filters(k, q, &mut out)? {
            return Ok(None);
        }
        state_filters(q, &mut out)?;
    }
    if caller.admin && !host_filter(k, q, &mut out) {
        return Ok(None);
    }
    paging(q, caller, &mut out)?;
    Ok(Some(out))
}

/// The host filter, admins' only; false when it names no host.
fn host_filter(k: &Kernel, q: &Pairs, out: &mut ListQuery) -> bool {
    if let Some(h) = get(q, "host").or_else(|| get(q, "node")) {
        match kviews::host_named(k, h) {
            Some(idx) => out.host = Some(idx),
            None => return false,
        }
    }
    true
}

/// The state filters, admins' only before 2.83: `vm_state` (unless `status` decides it),
/// `task_state`, `power_state`, `progress` and `config_drive`.
fn state_filters(q: &Pairs, out: &mut ListQuery) -> Result<()> {
    if get(q, "status").is_none() {
        out.vm_states = all(q, "vm_state").map(str::to_string).collect();
    }
    out.task_states = all(q, "task_state").map(str::to_string).collect();
    out.power_states = all(q, "power_state").map(|p| p.trim().parse::<u8>().unwrap_or(u8::MAX)).collect();
    out.progress = get(q, "progress").map(|p| p.trim().parse::<u8>().unwrap_or(u8::MAX));
    out.config_drive = get(q, "config_drive").map(|v| parse_bool("config_drive", v)).transpose()?;
    Ok(())
}

/// The owner filters, admins' only before 2.83; false when one names nothing that exists.
fn owner_filters(k: &Kernel, q: &Pairs, out: &mut ListQuery) -> Result<bool> {
    if let Some(u) = get(q, "user_id") {
        out.user = Some(uuid_param("user_id", u)?);
    }
    if let Some(z) = get(q, "availability_zone") {
        match kviews::zone_named(k, z) {
            Some(i) => out.zone = Some(i),
            None => return Ok(false),
        }
    }
    out.key_name = get(q, "key_name").map(str::to_string);
    Ok(true)
}

fn paging(q: &Pairs, caller: &Caller, out: &mut ListQuery) -> Result<()> {
    out.limit = match get(q, "limit") {
        Some(v) => Some(v.parse::<usize>().map_err(|_| {
            Error::bad_request("compute.bad_request", format!("Invalid input for query parameters limit. Value: {v}. '{v}' does not match '^[0-9]*$'"))
        })?),
        None => None,
    };
    out.marker = match get(q, "marker") {
        Some(m) => Some(m.parse().map_err(|_| Error::bad_request("compute.bad_request", format!("marker [{m}] not found")))?),
        None => None,
    };
    if let Some(key) = get(q, "sort_key") {
        let key = SortKey::from_name(key)
            .ok_or_else(|| Error::bad_request("compute.bad_request", format!("Invalid input for query parameters sort_key. Value: {key}.")))?;
        let desc = match get(q, "sort_dir").unwrap_or("desc") {
            "desc" => true,
            "asc" => false,
            d => {
                return Err(Error::bad_request(
                    "compute.bad_request",
                    format!("Invalid input for query parameters sort_dir. Value: {d}. '{d}' is not one of ['asc', 'desc']"),
                ))
            }
        };
        if key != SortKey::Host || caller.admin {
            out.sort = Some((key, desc));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_iso_like_nova() {
        assert_eq!(parse_iso("1970-01-01T00:00:01Z"), Some(Time(1_000_000)));
        assert_eq!(parse_iso("1970-01-01T00:00:01.5"), Some(Time(1_500_000)));
        assert_eq!(parse_iso("1970-01-02"), Some(Time::from_secs(86_400)));
        assert_eq!(parse_iso("1970-01-01T01:00:00+01:00"), Some(Time(0)));
        assert_eq!(parse_iso("2026-11-18T11:06:40Z"), Some(Time::from_secs(1_795_000_000)));
        assert_eq!(parse_iso("yesterday"), None);
        assert_eq!(parse_iso("2020-13-01"), None);
        assert_eq!(parse_iso("2020-01-0é"), None, "non-ASCII text is refused, not split inside a character");
        assert_eq!(parse_iso("2020-01-01T00:00+0é"), None);
    }
}
