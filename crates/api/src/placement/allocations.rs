//! Placement: allocations per consumer, project usages and allocation candidates, with the
//! query syntax they share (`resources`, `required`, `member_of`, request groups).

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use orrery_kernel::placement::{views as pviews, Cmd, ConsumerAllocations, Provider, Resources, CLASSES, NUM_CLASSES};
use orrery_kernel::{Kernel, Uuid};
use serde::{Deserialize, Deserializer};
use serde_json::{json, Map, Value};

use super::params::{parse_resources, resources_json, MemberOf, TraitRule};
use super::{admin_read, provider_aggregates, provider_traits, query_pairs, run, unexpected_param, Version, S};
use crate::error::ApiError;
use crate::util::parse_json;
use crate::AppState;

/// Routes for allocations, usages and allocation candidates.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/allocations", axum::routing::post(post_many))
        .route("/allocations/{consumer}", get(show).put(put).delete(delete))
        .route("/usages", get(usages))
        .route("/allocation_candidates", get(candidates))
}

/// One request group of an allocation-candidates query.
#[derive(Default)]
struct Group {
    resources: Resources,
    traits: TraitRule,
    member_of: Vec<MemberOf>,
    in_tree: Option<Uuid>,
}

/// A parsed `GET /allocation_candidates` query.
#[derive(Default)]
struct CandidateQuery {
    groups: BTreeMap<String, Group>,
    isolate: bool,
    limit: Option<usize>,
    root: TraitRule,
    same_subtree: Vec<Vec<String>>,
}

/// Splits `resources12` into (`resources`, `12`) when the suffix is legal at `v`.
fn split_suffix(key: &str, v: Version) -> Option<(&str, &str)> {
    ["resources", "required", "member_of", "in_tree"].into_iter().find_map(|base| {
        let suffix = key.strip_prefix(base)?;
        let ok = suffix.is_empty()
            || (v.at_least(25) && suffix.bytes().all(|b| b.is_ascii_digit()) && !suffix.starts_with('0'))
            || (v.at_least(33) && suffix.len() <= 64 && suffix.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'));
        ok.then_some((base, suffix))
    })
}

impl CandidateQuery {
    fn parse(raw: Option<&str>, v: Version) -> Result<CandidateQuery, ApiError> {
        let mut q = CandidateQuery::default();
        let mut policy = None;
        for (key, val) in query_pairs(raw) {
            match (key.as_str(), split_suffix(&key, v)) {
                ("limit", _) if v.at_least(16) => {
                    q.limit =
                        Some(val.parse().ok().filter(|&n: &usize| n > 0).ok_or_else(|| {
                            ApiError::bad_request(S, format!("Invalid query string parameters: '{val}' is not a positive integer for limit"))
                        })?);
                }
                ("group_policy", _) if v.at_least(25) => policy = Some(val),
                ("root_required", _) if v.at_least(35) => q.root.add(&val, v)?,
                ("same_subtree", _) if v.at_least(36) => q.same_subtree.push(val.split(',').map(str::to_string).collect()),
                (_, Some((base, suffix))) => q.add(base, suffix, &val, v).map_err(|e| e.unwrap_or_else(|| unexpected_param(&key)))?,
                _ => return Err(unexpected_param(&key)),
            }
        }
        q.validate(policy, v)?;
        Ok(q)
    }

    /// Adds one group parameter; `Err(None)` means the parameter is not legal at `v`.
    fn add(&mut self, base: &str, suffix: &str, val: &str, v: Version) -> Result<(), Option<ApiError>> {
        let g = self.groups.entry(suffix.to_string()).or_default();
        match base {
            "resources" if g.resources.iter().any(|&r| r > 0) => {
                return Err(Some(ApiError::bad_request(S, format!("Badly formed resources parameter: resources{suffix} is given twice."))));
            }
            "resources" => g.resources = parse_resources(val)?,
            "required" if v.at_least(17) => g.traits.add(val, v)?,
            "member_of" if v.at_least(21) => g.member_of.push(MemberOf::parse(val, v)?),
            "in_tree" if v.at_least(31) => g.in_tree = Some(val.parse().map_err(|_| ApiError::bad_request(S, format!("Invalid uuid value: {val}")))?),
            _ => return Err(None),
        }
        Ok(())
    }

    fn validate(&mut self, policy: Option<String>, v: Version) -> Result<(), ApiError> {
        if !self.groups.values().any(|g| g.resources.iter().any(|&r| r > 0)) {
            return Err(ApiError::bad_request(
                S,
                "Badly formed resources parameter. Expected resources query string parameter in form: ?resources=VCPU:2,MEMORY_MB:1024. Got: empty string.",
            ));
        }
        if !v.at_least(36) && self.groups.values().any(|g| g.resources.iter().all(|&r| r == 0)) {
            return Err(ApiError::bad_request(S, "All request groups must specify resources."));
        }
        let numbered = self.groups.keys().filter(|k| !k.is_empty()).count();
        match policy.as_deref() {
            None if numbered > 1 => {
                return Err(ApiError::bad_request(S, "The \"group_policy\" parameter is required when specifying more than one \"resources{N}\" parameter."))
            }
            None | Some("none") => {}
            Some("isolate") => self.isolate = numbered > 1,
            Some(other) => return Err(ApiError::bad_request(S, format!("Invalid query string parameters: '{other}' is not one of ['none', 'isolate']"))),
        }
        for suffix in self.same_subtree.iter().flatten() {
            if suffix.is_empty() || !self.groups.contains_key(suffix) {
                return Err(ApiError::bad_request(S, format!("Real suffixes should be specified in same_subtree: {suffix} is not a request group suffix.")));
            }
        }
        Ok(())
    }

    fn total(&self) -> Resources {
        let mut t = [0; NUM_CLASSES];
        for g in self.groups.values() {
            (0..NUM_CLASSES).for_each(|c| t[c] += g.resources[c]);
        }
        t
    }

    /// Whether one provider (a whole tree, in orrery's flat placement) satisfies every group.
    fn accepts(&self, k: &Kernel, p: &Provider) -> bool {
        let (traits, aggs) = (provider_traits(k, p), provider_aggregates(k, p));
        self.root.holds(&traits)
            && self.groups.values().all(|g| g.traits.holds(&traits) && MemberOf::all_hold(&g.member_of, &aggs) && g.in_tree.is_none_or(|t| t == p.uuid))
    }
}

/// Candidate providers, best-first: schedulable hosts from placement's capacity index, then
/// providers that stand for no host. Never a scan of every host.
fn find_candidates(k: &Kernel, q: &CandidateQuery) -> Vec<u32> {
    if q.isolate {
        return Vec::new();
    }
    let total = q.total();
    let pl = &k.placement();
    let hosts = pl.candidates(None, &total);
    let others = (pl.by_host.len()..pl.providers.len()).map(|i| i as u32).filter(|&i| pl.provider(i).is_some_and(|p| p.host.is_none() && p.fits(&total)));
    hosts.chain(others).filter(|&i| pl.provider(i).is_some_and(|p| q.accepts(k, p))).take(q.limit.unwrap_or(usize::MAX)).collect()
}

fn summary(k: &Kernel, p: &Provider, q: &CandidateQuery, v: Version) -> Value {
    let total = q.total();
    let res: Map<String, Value> = (0..NUM_CLASSES)
        .filter(|&c| if v.at_least(27) { p.inventories[c].is_some() } else { total[c] > 0 })
        .filter_map(|c| p.inventories[c].as_ref().map(|inv| (CLASSES[c].to_string(), json!({"capacity": inv.capacity(), "used": p.usage[c]}))))
        .collect();
    let mut o = json!({"resources": res});
    if v.at_least(17) {
        o["traits"] = json!(provider_traits(k, p));
    }
    if v.at_least(29) {
        o["parent_provider_uuid"] = Value::Null;
        o["root_provider_uuid"] = json!(p.uuid.to_string());
    }
    o
}

fn request_json(p: &Provider, q: &CandidateQuery, v: Version) -> Value {
    let res = resources_json(&q.total());
    let uuid = p.uuid.to_string();
    let mut o = if v.at_least(12) {
        json!({"allocations": {uuid.clone(): {"resources": res}}})
    } else {
        json!({"allocations": [{"resource_provider": {"uuid": uuid}, "resources": res}]})
    };
    if v.at_least(34) {
        let mappings: Map<String, Value> = q.groups.keys().map(|s| (s.clone(), json!([uuid]))).collect();
        o["mappings"] = Value::Object(mappings);
    }
    o
}

async fn candidates(State(s): State<AppState>, v: Version, h: HeaderMap, RawQuery(raw): RawQuery) -> Result<Json<Value>, ApiError> {
    if !v.at_least(10) {
        return Err(ApiError::not_found(S, "The resource could not be found."));
    }
    let q = CandidateQuery::parse(raw.as_deref(), v)?;
    let body = admin_read(&s, &h, move |k, _| {
        let found = find_candidates(k, &q);
        let providers = found.iter().filter_map(|&i| pviews::provider_at(k, i));
        let requests: Vec<Value> = providers.clone().map(|p| request_json(p, &q, v)).collect();
        let summaries: Map<String, Value> = providers.map(|p| (p.uuid.to_string(), summary(k, p, &q, v))).collect();
        Ok(json!({"allocation_requests": requests, "provider_summaries": summaries}))
    })
    .await?;
    Ok(Json(body))
}

/// Parses a consumer id from the path.
fn consumer_id(text: &str) -> Result<Uuid, ApiError> {
    text.parse().map_err(|_| ApiError::bad_request(S, format!("Malformed consumer_uuid: {text}")))
}

async fn show(State(s): State<AppState>, v: Version, h: HeaderMap, Path(consumer): Path<String>) -> Result<Json<Value>, ApiError> {
    let id = consumer_id(&consumer)?;
    let body = admin_read(&s, &h, move |k, c| {
        let Some(c) = pviews::consumer(k, c, &id)? else { return Ok(json!({"allocations": {}})) };
        let allocs: Map<String, Value> = c
            .allocations
            .iter()
            .filter_map(|(&idx, r)| {
                pviews::provider_at(k, idx).map(|p| (p.uuid.to_string(), json!({"generation": p.generation, "resources": resources_json(r)})))
            })
            .collect();
        let mut o = json!({"allocations": allocs});
        if v.at_least(12) {
            o["project_id"] = json!(c.project.simple());
            o["user_id"] = json!(c.user.simple());
        }
        if v.at_least(28) {
            o["consumer_generation"] = json!(c.generation);
        }
        Ok(o)
    })
    .await?;
    Ok(Json(body))
}

/// Deserializes a field that may be absent (outer `None`) or null (`Some(None)`).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<u64>>, D::Error> {
    Option::<u64>::deserialize(d).map(Some)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RpRef {
    uuid: Uuid,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListAlloc {
    resource_provider: RpRef,
    resources: BTreeMap<String, u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListBody {
    allocations: Vec<ListAlloc>,
    #[serde(default)]
    project_id: Option<String>,
    #[serde(default)]
    user_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DictAlloc {
    resources: BTreeMap<String, u64>,
    /// Accepted and ignored, as placement does.
    #[serde(default, rename = "generation")]
    _generation: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DictBody {
    allocations: BTreeMap<Uuid, DictAlloc>,
    #[serde(default)]
    project_id: Option<String>,
    #[serde(default)]
    user_id: Option<String>,
    #[serde(default, deserialize_with = "present")]
    consumer_generation: Option<Option<u64>>,
}

/// A project or user id: Keystone's hex or a UUID; before 1.8 an absent one is the
/// all-zero "incomplete consumer" id.
fn owner_id(field: &str, value: Option<&str>, v: Version) -> Result<Uuid, ApiError> {
    match value {
        None if !v.at_least(8) => Ok(Uuid(0)),
        None => Err(ApiError::bad_request(S, format!("JSON does not validate: '{field}' is a required property"))),
        Some(t) => t.parse().map_err(|_| ApiError::bad_request(S, format!("orrery keeps {field} values as UUIDs or 32 hex digits; got '{t}'."))),
    }
}

/// Flattens per-provider resources into the kernel's triples, refusing zero amounts.
fn triples(items: impl Iterator<Item = (Uuid, BTreeMap<String, u64>)>) -> Result<Vec<(Uuid, String, u64)>, ApiError> {
    let mut out = Vec::new();
    for (rp, res) in items {
        for (class, amount) in res {
            if amount == 0 {
                return Err(ApiError::bad_request(S, format!("JSON does not validate: 0 is less than the minimum of 1 ({class} on {rp})")));
            }
            out.push((rp, class, amount));
        }
    }
    Ok(out)
}

/// One consumer's allocations from a dict-format body at `v`.
fn from_dict(consumer: Uuid, b: DictBody, v: Version) -> Result<ConsumerAllocations, ApiError> {
    if v.at_least(28) && b.consumer_generation.is_none() {
        return Err(ApiError::bad_request(S, "JSON does not validate: 'consumer_generation' is a required property"));
    }
    if !v.at_least(28) && b.consumer_generation.is_some() {
        return Err(ApiError::bad_request(S, "JSON does not validate: Additional properties are not allowed ('consumer_generation' was unexpected)"));
    }
    let project = owner_id("project_id", b.project_id.as_deref(), v)?;
    let user = owner_id("user_id", b.user_id.as_deref(), v)?;
    let allocations = triples(b.allocations.into_iter().map(|(rp, a)| (rp, a.resources)))?;
    Ok(ConsumerAllocations { consumer, project, user, generation: b.consumer_generation, allocations })
}

async fn put(State(s): State<AppState>, v: Version, h: HeaderMap, Path(consumer): Path<String>, body: Bytes) -> Result<StatusCode, ApiError> {
    super::auth(&h, S)?;
    let id = consumer_id(&consumer)?;
    let ca = if v.at_least(12) {
        from_dict(id, parse_json(S, &body)?, v)?
    } else {
        let b: ListBody = parse_json(S, &body)?;
        if b.allocations.is_empty() {
            return Err(ApiError::bad_request(S, "JSON does not validate: [] is too short"));
        }
        let project = owner_id("project_id", b.project_id.as_deref(), v)?;
        let user = owner_id("user_id", b.user_id.as_deref(), v)?;
        let allocations = triples(b.allocations.into_iter().map(|a| (a.resource_provider.uuid, a.resources)))?;
        ConsumerAllocations { consumer: id, project, user, generation: None, allocations }
    };
    run(&s, &h, Cmd::SetConsumers { consumers: vec![ca] }).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn post_many(State(s): State<AppState>, v: Version, h: HeaderMap, body: Bytes) -> Result<StatusCode, ApiError> {
    super::auth(&h, S)?;
    if !v.at_least(13) {
        return Err(ApiError::not_found(S, "The resource could not be found."));
    }
    let b: BTreeMap<Uuid, DictBody> = parse_json(S, &body)?;
    let consumers = b.into_iter().map(|(c, d)| from_dict(c, d, v)).collect::<Result<Vec<_>, _>>()?;
    run(&s, &h, Cmd::SetConsumers { consumers }).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn delete(State(s): State<AppState>, h: HeaderMap, Path(consumer): Path<String>) -> Result<StatusCode, ApiError> {
    let id = consumer_id(&consumer)?;
    // One command: whether the consumer holds anything is checked when the delete lands.
    run(&s, &h, Cmd::DeleteAllocations { consumer: id }).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn usages(State(s): State<AppState>, v: Version, h: HeaderMap, RawQuery(raw): RawQuery) -> Result<Json<Value>, ApiError> {
    if !v.at_least(9) {
        return Err(ApiError::not_found(S, "The resource could not be found."));
    }
    let (mut project, mut user) = (None, None);
    for (key, val) in query_pairs(raw.as_deref()) {
        let id = val.parse::<Uuid>().map_err(|_| ApiError::bad_request(S, format!("orrery keeps {key} values as UUIDs or 32 hex digits; got '{val}'.")))?;
        match key.as_str() {
            "project_id" => project = Some(id),
            "user_id" => user = Some(id),
            other => return Err(unexpected_param(other)),
        }
    }
    let project = project.ok_or_else(|| ApiError::bad_request(S, "Invalid query string parameters: 'project_id' is a required property"))?;
    let body = admin_read(&s, &h, move |k, c| Ok(json!({"usages": resources_json(&pviews::usages(k, c, project, user)?)}))).await?;
    Ok(Json(body))
}
