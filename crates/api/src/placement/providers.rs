//! Placement: resource providers, their inventories, usages, traits, aggregates and
//! allocations.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::header::LOCATION;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use orrery_kernel::placement::{class_index, views as pviews, Cmd, Inventory, InventoryInput, Provider, CLASSES, NUM_CLASSES};
use orrery_kernel::topology::Ratio;
use orrery_kernel::{Caller, Error, Kernel, Uuid};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::params::{parse_resources, resources_json, MemberOf, TraitRule};
use super::{admin_read, provider_aggregates, provider_traits, query_pairs, run, unexpected_param, Version, S};
use crate::compute::versions::{ask, auth};
use crate::error::{error_body, ApiError};
use crate::util::{new_uuid, parse_json};
use crate::AppState;

/// Routes for providers and everything under them.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/resource_providers", get(list).post(create))
        .route("/resource_providers/{uuid}", get(show).put(update).delete(delete))
        .route("/resource_providers/{uuid}/inventories", get(inventories).put(put_inventories).post(post_inventory).delete(delete_inventories))
        .route("/resource_providers/{uuid}/inventories/{class}", get(inventory).put(put_inventory).delete(delete_inventory))
        .route("/resource_providers/{uuid}/usages", get(usages))
        .route("/resource_providers/{uuid}/allocations", get(provider_allocations))
        .route("/resource_providers/{uuid}/traits", get(traits).put(derived).delete(derived))
        .route("/resource_providers/{uuid}/aggregates", get(aggregates).put(derived))
}

/// A provider as the API shows it at `v`.
pub fn provider_json(p: &Provider, v: Version) -> Value {
    let base = format!("/placement/resource_providers/{}", p.uuid);
    let mut links = vec![
        json!({"rel": "self", "href": base}),
        json!({"rel": "inventories", "href": format!("{base}/inventories")}),
        json!({"rel": "usages", "href": format!("{base}/usages")}),
    ];
    for (min, rel) in [(1, "aggregates"), (6, "traits"), (11, "allocations")] {
        if v.at_least(min) {
            links.push(json!({"rel": rel, "href": format!("{base}/{rel}")}));
        }
    }
    let mut o = json!({"uuid": p.uuid.to_string(), "name": p.name, "generation": p.generation, "links": links});
    if v.at_least(14) {
        o["parent_provider_uuid"] = Value::Null;
        o["root_provider_uuid"] = json!(p.uuid.to_string());
    }
    o
}

fn not_found(uuid: &str) -> Error {
    Error::not_found("placement.not_found", format!("No resource provider with uuid {uuid} found"))
}

/// The provider named by a path segment.
pub(super) fn find<'a>(k: &'a Kernel, c: &Caller, uuid: &str) -> orrery_kernel::Result<&'a Provider> {
    pviews::provider(k, c, uuid)
}

/// Filters of `GET /resource_providers`, each from the microversion that added it.
#[derive(Default)]
struct ListFilter {
    name: Option<String>,
    uuid: Option<Uuid>,
    resources: Option<[u64; NUM_CLASSES]>,
    member_of: Vec<MemberOf>,
    in_tree: Option<Uuid>,
    traits: TraitRule,
}

impl ListFilter {
    fn parse(raw: Option<&str>, v: Version) -> Result<ListFilter, ApiError> {
        let mut f = ListFilter::default();
        for (key, val) in query_pairs(raw) {
            match key.as_str() {
                "name" => f.name = Some(val),
                "uuid" => {
                    f.uuid = Some(val.parse().map_err(|_| ApiError::bad_request(S, format!("Invalid query string parameters: '{val}' is not a 'uuid'")))?)
                }
                "member_of" if v.at_least(3) => f.member_of.push(MemberOf::parse(&val, v)?),
                "resources" if v.at_least(4) => f.resources = Some(parse_resources(&val)?),
                "in_tree" if v.at_least(14) => f.in_tree = Some(val.parse().map_err(|_| ApiError::bad_request(S, format!("Invalid uuid value: {val}")))?),
                "required" if v.at_least(18) => f.traits.add(&val, v)?,
                other => return Err(unexpected_param(other)),
            }
        }
        Ok(f)
    }

    fn keep(&self, k: &Kernel, p: &Provider) -> bool {
        self.name.as_ref().is_none_or(|n| &p.name == n)
            && self.uuid.is_none_or(|u| p.uuid == u)
            && self.in_tree.is_none_or(|u| p.uuid == u)
            && self.resources.is_none_or(|r| p.fits(&r))
            && self.traits.holds(&provider_traits(k, p))
            && MemberOf::all_hold(&self.member_of, &provider_aggregates(k, p))
    }
}

async fn list(State(s): State<AppState>, v: Version, h: HeaderMap, RawQuery(q): RawQuery) -> Result<Json<Value>, ApiError> {
    let filter = ListFilter::parse(q.as_deref(), v)?;
    let rps =
        admin_read(&s, &h, move |k, c| Ok(pviews::providers(k, c)?.filter(|p| filter.keep(k, p)).map(|p| provider_json(p, v)).collect::<Vec<_>>())).await?;
    Ok(Json(json!({"resource_providers": rps})))
}

async fn show(State(s): State<AppState>, v: Version, h: HeaderMap, Path(uuid): Path<String>) -> Result<Json<Value>, ApiError> {
    let p = admin_read(&s, &h, move |k, c| find(k, c, &uuid).map(|p| provider_json(p, v))).await?;
    Ok(Json(p))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProviderBody {
    name: String,
    #[serde(default)]
    uuid: Option<Uuid>,
    #[serde(default)]
    parent_provider_uuid: Option<Uuid>,
}

impl ProviderBody {
    fn check(&self, v: Version, creating: bool) -> Result<(), ApiError> {
        let unexpected = |f: &str| ApiError::bad_request(S, format!("JSON does not validate: Additional properties are not allowed ('{f}' was unexpected)"));
        if !creating && self.uuid.is_some() {
            return Err(unexpected("uuid"));
        }
        if self.parent_provider_uuid.is_some() {
            if !v.at_least(14) {
                return Err(unexpected("parent_provider_uuid"));
            }
            return Err(ApiError::not_implemented(S, "orrery's placement is flat: nested resource providers (parent_provider_uuid) are not built."));
        }
        if self.name.is_empty() || self.name.chars().count() > 200 {
            return Err(ApiError::bad_request(S, "JSON does not validate: the name must be 1 to 200 characters long."));
        }
        Ok(())
    }
}

async fn create(State(s): State<AppState>, v: Version, h: HeaderMap, body: Bytes) -> Result<Response, ApiError> {
    super::auth(&h, S)?;
    let b: ProviderBody = parse_json(S, &body)?;
    b.check(v, true)?;
    let uuid = b.uuid.unwrap_or_else(new_uuid);
    run(&s, &h, Cmd::CreateProvider { uuid, name: b.name }).await?;
    let location = format!("/placement/resource_providers/{uuid}");
    if !v.at_least(20) {
        return Ok((StatusCode::CREATED, [(LOCATION, location)]).into_response());
    }
    let p = admin_read(&s, &h, move |k, c| find(k, c, &uuid.to_string()).map(|p| provider_json(p, v))).await?;
    Ok((StatusCode::OK, [(LOCATION, location)], Json(p)).into_response())
}

async fn update(State(s): State<AppState>, v: Version, h: HeaderMap, Path(uuid): Path<String>, body: Bytes) -> Result<Json<Value>, ApiError> {
    super::auth(&h, S)?;
    let b: ProviderBody = parse_json(S, &body)?;
    b.check(v, false)?;
    let id: Uuid = uuid.parse().map_err(|_| ApiError::new(S, not_found(&uuid)))?;
    run(&s, &h, Cmd::RenameProvider { uuid: id, name: b.name }).await?;
    let p = admin_read(&s, &h, move |k, c| find(k, c, &uuid).map(|p| provider_json(p, v))).await?;
    Ok(Json(p))
}

async fn delete(State(s): State<AppState>, h: HeaderMap, Path(uuid): Path<String>) -> Result<StatusCode, ApiError> {
    let id: Uuid = uuid.parse().map_err(|_| ApiError::new(S, not_found(&uuid)))?;
    run(&s, &h, Cmd::DeleteProvider { uuid: id }).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn inventory_json(inv: &Inventory) -> Value {
    json!({
        "total": inv.total, "reserved": inv.reserved, "min_unit": inv.min_unit, "max_unit": inv.max_unit,
        "step_size": inv.step_size, "allocation_ratio": inv.allocation_ratio.0,
    })
}

fn inventories_of(p: &Provider) -> Map<String, Value> {
    p.inventories.iter().enumerate().filter_map(|(c, inv)| inv.as_ref().map(|i| (CLASSES[c].to_string(), inventory_json(i)))).collect()
}

async fn inventories(State(s): State<AppState>, h: HeaderMap, Path(uuid): Path<String>) -> Result<Json<Value>, ApiError> {
    let body =
        admin_read(&s, &h, move |k, c| find(k, c, &uuid).map(|p| json!({"inventories": inventories_of(p), "resource_provider_generation": p.generation})))
            .await?;
    Ok(Json(body))
}

async fn inventory(State(s): State<AppState>, h: HeaderMap, Path((uuid, class)): Path<(String, String)>) -> Result<Json<Value>, ApiError> {
    let body = admin_read(&s, &h, move |k, c| {
        let p = find(k, c, &uuid)?;
        let inv = class_index(&class).and_then(|c| p.inventories[c].as_ref());
        let inv = inv.ok_or_else(|| Error::not_found("placement.not_found", format!("No inventory of class {class} for {uuid}")))?;
        let mut o = inventory_json(inv);
        o["resource_provider_generation"] = json!(p.generation);
        Ok(o)
    })
    .await?;
    Ok(Json(body))
}

/// One inventory in a request; only `total` is required.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InventoryBody {
    total: u64,
    #[serde(default)]
    reserved: u64,
    #[serde(default = "one")]
    min_unit: u64,
    #[serde(default = "max_int")]
    max_unit: u64,
    #[serde(default = "one")]
    step_size: u64,
    #[serde(default = "ratio_one")]
    allocation_ratio: f64,
}

fn one() -> u64 {
    1
}
fn max_int() -> u64 {
    i32::MAX as u64
}
fn ratio_one() -> f64 {
    1.0
}

impl InventoryBody {
    fn into_input(self, class: &str, v: Version) -> Result<InventoryInput, ApiError> {
        let bad = |m: String| ApiError::bad_request(S, format!("Unable to update inventory for resource provider: {m}"));
        let fields = [self.total, self.reserved, self.min_unit, self.max_unit, self.step_size];
        if self.total < 1 || self.min_unit < 1 || self.max_unit < 1 || self.step_size < 1 || fields.iter().any(|&f| f > max_int()) {
            return Err(bad(format!(
                "{class}: total, min_unit, max_unit and step_size must be between 1 and {max}, and reserved at most {max}.",
                max = max_int()
            )));
        }
        if !(self.allocation_ratio > 0.0 && self.allocation_ratio.is_finite()) {
            return Err(bad(format!("{class}: allocation_ratio must be above 0.")));
        }
        let reserved_ok = if v.at_least(26) { self.reserved <= self.total } else { self.reserved < self.total || self.reserved == 0 };
        if !reserved_ok {
            return Err(bad(format!("Invalid inventory for '{class}': Specified reserved {} is greater than total {}.", self.reserved, self.total)));
        }
        if class_index(class).is_none() {
            return Err(ApiError::bad_request(S, format!("Unknown resource class in inventory: {class}. orrery models {}.", CLASSES.join(", "))));
        }
        let inventory = Inventory {
            total: self.total,
            reserved: self.reserved,
            min_unit: self.min_unit,
            max_unit: self.max_unit,
            step_size: self.step_size,
            allocation_ratio: Ratio(self.allocation_ratio),
        };
        Ok(InventoryInput { class: class.to_string(), inventory })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InventoriesBody {
    resource_provider_generation: u64,
    inventories: BTreeMap<String, InventoryBody>,
}

/// Replaces a provider's inventories and answers with the new set and generation.
async fn replace(s: &AppState, h: &HeaderMap, uuid: &str, generation: u64, inventories: Vec<InventoryInput>) -> Result<(u64, Map<String, Value>), ApiError> {
    let id: Uuid = uuid.parse().map_err(|_| ApiError::new(S, not_found(uuid)))?;
    let g = ask(s, S, auth(h, S)?, orrery_kernel::ask::placement::set_inventories(id, generation, inventories)).await?;
    let uuid = uuid.to_string();
    let invs = admin_read(s, h, move |k, c| find(k, c, &uuid).map(inventories_of)).await?;
    Ok((g, invs))
}

async fn put_inventories(State(s): State<AppState>, v: Version, h: HeaderMap, Path(uuid): Path<String>, body: Bytes) -> Result<Json<Value>, ApiError> {
    super::auth(&h, S)?;
    let b: InventoriesBody = parse_json(S, &body)?;
    let inputs = b.inventories.into_iter().map(|(c, i)| i.into_input(&c, v)).collect::<Result<Vec<_>, _>>()?;
    let (g, invs) = replace(&s, &h, &uuid, b.resource_provider_generation, inputs).await?;
    Ok(Json(json!({"inventories": invs, "resource_provider_generation": g})))
}

/// The provider's current inventories (as inputs) and generation.
async fn current(s: &AppState, h: &HeaderMap, uuid: &str) -> Result<(u64, Vec<InventoryInput>), ApiError> {
    let uuid = uuid.to_string();
    admin_read(s, h, move |k, c| {
        let p = find(k, c, &uuid)?;
        let invs = p.inventories.iter().enumerate().filter_map(|(c, i)| i.clone().map(|inventory| InventoryInput { class: CLASSES[c].to_string(), inventory }));
        Ok((p.generation, invs.collect()))
    })
    .await
}

async fn delete_inventories(State(s): State<AppState>, v: Version, h: HeaderMap, Path(uuid): Path<String>) -> Result<Response, ApiError> {
    if !v.at_least(5) {
        let msg = "The method DELETE is not allowed for this resource before microversion 1.5.";
        return Ok((StatusCode::METHOD_NOT_ALLOWED, Json(error_body(S, StatusCode::METHOD_NOT_ALLOWED, "placement.undefined_code", msg))).into_response());
    }
    let (g, _) = current(&s, &h, &uuid).await?;
    replace(&s, &h, &uuid, g, Vec::new()).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// One inventory with its provider generation; unknown fields are caught when the flattened
/// rest is parsed as an [`InventoryBody`].
#[derive(Deserialize)]
struct OneInventoryBody {
    /// Required by PUT; optional for POST, which then skips the generation check.
    #[serde(default)]
    resource_provider_generation: Option<u64>,
    #[serde(default)]
    resource_class: Option<String>,
    #[serde(flatten)]
    inventory: Value,
}

impl OneInventoryBody {
    /// The inventory fields, strictly parsed.
    fn inventory(&self) -> Result<InventoryBody, ApiError> {
        serde_json::from_value(self.inventory.clone()).map_err(|e| ApiError::bad_request(S, format!("JSON does not validate: {e}")))
    }
}

async fn post_inventory(State(s): State<AppState>, v: Version, h: HeaderMap, Path(uuid): Path<String>, body: Bytes) -> Result<Response, ApiError> {
    super::auth(&h, S)?;
    let b: OneInventoryBody = parse_json(S, &body)?;
    let class = b.resource_class.clone().ok_or_else(|| ApiError::bad_request(S, "JSON does not validate: 'resource_class' is a required property"))?;
    let input = b.inventory()?.into_input(&class, v)?;
    let (now, mut invs) = current(&s, &h, &uuid).await?;
    if invs.iter().any(|i| i.class == class) {
        return Err(ApiError::new(S, Error::conflict("placement.conflict", format!("Inventory for {class} on resource provider {uuid} already exists."))));
    }
    invs.push(input);
    let (g, all) = replace(&s, &h, &uuid, b.resource_provider_generation.unwrap_or(now), invs).await?;
    let mut o = all.get(&class).cloned().unwrap_or(Value::Null);
    o["resource_provider_generation"] = json!(g);
    let loc = format!("/placement/resource_providers/{uuid}/inventories/{class}");
    Ok((StatusCode::CREATED, [(LOCATION, loc)], Json(o)).into_response())
}

async fn put_inventory(
    State(s): State<AppState>,
    v: Version,
    h: HeaderMap,
    Path((uuid, class)): Path<(String, String)>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    super::auth(&h, S)?;
    let b: OneInventoryBody = parse_json(S, &body)?;
    if b.resource_class.is_some() {
        return Err(ApiError::bad_request(S, "JSON does not validate: Additional properties are not allowed ('resource_class' was unexpected)"));
    }
    let generation = b
        .resource_provider_generation
        .ok_or_else(|| ApiError::bad_request(S, "JSON does not validate: 'resource_provider_generation' is a required property"))?;
    let input = b.inventory()?.into_input(&class, v)?;
    let (_, mut invs) = current(&s, &h, &uuid).await?;
    invs.retain(|i| i.class != class);
    invs.push(input);
    let (g, all) = replace(&s, &h, &uuid, generation, invs).await?;
    let mut o = all.get(&class).cloned().unwrap_or(Value::Null);
    o["resource_provider_generation"] = json!(g);
    Ok(Json(o))
}

async fn delete_inventory(State(s): State<AppState>, h: HeaderMap, Path((uuid, class)): Path<(String, String)>) -> Result<StatusCode, ApiError> {
    let (g, mut invs) = current(&s, &h, &uuid).await?;
    let before = invs.len();
    invs.retain(|i| i.class != class);
    if invs.len() == before {
        return Err(ApiError::not_found(S, format!("No inventory of class {class} found for delete")));
    }
    replace(&s, &h, &uuid, g, invs).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn usages(State(s): State<AppState>, h: HeaderMap, Path(uuid): Path<String>) -> Result<Json<Value>, ApiError> {
    let body = admin_read(&s, &h, move |k, c| {
        let p = find(k, c, &uuid)?;
        let u: Map<String, Value> = (0..NUM_CLASSES).filter(|&c| p.inventories[c].is_some()).map(|c| (CLASSES[c].to_string(), json!(p.usage[c]))).collect();
        Ok(json!({"resource_provider_generation": p.generation, "usages": u}))
    })
    .await?;
    Ok(Json(body))
}

async fn provider_allocations(State(s): State<AppState>, h: HeaderMap, Path(uuid): Path<String>) -> Result<Json<Value>, ApiError> {
    let body = admin_read(&s, &h, move |k, c| {
        let p = find(k, c, &uuid)?;
        let allocs: Map<String, Value> =
            pviews::allocations_on(k, c, p)?.into_iter().map(|(id, r)| (id.to_string(), json!({"resources": resources_json(&r)}))).collect();
        Ok(json!({"allocations": allocs, "resource_provider_generation": p.generation}))
    })
    .await?;
    Ok(Json(body))
}

async fn traits(State(s): State<AppState>, v: Version, h: HeaderMap, Path(uuid): Path<String>) -> Result<Json<Value>, ApiError> {
    if !v.at_least(6) {
        return Err(ApiError::not_found(S, "The resource could not be found."));
    }
    let body =
        admin_read(&s, &h, move |k, c| find(k, c, &uuid).map(|p| json!({"traits": provider_traits(k, p), "resource_provider_generation": p.generation})))
            .await?;
    Ok(Json(body))
}

async fn aggregates(State(s): State<AppState>, v: Version, h: HeaderMap, Path(uuid): Path<String>) -> Result<Json<Value>, ApiError> {
    if !v.at_least(1) {
        return Err(ApiError::not_found(S, "The resource could not be found."));
    }
    let body = admin_read(&s, &h, move |k, c| {
        let p = find(k, c, &uuid)?;
        let aggs: Vec<String> = provider_aggregates(k, p).iter().map(Uuid::to_string).collect();
        let mut o = json!({"aggregates": aggs});
        if v.at_least(19) {
            o["resource_provider_generation"] = json!(p.generation);
        }
        Ok(o)
    })
    .await?;
    Ok(Json(body))
}

async fn derived(uri: axum::http::Uri) -> ApiError {
    let what = "A resource provider's traits come from the topology and its aggregates from Nova's host aggregates (os-aggregates)";
    ApiError::not_implemented(S, format!("{what}; both are read-only in placement in orrery ({}).", uri.path()))
}
