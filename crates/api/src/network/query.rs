//! List queries as Neutron reads them (`neutron/api/api_common.py` and the pecan query hook):
//! equality filters on the attributes Neutron marks filterable, each value converted as the
//! attribute is (repeated keys are alternatives, empty values dropped, unknown keys refused by
//! `filter-validation`); `fields` to pick attributes (unknown ones simply absent); `sort_key`
//! and `sort_dir` in pairs over the sortable attributes, then the id; and `limit`, `marker` and
//! `page_reverse` with the `{collection}_links` Neutron emits, previous link on the first page
//! included. A marker is a resource the caller sees; the page is what sorts after it (before
//! it, reversed), whether or not the marker itself passes the filters.
//!
//! Queries run on rendered resources: the handler renders what the caller sees (without the
//! attributes policy hides from it, with the `hidden` ones only filters use), and this module
//! filters, sorts, pages and trims them.

use std::cmp::Ordering;

use orrery_kernel::network::cidr::Cidr;
use orrery_kernel::network::model::{mac_text, parse_mac};
use orrery_kernel::Error;
use serde_json::{json, Map, Value};

use super::body::{bad_input, http_bad_request, to_bool, to_int};
use super::S;
use crate::error::ApiError;

/// Raw query pairs, in order, repeated keys kept.
pub(super) type Pairs = Vec<(String, String)>;

/// One rendered resource.
pub(super) type Item = Map<String, Value>;

/// How a filter value is converted before comparing (the attribute's `convert_to`).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(super) enum Conv {
    /// Compared as given.
    Text,
    /// `convert_to_boolean`.
    Bool,
    /// `convert_to_int`.
    Int,
    /// `convert_ip_to_canonical_format`: IPv6 compacted; anything else as given.
    Ip,
    /// `convert_to_sanitized_mac_address`: lower case, colons; anything else as given.
    Mac,
    /// `convert_cidr_to_canonical_format`: InvalidInput unless a CIDR.
    Cidr,
    /// `convert_kvp_list_to_dict`, for a port's `fixed_ips=ip_address=…`.
    FixedIps,
}

/// What one collection offers list queries.
pub(super) struct Spec {
    /// The collection, as in the body (`networks`).
    pub collection: &'static str,
    /// The resource's name in Neutron's not-found message (`Network`).
    pub kind: &'static str,
    /// The not-found error code.
    pub not_found: &'static str,
    /// The filterable attributes (`is_filter`), with their conversion.
    pub filters: &'static [(&'static str, Conv)],
    /// The sortable attributes (`is_sort_key`).
    pub sort_keys: &'static [&'static str],
    /// Attributes rendered for filtering only, never shown.
    pub hidden: &'static [&'static str],
}

/// Neutron's `changed_since` filter (`standard-attr-timestamp`).
const CHANGED_SINCE: &str = "changed_since";
/// Query keys that are not filters.
const NOT_FILTERS: [&str; 6] = ["fields", "sort_key", "sort_dir", "limit", "marker", "page_reverse"];

/// A parsed list query.
pub(super) struct ListQuery {
    spec: &'static Spec,
    /// (attribute, accepted values).
    filters: Vec<(String, Vec<Value>)>,
    /// `fixed_ips` filter: accepted addresses and subnets (either may be empty: no condition).
    fixed_ips: Option<(Vec<String>, Vec<String>)>,
    /// Only resources updated at or after this ISO 8601 instant.
    changed_since: Option<String>,
    /// The attributes to show; empty for all.
    fields: Vec<String>,
    /// (attribute, ascending).
    sorts: Vec<(String, bool)>,
    /// Page size; None for no paging.
    limit: Option<usize>,
    /// The id after which the page starts.
    pub marker: Option<String>,
    page_reverse: bool,
    pairs: Pairs,
}

fn all<'a>(q: &'a Pairs, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    q.iter().filter(move |(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// The last value of `key`, as webob's `GET.get` answers.
fn last<'a>(q: &'a Pairs, key: &str) -> Option<&'a str> {
    q.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// A Python list of strings as Neutron prints it: `['a', 'b']`.
fn py_list(items: &[String]) -> String {
    format!("[{}]", items.iter().map(|i| format!("'{i}'")).collect::<Vec<_>>().join(", "))
}

impl ListQuery {
    /// Parses a query for `spec`'s collection.
    pub(super) fn parse(spec: &'static Spec, pairs: Pairs) -> Result<ListQuery, ApiError> {
        let mut q = ListQuery {
            spec,
            filters: Vec::new(),
            fixed_ips: None,
            changed_since: None,
            fields: all(&pairs, "fields").filter(|f| !f.is_empty()).map(str::to_string).collect(),
            sorts: Vec::new(),
            limit: None,
            marker: None,
            page_reverse: last(&pairs, "page_reverse").is_some_and(|v| v.eq_ignore_ascii_case("true")),
            pairs: Vec::new(),
        };
        q.parse_filters(&pairs)?;
        q.sorts = parse_sorts(spec, &pairs)?;
        q.limit = parse_limit(&pairs)?;
        q.marker = q.limit.and(last(&pairs, "marker").filter(|m| !m.is_empty()).map(str::to_string));
        q.pairs = pairs;
        Ok(q)
    }

    fn parse_filters(&mut self, pairs: &Pairs) -> Result<(), ApiError> {
        let mut keys: Vec<&str> = Vec::new();
        for (k, _) in pairs {
            if !keys.contains(&k.as_str()) && !NOT_FILTERS.contains(&k.as_str()) {
                keys.push(k);
            }
        }
        let mut invalid = Vec::new();
        for key in keys {
            let values: Vec<&str> = all(pairs, key).filter(|v| !v.is_empty()).collect();
            if key == CHANGED_SINCE {
                self.changed_since = values.first().map(|v| changed_since(v)).transpose()?;
                continue;
            }
            let Some(&(_, conv)) = self.spec.filters.iter().find(|(name, _)| *name == key) else {
                invalid.push(key.to_string());
                continue;
            };
            if values.is_empty() {
                continue;
            }
            if conv == Conv::FixedIps {
                self.fixed_ips = Some(fixed_ips_filter(&values)?);
                continue;
            }
            let converted = values.iter().map(|v| convert(conv, v)).collect::<Result<Vec<_>, _>>()?;
            self.filters.push((key.to_string(), converted));
        }
        if !invalid.is_empty() {
            return Err(http_bad_request(format!("{} is invalid attribute for filtering", py_list(&invalid))));
        }
        Ok(())
    }

    /// The values a filter on `key` accepts, if the query filters on it (for handlers that can
    /// use an index, like ports by network).
    pub(super) fn filter_values(&self, key: &str) -> Option<&[Value]> {
        self.filters.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_slice())
    }

    /// Whether `item` passes every filter.
    fn keeps(&self, item: &Item) -> bool {
        let fixed_ok = || {
            let Some((ips, subnets)) = &self.fixed_ips else { return true };
            item.get("fixed_ips").and_then(Value::as_array).is_some_and(|list| {
                list.iter().any(|f| {
                    let has = |want: &[String], key: &str| want.is_empty() || f[key].as_str().is_some_and(|v| want.iter().any(|w| w == v));
                    has(ips, "ip_address") && has(subnets, "subnet_id")
                })
            })
        };
        let since_ok = || self.changed_since.as_ref().is_none_or(|t| item.get("updated_at").and_then(Value::as_str).is_some_and(|u| u >= t.as_str()));
        self.filters.iter().all(|(k, vals)| item.get(k).is_some_and(|v| vals.contains(v))) && fixed_ok() && since_ok()
    }

    /// The order of two items: the query's sort keys, then the id ascending.
    fn order(&self, a: &Item, b: &Item) -> Ordering {
        for (key, asc) in &self.sorts {
            let o = cmp_values(a.get(key), b.get(key));
            if o.is_ne() {
                return if *asc { o } else { o.reverse() };
            }
        }
        cmp_values(a.get("id"), b.get("id"))
    }

    /// Filters, sorts and pages `items` (every resource the caller sees). `marker` is the
    /// marker's own rendering when the handler found it elsewhere than in `items`. Errors: the
    /// marker is not a resource the caller sees (Neutron's 404).
    pub(super) fn select(&self, items: Vec<Item>, marker: Option<Item>) -> Result<Vec<Item>, ApiError> {
        let marker_item = match &self.marker {
            Some(m) => Some(
                marker
                    .or_else(|| items.iter().find(|i| i.get("id").and_then(Value::as_str) == Some(m)).cloned())
                    .ok_or_else(|| ApiError::new(S, Error::not_found(self.spec.not_found, format!("{} {m} could not be found.", self.spec.kind))))?,
            ),
            None => None,
        };
        let mut kept: Vec<Item> = items.into_iter().filter(|i| self.keeps(i)).collect();
        kept.sort_by(|a, b| self.order(a, b));
        let Some(limit) = self.limit else { return Ok(kept) };
        let page: Vec<Item> = match (&marker_item, self.page_reverse) {
            (Some(m), false) => kept.into_iter().filter(|i| self.order(i, m).is_gt()).take(limit).collect(),
            (Some(m), true) => {
                let before: Vec<Item> = kept.into_iter().filter(|i| self.order(i, m).is_lt()).collect();
                let skip = before.len().saturating_sub(limit);
                before.into_iter().skip(skip).collect()
            }
            (None, false) => kept.into_iter().take(limit).collect(),
            (None, true) => {
                let skip = kept.len().saturating_sub(limit);
                kept.into_iter().skip(skip).collect()
            }
        };
        Ok(page)
    }

    /// An item as the caller gets it: hidden attributes dropped, then only the `fields` asked.
    pub(super) fn shape(&self, item: Item) -> Value {
        shape(self.spec, &self.fields, item)
    }

    /// The list body: `{collection: [...]}`, with `{collection}_links` when paging. `url` is the
    /// collection's full URL.
    pub(super) fn body(&self, url: &str, page: Vec<Item>) -> Value {
        let links = self.links(url, &page);
        let shown: Vec<Value> = page.into_iter().map(|i| self.shape(i)).collect();
        let mut body = json!({ self.spec.collection: shown });
        if !links.is_empty() {
            body[format!("{}_links", self.spec.collection)] = Value::Array(links);
        }
        body
    }

    /// `get_pagination_links`: a next link unless a forward page came up short, a previous
    /// link unless a reversed page did.
    fn links(&self, url: &str, page: &[Item]) -> Vec<Value> {
        let Some(limit) = self.limit else { return Vec::new() };
        let id = |i: Option<&Item>| i.and_then(|i| i.get("id")).and_then(Value::as_str).map(str::to_string);
        let short = page.len() < limit;
        let mut links = Vec::new();
        if !short || self.page_reverse {
            let mut p = self.params_without(&["marker", "page_reverse"]);
            p.extend(id(page.last()).map(|m| ("marker".to_string(), m)));
            links.push(json!({"rel": "next", "href": format!("{url}?{}", urlencode(&p))}));
        }
        if !short || !self.page_reverse {
            let mut p = self.params_without(&["marker", "page_reverse"]);
            p.extend(id(page.first()).map(|m| ("marker".to_string(), m)));
            p.push(("page_reverse".into(), "True".into()));
            links.push(json!({"rel": "previous", "href": format!("{url}?{}", urlencode(&p))}));
        }
        links
    }

    fn params_without(&self, keys: &[&str]) -> Pairs {
        self.pairs.iter().filter(|(k, _)| !keys.contains(&k.as_str())).cloned().collect()
    }
}

/// One resource as `GET /{collection}/{id}?fields=…` shows it.
pub(super) fn shape(spec: &Spec, fields: &[String], mut item: Item) -> Value {
    for h in spec.hidden {
        item.remove(*h);
    }
    if !fields.is_empty() {
        item.retain(|k, _| fields.iter().any(|f| f == k));
    }
    Value::Object(item)
}

/// The `fields` of a query string.
pub(super) fn fields_of(pairs: &Pairs) -> Vec<String> {
    all(pairs, "fields").filter(|f| !f.is_empty()).map(str::to_string).collect()
}

/// Neutron's order of attribute values: None first, then by value.
fn cmp_values(a: Option<&Value>, b: Option<&Value>) -> Ordering {
    let rank = |v: Option<&Value>| match v {
        None | Some(Value::Null) => 0,
        Some(Value::Bool(_)) => 1,
        Some(Value::Number(_)) => 2,
        Some(Value::String(_)) => 3,
        Some(_) => 4,
    };
    match (a, b) {
        (Some(Value::Bool(x)), Some(Value::Bool(y))) => x.cmp(y),
        (Some(Value::Number(x)), Some(Value::Number(y))) => x.as_f64().partial_cmp(&y.as_f64()).unwrap_or(Ordering::Equal),
        (Some(Value::String(x)), Some(Value::String(y))) => x.cmp(y),
        _ => rank(a).cmp(&rank(b)),
    }
}

/// `get_sorts`: as many `sort_dir` as `sort_key`, keys among the sortable attributes, dirs
/// `asc` or `desc`.
fn parse_sorts(spec: &Spec, pairs: &Pairs) -> Result<Vec<(String, bool)>, ApiError> {
    let keys: Vec<String> = all(pairs, "sort_key").filter(|v| !v.is_empty()).map(str::to_string).collect();
    let dirs: Vec<String> = all(pairs, "sort_dir").filter(|v| !v.is_empty()).map(str::to_string).collect();
    if keys.len() != dirs.len() {
        return Err(http_bad_request("The number of sort_keys and sort_dirs must be same"));
    }
    let absent: Vec<String> = keys.iter().filter(|k| !spec.sort_keys.contains(&k.as_str())).cloned().collect();
    if !absent.is_empty() {
        return Err(http_bad_request(format!("{} is invalid attribute for sort_keys", py_list(&absent))));
    }
    let bad_dirs: Vec<String> = dirs.iter().filter(|d| *d != "asc" && *d != "desc").cloned().collect();
    if !bad_dirs.is_empty() {
        return Err(http_bad_request(format!("{} is invalid value for sort_dirs, valid value is 'asc' and 'desc'", py_list(&bad_dirs))));
    }
    Ok(keys.into_iter().zip(dirs.iter().map(|d| d == "asc")).collect())
}

/// `_get_limit_param`: an integer of 0 or more (0: no paging; no maximum is configured).
fn parse_limit(pairs: &Pairs) -> Result<Option<usize>, ApiError> {
    let Some(text) = last(pairs, "limit") else { return Ok(None) };
    match text.trim().parse::<i64>() {
        Ok(0) => Ok(None),
        Ok(n) if n > 0 => Ok(Some(usize::try_from(n).unwrap_or(usize::MAX))),
        _ => {
            let msg = format!("Bad limit request: Limit must be an integer 0 or greater and not '{text}'.");
            Err(ApiError::new(S, Error::bad_request("network.bad_request", msg)))
        }
    }
}

/// A filter value converted as its attribute is.
fn convert(conv: Conv, v: &str) -> Result<Value, ApiError> {
    Ok(match conv {
        Conv::Text | Conv::FixedIps => json!(v),
        Conv::Bool => json!(to_bool(&json!(v))?),
        Conv::Int => json!(to_int(&json!(v))?),
        Conv::Ip => json!(canonical_ip(v)),
        Conv::Mac => json!(parse_mac(v).map_or_else(|| v.to_string(), mac_text)),
        Conv::Cidr => {
            let cidr = Cidr::parse(v).map_err(|e| ApiError::new(S, e))?;
            let addr = v.split_once('/').map_or(v, |(a, _)| a);
            json!(format!("{}/{}", canonical_ip(addr), cidr.prefix()))
        }
    })
}

/// An address in Neutron's canonical text (IPv6 compacted, lower case); other text as given.
fn canonical_ip(v: &str) -> String {
    match v.parse::<std::net::Ipv6Addr>() {
        Ok(ip) if v.contains(':') => ip.to_string(),
        _ => v.to_string(),
    }
}

/// `convert_kvp_list_to_dict` on `fixed_ips` values: `ip_address=X`, `subnet_id=Y`.
fn fixed_ips_filter(values: &[&str]) -> Result<(Vec<String>, Vec<String>), ApiError> {
    let (mut ips, mut subnets) = (Vec::new(), Vec::new());
    if values == ["True"] {
        return Ok((ips, subnets));
    }
    for kv in values {
        let (k, v) = kv
            .split_once('=')
            .map(|(k, v)| (k.trim(), v.trim()))
            .filter(|(k, _)| !k.is_empty())
            .ok_or_else(|| bad_input(&format!("'{kv}' is not of the form <key>=[value]")))?;
        match k {
            "ip_address" => ips.push(canonical_ip(v)),
            "subnet_id" => subnets.push(v.to_string()),
            _ => {}
        }
    }
    Ok((ips, subnets))
}

/// `changed_since`: an ISO 8601 instant, kept in the form `updated_at` is rendered in.
fn changed_since(v: &str) -> Result<String, ApiError> {
    crate::compute::servers::query::parse_iso(v)
        .map(crate::util::iso)
        .ok_or_else(|| bad_input("The input changed_since must be in the following format: YYYY-MM-DDTHH:MM:SSZ"))
}

/// Python's `urlencode` (with `quote_plus`) of query pairs.
fn urlencode(pairs: &Pairs) -> String {
    let quote = |s: &str| -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b'-' | b'~' => (b as char).to_string(),
                b' ' => "+".into(),
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    pairs.iter().map(|(k, v)| format!("{}={}", quote(k), quote(v))).collect::<Vec<_>>().join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    static SPEC: Spec = Spec {
        collection: "things",
        kind: "Thing",
        not_found: "network.thing_not_found",
        filters: &[("id", Conv::Text), ("name", Conv::Text), ("up", Conv::Bool), ("size", Conv::Int)],
        sort_keys: &["id", "name", "size"],
        hidden: &["secret"],
    };

    fn pairs(q: &str) -> Pairs {
        q.split('&').filter(|p| !p.is_empty()).map(|p| p.split_once('=').map_or((p.to_string(), String::new()), |(k, v)| (k.into(), v.into()))).collect()
    }

    fn item(id: &str, name: &str, size: i64) -> Item {
        json!({"id": id, "name": name, "size": size, "up": size % 2 == 0, "secret": 1}).as_object().unwrap().clone()
    }

    fn items() -> Vec<Item> {
        vec![item("a", "x", 3), item("b", "y", 2), item("c", "x", 1), item("d", "z", 4)]
    }

    fn ids(q: &str) -> Vec<String> {
        let lq = ListQuery::parse(&SPEC, pairs(q)).unwrap();
        lq.select(items(), None).unwrap().iter().map(|i| i["id"].as_str().unwrap().to_string()).collect()
    }

    #[test]
    fn filters_are_equality_with_alternatives_and_conversions() {
        assert_eq!(ids("name=x"), ["a", "c"]);
        assert_eq!(ids("id=a&id=d"), ["a", "d"]);
        assert_eq!(ids("up=True"), ["b", "d"]);
        assert_eq!(ids("up=false&name=x"), ["a", "c"]);
        assert_eq!(ids("size=4"), ["d"]);
        assert_eq!(ids("name="), ["a", "b", "c", "d"], "empty values are dropped");
        let err = |q: &str| ListQuery::parse(&SPEC, pairs(q)).err().unwrap().error.message().to_string();
        assert_eq!(err("colour=red&secret=1"), "['colour', 'secret'] is invalid attribute for filtering");
        assert_eq!(err("up=maybe"), "Invalid input for operation: 'maybe' cannot be converted to boolean.");
    }

    #[test]
    fn sorting_and_paging_follow_neutron() {
        assert_eq!(ids("sort_key=name&sort_dir=desc"), ["d", "b", "a", "c"]);
        assert_eq!(ids("sort_key=name&sort_dir=asc&sort_key=size&sort_dir=desc"), ["a", "c", "b", "d"]);
        assert_eq!(ids("limit=2"), ["a", "b"]);
        assert_eq!(ids("limit=2&marker=b"), ["c", "d"]);
        assert_eq!(ids("limit=2&marker=c&page_reverse=True"), ["a", "b"]);
        assert_eq!(ids("limit=3&page_reverse=true"), ["b", "c", "d"]);
        assert_eq!(ids("limit=2&marker=b&name=x"), ["c"], "the marker need not pass the filters");
        assert_eq!(ids("marker=zz"), ["a", "b", "c", "d"], "without a limit the marker is ignored");
        let err = |q: &str| ListQuery::parse(&SPEC, pairs(q)).err().unwrap().error.message().to_string();
        assert_eq!(err("sort_key=name"), "The number of sort_keys and sort_dirs must be same");
        assert_eq!(err("sort_key=up&sort_dir=asc"), "['up'] is invalid attribute for sort_keys");
        assert_eq!(err("sort_key=name&sort_dir=up"), "['up'] is invalid value for sort_dirs, valid value is 'asc' and 'desc'");
        assert_eq!(err("limit=-1"), "Bad limit request: Limit must be an integer 0 or greater and not '-1'.");
        let lq = ListQuery::parse(&SPEC, pairs("limit=2&marker=zz")).unwrap();
        assert_eq!(lq.select(items(), None).unwrap_err().error.message(), "Thing zz could not be found.");
    }

    #[test]
    fn links_fields_and_hidden_attributes() {
        let lq = ListQuery::parse(&SPEC, pairs("limit=2&name=x y&fields=name")).unwrap();
        let page = lq.select(items(), None).unwrap();
        let body = lq.body("http://h/network/v2.0/things", page);
        assert_eq!(body["things"], json!([]), "no thing is named 'x y'");
        let lq = ListQuery::parse(&SPEC, pairs("limit=2&fields=name&fields=nothing")).unwrap();
        let body = lq.body("http://h/n", lq.select(items(), None).unwrap());
        assert_eq!(body["things"], json!([{"name": "x"}, {"name": "y"}]));
        assert_eq!(
            body["things_links"],
            json!([
                {"rel": "next", "href": "http://h/n?limit=2&fields=name&fields=nothing&marker=b"},
                {"rel": "previous", "href": "http://h/n?limit=2&fields=name&fields=nothing&marker=a&page_reverse=True"}
            ])
        );
        let lq = ListQuery::parse(&SPEC, pairs("limit=3&marker=b")).unwrap();
        let body = lq.body("http://h/n", lq.select(items(), None).unwrap());
        assert_eq!(body["things_links"], json!([{"rel": "previous", "href": "http://h/n?limit=3&marker=c&page_reverse=True"}]), "a short page has no next");
        assert!(body["things"][0].get("secret").is_none(), "hidden attributes are for filters only");
        assert_eq!(urlencode(&vec![("a b".into(), "x/y=z".into())]), "a+b=x%2Fy%3Dz");
    }
}
