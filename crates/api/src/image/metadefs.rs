//! Metadata definitions (Glance's `/v2/metadefs`): namespaces, their resource type
//! associations, property definitions, objects and tags. The shell turns JSON into the
//! kernel's records (a property definition becomes canonical JSON text plus the title and type
//! the kernel checks) and the kernel's records back into Glance's shapes.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use orrery_kernel::image::cmds::Cmd as ImageCmd;
use orrery_kernel::image::metadefs::{self as kdefs, Association, Cmd, Contents, Namespace, NamespaceInfo, Object, ObjectSpec, Part, Property, Stamp};
use orrery_kernel::{Caller, Command, Error, Kernel};
use serde_json::{json, Map, Value};

use super::S;
use crate::compute::versions::{apply, auth, read};
use crate::error::ApiError;
use crate::util::{iso, parse_json};
use crate::AppState;

/// Keys a property definition may have (Glance's property schema).
const PROPERTY_KEYS: &[&str] = &[
    "title",
    "description",
    "operators",
    "type",
    "readonly",
    "default",
    "minimum",
    "maximum",
    "maxLength",
    "minLength",
    "pattern",
    "enum",
    "items",
    "maxItems",
    "minItems",
    "uniqueItems",
    "additionalItems",
];

/// Routes under `/v2/metadefs`.
pub fn routes() -> Router<AppState> {
    let ns = "/v2/metadefs/namespaces/{ns}";
    Router::new()
        .route("/v2/metadefs/resource_types", get(resource_types))
        .route("/v2/metadefs/namespaces", get(list).post(create))
        .route(ns, get(show).put(update).delete(delete))
        .route(&format!("{ns}/resource_types"), get(associations).post(associate))
        .route(&format!("{ns}/resource_types/{{name}}"), axum::routing::delete(|s, h, p| remove(s, h, p, Part::ResourceType)))
        .route(&format!("{ns}/properties"), get(properties).post(create_property).delete(|s, h, p| remove_all(s, h, p, Part::Property)))
        .route(&format!("{ns}/properties/{{name}}"), get(show_property).put(update_property).delete(|s, h, p| remove(s, h, p, Part::Property)))
        .route(&format!("{ns}/objects"), get(objects).post(create_object).delete(|s, h, p| remove_all(s, h, p, Part::Object)))
        .route(&format!("{ns}/objects/{{name}}"), get(show_object).put(update_object).delete(|s, h, p| remove(s, h, p, Part::Object)))
        .route(&format!("{ns}/tags"), get(tags).post(set_tags).delete(|s, h, p| remove_all(s, h, p, Part::Tag)))
        .route(&format!("{ns}/tags/{{name}}"), post(create_tag).get(show_tag).put(update_tag).delete(|s, h, p| remove(s, h, p, Part::Tag)))
}

fn stamped(mut o: Value, s: &Stamp) -> Value {
    o["created_at"] = json!(iso(s.created_at));
    o["updated_at"] = json!(iso(s.updated_at));
    o
}

fn property_json(name: &str, p: &Property) -> Value {
    let mut o: Value = serde_json::from_str(&p.doc).unwrap_or_else(|_| json!({"title": p.title, "type": p.kind}));
    o["name"] = json!(name);
    o
}

fn properties_json(ps: &BTreeMap<String, Property>) -> Value {
    Value::Object(ps.iter().map(|(n, p)| (n.clone(), property_json(n, p))).collect())
}

fn object_json(ns: &str, name: &str, o: &Object) -> Value {
    let body = json!({
        "name": name, "description": o.description, "required": o.required, "properties": properties_json(&o.properties),
        "schema": "/v2/schemas/metadefs/object", "self": format!("/v2/metadefs/namespaces/{ns}/objects/{name}"),
    });
    stamped(body, &o.stamp)
}

fn association_json(name: &str, a: &Association) -> Value {
    let mut o = json!({"name": name});
    if let Some(p) = &a.prefix {
        o["prefix"] = json!(p);
    }
    if let Some(t) = &a.properties_target {
        o["properties_target"] = json!(t);
    }
    stamped(o, &a.stamp)
}

fn tag_json(name: &str, s: &Stamp) -> Value {
    stamped(json!({"name": name}), s)
}

/// A namespace's own attributes and associations; `full` adds its properties, objects and tags.
fn namespace_json(ns: &Namespace, full: bool) -> Value {
    let name = &ns.namespace;
    let mut o = json!({
        "namespace": name, "visibility": ns.info.visibility, "protected": ns.info.protected,
        "owner": ns.info.owner.map(|o| o.simple()),
        "schema": "/v2/schemas/metadefs/namespace", "self": format!("/v2/metadefs/namespaces/{name}"),
    });
    if let Some(d) = &ns.info.display_name {
        o["display_name"] = json!(d);
    }
    if let Some(d) = &ns.info.description {
        o["description"] = json!(d);
    }
    if !ns.resource_types.is_empty() {
        o["resource_type_associations"] = ns.resource_types.iter().map(|(n, a)| association_json(n, a)).collect();
    }
    if full {
        if !ns.properties.is_empty() {
            o["properties"] = properties_json(&ns.properties);
        }
        if !ns.objects.is_empty() {
            o["objects"] = ns.objects.iter().map(|(n, ob)| object_json(name, n, ob)).collect();
        }
        if !ns.tags.is_empty() {
            o["tags"] = ns.tags.keys().map(|t| json!({"name": t})).collect();
        }
    }
    stamped(o, &ns.stamp)
}

fn text(o: &mut Map<String, Value>, key: &str) -> Result<Option<String>, ApiError> {
    match o.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(ApiError::bad_request(S, format!("Invalid type for '{key}': a string is expected."))),
    }
}

fn required_text(o: &mut Map<String, Value>, key: &str) -> Result<String, ApiError> {
    text(o, key)?.ok_or_else(|| ApiError::bad_request(S, format!("'{key}' is a required property.")))
}

fn object_of(v: Value, what: &str) -> Result<Map<String, Value>, ApiError> {
    match v {
        Value::Object(o) => Ok(o),
        _ => Err(ApiError::bad_request(S, format!("Invalid {what}: a JSON object is expected."))),
    }
}

/// A property definition from its JSON (without its name).
fn property_of(mut o: Map<String, Value>) -> Result<Property, ApiError> {
    o.remove("name");
    if let Some(k) = o.keys().find(|k| !PROPERTY_KEYS.contains(&k.as_str())) {
        return Err(ApiError::bad_request(S, format!("Additional properties are not allowed ('{k}' was unexpected).")));
    }
    let title = o.get("title").and_then(Value::as_str).map(str::to_string).ok_or_else(|| ApiError::bad_request(S, "'title' is a required property."))?;
    let kind = o.get("type").and_then(Value::as_str).map(str::to_string).ok_or_else(|| ApiError::bad_request(S, "'type' is a required property."))?;
    Ok(Property { title, kind, doc: Value::Object(o).to_string() })
}

fn properties_of(v: Option<Value>) -> Result<Vec<(String, Property)>, ApiError> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Object(m)) => m.into_iter().map(|(n, p)| Ok((n, property_of(object_of(p, "property")?)?))).collect(),
        Some(_) => Err(ApiError::bad_request(S, "Invalid type for 'properties': an object of property definitions is expected.")),
    }
}

fn object_spec(mut o: Map<String, Value>) -> Result<(String, ObjectSpec), ApiError> {
    let name = required_text(&mut o, "name")?;
    let description = text(&mut o, "description")?;
    let required = match o.remove("required") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a
            .into_iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect::<Option<_>>()
            .ok_or_else(|| ApiError::bad_request(S, "'required' must list property names."))?,
        Some(_) => return Err(ApiError::bad_request(S, "Invalid type for 'required': a list is expected.")),
    };
    let properties = properties_of(o.remove("properties"))?;
    for k in ["schema", "self", "created_at", "updated_at"] {
        o.remove(k);
    }
    if let Some(k) = o.keys().next() {
        return Err(ApiError::bad_request(S, format!("Additional properties are not allowed ('{k}' was unexpected).")));
    }
    Ok((name, ObjectSpec { description, required, properties }))
}

fn tag_names(v: Option<Value>) -> Result<Vec<String>, ApiError> {
    let bad = || ApiError::bad_request(S, "'tags' must be a list of objects with a 'name'.");
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(a)) => a.into_iter().map(|t| t.get("name").and_then(Value::as_str).map(str::to_string).ok_or_else(bad)).collect(),
        Some(_) => Err(bad()),
    }
}

/// A namespace's name and attributes from a create or update body; the rest stays in `o`.
fn namespace_info(o: &mut Map<String, Value>) -> Result<(String, NamespaceInfo), ApiError> {
    let name = required_text(o, "namespace")?;
    let visibility = text(o, "visibility")?.unwrap_or_else(|| "private".into());
    let protected = match o.remove("protected") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => b,
        Some(_) => return Err(ApiError::bad_request(S, "Invalid type for 'protected': a boolean is expected.")),
    };
    let owner =
        text(o, "owner")?.map(|s| s.parse().map_err(|_| ApiError::bad_request(S, format!("Invalid owner '{s}': it is not a project id.")))).transpose()?;
    let info = NamespaceInfo { display_name: text(o, "display_name")?, description: text(o, "description")?, visibility, protected, owner };
    for k in ["schema", "self", "created_at", "updated_at"] {
        o.remove(k);
    }
    Ok((name, info))
}

async fn send(s: &AppState, h: &HeaderMap, cmd: Cmd) -> Result<(), ApiError> {
    apply(s, S, auth(h, S)?, Command::Image(ImageCmd::Metadefs(cmd))).await.map(drop)
}

/// Reads namespace `ns` as the caller and shapes part of it.
async fn view<R: Send + 'static>(
    s: &AppState,
    h: &HeaderMap,
    ns: String,
    f: impl FnOnce(&Namespace) -> Result<R, Error> + Send + 'static,
) -> Result<R, ApiError> {
    read(s, S, auth(h, S)?, move |k: &Kernel, c: &Caller| f(kdefs::namespace(&k.images().metadefs, c, &ns)?)).await
}

fn missing(part: &str, name: &str, ns: &str) -> Error {
    Error::not_found("image.not_found", format!("Metadata definition {part}={name} was not found in namespace={ns}."))
}

async fn resource_types(State(s): State<AppState>, h: HeaderMap) -> Result<Json<Value>, ApiError> {
    let now = read(&s, S, auth(&h, S)?, |k, _| Ok(k.now())).await?;
    let stamp = Stamp { created_at: now, updated_at: now };
    let names = read(&s, S, auth(&h, S)?, |k, _| Ok(kdefs::resource_types(&k.images().metadefs).into_iter().map(str::to_string).collect::<Vec<_>>())).await?;
    Ok(Json(json!({"resource_types": names.iter().map(|n| tag_json(n, &stamp)).collect::<Vec<_>>()})))
}

async fn list(State(s): State<AppState>, h: HeaderMap, Query(q): Query<BTreeMap<String, String>>) -> Result<Json<Value>, ApiError> {
    let visibility = q.get("visibility").cloned();
    let types: Option<Vec<String>> = q.get("resource_types").map(|t| t.split(',').map(|x| x.trim().to_string()).collect());
    let all = read(&s, S, auth(&h, S)?, move |k, c| {
        let keep = |ns: &&Namespace| {
            kdefs::visible(ns, c)
                && visibility.as_ref().is_none_or(|v| &ns.info.visibility == v)
                && types.as_ref().is_none_or(|t| t.iter().any(|t| ns.resource_types.contains_key(t)))
        };
        Ok(k.images().metadefs.0.values().filter(keep).map(|ns| namespace_json(ns, false)).collect::<Vec<_>>())
    })
    .await?;
    Ok(Json(json!({"namespaces": all, "first": "/v2/metadefs/namespaces", "schema": "/v2/schemas/metadefs/namespaces"})))
}

async fn show(State(s): State<AppState>, h: HeaderMap, Path(ns): Path<String>) -> Result<Json<Value>, ApiError> {
    Ok(Json(view(&s, &h, ns, |n| Ok(namespace_json(n, true))).await?))
}

async fn create(State(s): State<AppState>, h: HeaderMap, body: Bytes) -> Result<Response, ApiError> {
    let mut o: Map<String, Value> = parse_json(S, &body)?;
    let (namespace, info) = namespace_info(&mut o)?;
    let resource_types = match o.remove("resource_type_associations") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a
            .into_iter()
            .map(|r| {
                let mut r = object_of(r, "resource type association")?;
                Ok((required_text(&mut r, "name")?, text(&mut r, "prefix")?, text(&mut r, "properties_target")?))
            })
            .collect::<Result<_, ApiError>>()?,
        Some(_) => return Err(ApiError::bad_request(S, "Invalid type for 'resource_type_associations': a list is expected.")),
    };
    let properties = properties_of(o.remove("properties"))?;
    let objects = match o.remove("objects") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a.into_iter().map(|v| object_spec(object_of(v, "object")?)).collect::<Result<_, _>>()?,
        Some(_) => return Err(ApiError::bad_request(S, "Invalid type for 'objects': a list is expected.")),
    };
    let tags = tag_names(o.remove("tags"))?;
    if let Some(k) = o.keys().next() {
        return Err(ApiError::bad_request(S, format!("Additional properties are not allowed ('{k}' was unexpected).")));
    }
    let contents = Box::new(Contents { resource_types, properties, objects, tags });
    send(&s, &h, Cmd::Create { namespace: namespace.clone(), info, contents }).await?;
    let body = view(&s, &h, namespace, |n| Ok(namespace_json(n, true))).await?;
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

async fn update(State(s): State<AppState>, h: HeaderMap, Path(ns): Path<String>, body: Bytes) -> Result<Json<Value>, ApiError> {
    let mut o: Map<String, Value> = parse_json(S, &body)?;
    let (rename, info) = namespace_info(&mut o)?;
    send(&s, &h, Cmd::Update { namespace: ns, rename: rename.clone(), info }).await?;
    Ok(Json(view(&s, &h, rename, |n| Ok(namespace_json(n, false))).await?))
}

async fn delete(State(s): State<AppState>, h: HeaderMap, Path(ns): Path<String>) -> Result<StatusCode, ApiError> {
    send(&s, &h, Cmd::Delete { namespace: ns }).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn remove(State(s): State<AppState>, h: HeaderMap, Path((ns, name)): Path<(String, String)>, part: Part) -> Result<StatusCode, ApiError> {
    send(&s, &h, Cmd::Remove { namespace: ns, part, name: Some(name) }).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn remove_all(State(s): State<AppState>, h: HeaderMap, Path(ns): Path<String>, part: Part) -> Result<StatusCode, ApiError> {
    send(&s, &h, Cmd::Remove { namespace: ns, part, name: None }).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn associations(State(s): State<AppState>, h: HeaderMap, Path(ns): Path<String>) -> Result<Json<Value>, ApiError> {
    let list = view(&s, &h, ns, |n| Ok(n.resource_types.iter().map(|(k, a)| association_json(k, a)).collect::<Vec<_>>())).await?;
    Ok(Json(json!({"resource_type_associations": list})))
}

async fn associate(State(s): State<AppState>, h: HeaderMap, Path(ns): Path<String>, body: Bytes) -> Result<Response, ApiError> {
    let mut o: Map<String, Value> = parse_json(S, &body)?;
    let name = required_text(&mut o, "name")?;
    let (prefix, properties_target) = (text(&mut o, "prefix")?, text(&mut o, "properties_target")?);
    send(&s, &h, Cmd::Associate { namespace: ns.clone(), name: name.clone(), prefix, properties_target }).await?;
    let n2 = ns.clone();
    let body =
        view(&s, &h, ns, move |n| n.resource_types.get(&name).map(|a| association_json(&name, a)).ok_or_else(|| missing("resource type", &name, &n2))).await?;
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

async fn properties(State(s): State<AppState>, h: HeaderMap, Path(ns): Path<String>) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({"properties": view(&s, &h, ns, |n| Ok(properties_json(&n.properties))).await?})))
}

async fn show_property(State(s): State<AppState>, h: HeaderMap, Path((ns, name)): Path<(String, String)>) -> Result<Json<Value>, ApiError> {
    let n2 = ns.clone();
    let body = view(&s, &h, ns, move |n| n.properties.get(&name).map(|p| property_json(&name, p)).ok_or_else(|| missing("property", &name, &n2))).await?;
    Ok(Json(body))
}

async fn put_property(s: &AppState, h: &HeaderMap, ns: String, replace: Option<String>, body: &Bytes) -> Result<Value, ApiError> {
    let mut o: Map<String, Value> = parse_json(S, body)?;
    let name = match (required_text(&mut o, "name"), &replace) {
        (Ok(n), _) => n,
        (Err(_), Some(old)) => old.clone(),
        (Err(e), None) => return Err(e),
    };
    let property = property_of(o)?;
    send(s, h, Cmd::PutProperty { namespace: ns.clone(), replace, name: name.clone(), property }).await?;
    let n2 = ns.clone();
    view(s, h, ns, move |n| n.properties.get(&name).map(|p| property_json(&name, p)).ok_or_else(|| missing("property", &name, &n2))).await
}

async fn create_property(State(s): State<AppState>, h: HeaderMap, Path(ns): Path<String>, body: Bytes) -> Result<Response, ApiError> {
    Ok((StatusCode::CREATED, Json(put_property(&s, &h, ns, None, &body).await?)).into_response())
}

async fn update_property(State(s): State<AppState>, h: HeaderMap, Path((ns, name)): Path<(String, String)>, body: Bytes) -> Result<Json<Value>, ApiError> {
    Ok(Json(put_property(&s, &h, ns, Some(name), &body).await?))
}

async fn objects(State(s): State<AppState>, h: HeaderMap, Path(ns): Path<String>) -> Result<Json<Value>, ApiError> {
    let n2 = ns.clone();
    let list = view(&s, &h, ns, move |n| Ok(n.objects.iter().map(|(k, o)| object_json(&n2, k, o)).collect::<Vec<_>>())).await?;
    Ok(Json(json!({"objects": list, "schema": "/v2/schemas/metadefs/objects"})))
}

async fn show_object(State(s): State<AppState>, h: HeaderMap, Path((ns, name)): Path<(String, String)>) -> Result<Json<Value>, ApiError> {
    let n2 = ns.clone();
    Ok(Json(view(&s, &h, ns, move |n| n.objects.get(&name).map(|o| object_json(&n2, &name, o)).ok_or_else(|| missing("object", &name, &n2))).await?))
}

async fn put_object(s: &AppState, h: &HeaderMap, ns: String, replace: Option<String>, body: &Bytes) -> Result<Value, ApiError> {
    let (name, object) = object_spec(parse_json(S, body)?)?;
    send(s, h, Cmd::PutObject { namespace: ns.clone(), replace, name: name.clone(), object }).await?;
    let n2 = ns.clone();
    view(s, h, ns, move |n| n.objects.get(&name).map(|o| object_json(&n2, &name, o)).ok_or_else(|| missing("object", &name, &n2))).await
}

async fn create_object(State(s): State<AppState>, h: HeaderMap, Path(ns): Path<String>, body: Bytes) -> Result<Response, ApiError> {
    Ok((StatusCode::CREATED, Json(put_object(&s, &h, ns, None, &body).await?)).into_response())
}

async fn update_object(State(s): State<AppState>, h: HeaderMap, Path((ns, name)): Path<(String, String)>, body: Bytes) -> Result<Json<Value>, ApiError> {
    Ok(Json(put_object(&s, &h, ns, Some(name), &body).await?))
}

async fn tags(State(s): State<AppState>, h: HeaderMap, Path(ns): Path<String>) -> Result<Json<Value>, ApiError> {
    let list = view(&s, &h, ns, |n| Ok(n.tags.iter().map(|(t, st)| tag_json(t, st)).collect::<Vec<_>>())).await?;
    Ok(Json(json!({"tags": list})))
}

/// `POST …/tags`: replaces every tag with the given ones (201).
async fn set_tags(State(s): State<AppState>, h: HeaderMap, Path(ns): Path<String>, body: Bytes) -> Result<Response, ApiError> {
    let mut o: Map<String, Value> = parse_json(S, &body)?;
    let tags = tag_names(o.remove("tags"))?;
    send(&s, &h, Cmd::SetTags { namespace: ns.clone(), tags }).await?;
    let list = view(&s, &h, ns, |n| Ok(n.tags.keys().map(|t| json!({"name": t})).collect::<Vec<_>>())).await?;
    Ok((StatusCode::CREATED, Json(json!({"tags": list}))).into_response())
}

async fn one_tag(s: &AppState, h: &HeaderMap, ns: String, name: String) -> Result<Value, ApiError> {
    let n2 = ns.clone();
    view(s, h, ns, move |n| n.tags.get(&name).map(|st| tag_json(&name, st)).ok_or_else(|| missing("tag", &name, &n2))).await
}

async fn create_tag(State(s): State<AppState>, h: HeaderMap, Path((ns, name)): Path<(String, String)>) -> Result<Response, ApiError> {
    send(&s, &h, Cmd::PutTag { namespace: ns.clone(), replace: None, name: name.clone() }).await?;
    Ok((StatusCode::CREATED, Json(one_tag(&s, &h, ns, name).await?)).into_response())
}

async fn show_tag(State(s): State<AppState>, h: HeaderMap, Path((ns, name)): Path<(String, String)>) -> Result<Json<Value>, ApiError> {
    Ok(Json(one_tag(&s, &h, ns, name).await?))
}

async fn update_tag(State(s): State<AppState>, h: HeaderMap, Path((ns, old)): Path<(String, String)>, body: Bytes) -> Result<Json<Value>, ApiError> {
    let mut o: Map<String, Value> = parse_json(S, &body)?;
    let name = required_text(&mut o, "name")?;
    send(&s, &h, Cmd::PutTag { namespace: ns.clone(), replace: Some(old), name: name.clone() }).await?;
    Ok(Json(one_tag(&s, &h, ns, name).await?))
}
