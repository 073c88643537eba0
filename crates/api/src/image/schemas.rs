//! Glance's JSON-schema documents (`/v2/schemas/...`): what an image, a member and each
//! metadata-definition record look like, so clients such as glanceclient can validate and
//! render them. Each list document wraps its item document.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::Json;
use serde_json::{json, Value};

use super::S;
use crate::compute::versions::{auth, read};
use crate::error::ApiError;
use crate::AppState;

const UUID_PATTERN: &str = "^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$";

fn t(kind: &str) -> Value {
    json!({"type": kind})
}

fn null_or(kind: &str) -> Value {
    json!({"type": [kind, "null"]})
}

fn date() -> Value {
    json!({"type": "string", "format": "date-time"})
}

/// The image document.
pub fn image() -> Value {
    json!({
        "name": "image",
        "properties": {
            "id": {"type": "string", "pattern": UUID_PATTERN},
            "name": {"type": ["string", "null"], "maxLength": 255},
            "status": {"type": "string", "enum": ["queued", "saving", "active", "killed", "deleted", "uploading", "importing", "pending_delete", "deactivated"]},
            "visibility": {"type": "string", "enum": ["community", "public", "private", "shared"]},
            "protected": t("boolean"), "os_hidden": t("boolean"),
            "checksum": {"type": ["string", "null"], "maxLength": 32}, "os_hash_algo": {"type": ["string", "null"], "maxLength": 64},
            "os_hash_value": {"type": ["string", "null"], "maxLength": 128},
            "owner": {"type": ["string", "null"], "maxLength": 255}, "size": null_or("integer"), "virtual_size": null_or("integer"),
            "container_format": {"type": ["null", "string"], "enum": [null, "ami", "ari", "aki", "bare", "ovf", "ova", "docker", "compressed"]},
            "disk_format": {"type": ["null", "string"], "enum": [null, "ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso", "ploop"]},
            "created_at": date(), "updated_at": date(),
            "tags": {"type": "array", "items": {"type": "string", "maxLength": 255}}, "min_ram": t("integer"), "min_disk": t("integer"),
            "self": t("string"), "file": t("string"), "schema": t("string"),
        },
        "additionalProperties": {"type": "string"},
        "links": [{"rel": "self", "href": "{self}"}, {"rel": "enclosure", "href": "{file}"}, {"rel": "describedby", "href": "{schema}"}],
    })
}

/// The member document.
fn member() -> Value {
    json!({
        "name": "member",
        "properties": {
            "created_at": date(), "updated_at": date(),
            "image_id": {"type": "string", "pattern": UUID_PATTERN}, "member_id": t("string"),
            "schema": {"type": "string", "readOnly": true},
            "status": {"type": "string", "enum": ["pending", "accepted", "rejected"]},
        },
    })
}

/// A list document named `name` whose `key` holds items of `item`.
fn list(name: &str, key: &str, item: Value, paged: bool) -> Value {
    let mut props = json!({key: {"type": "array", "items": item}, "schema": t("string")});
    let mut links = vec![json!({"rel": "describedby", "href": "{schema}"})];
    if paged {
        props["first"] = t("string");
        props["next"] = t("string");
        links.insert(0, json!({"rel": "next", "href": "{next}"}));
        links.insert(0, json!({"rel": "first", "href": "{first}"}));
    }
    json!({"name": name, "properties": props, "links": links})
}

/// A metadata-definition property (a JSON-schema fragment itself).
fn property() -> Value {
    json!({
        "name": "property",
        "properties": {
            "name": {"type": "string", "maxLength": 255}, "title": t("string"), "description": t("string"),
            "operators": {"type": "array", "items": t("string")},
            "type": {"type": "string", "enum": ["array", "boolean", "integer", "number", "object", "string", null]},
            "required": {"type": "array", "items": t("string")}, "minimum": t("number"), "maximum": t("number"),
            "maxLength": t("integer"), "minLength": t("integer"), "pattern": {"type": "string", "format": "regex"},
            "enum": t("array"), "readonly": t("boolean"), "default": {}, "items": t("object"),
            "maxItems": t("integer"), "minItems": t("integer"), "uniqueItems": t("boolean"), "additionalItems": t("boolean"),
        },
        "required": ["type", "title"],
        "additionalProperties": false,
    })
}

fn resource_type_association() -> Value {
    json!({
        "name": "resource_type_association",
        "properties": {
            "name": {"type": "string", "maxLength": 80}, "prefix": {"type": "string", "maxLength": 80},
            "properties_target": {"type": "string", "maxLength": 80}, "created_at": date(), "updated_at": date(),
        },
        "required": ["name"],
        "additionalProperties": false,
    })
}

fn namespace() -> Value {
    json!({
        "name": "namespace",
        "properties": {
            "namespace": {"type": "string", "maxLength": 80}, "display_name": {"type": "string", "maxLength": 80},
            "description": {"type": "string", "maxLength": 500},
            "visibility": {"type": "string", "enum": ["public", "private"]}, "protected": t("boolean"), "owner": {"type": "string", "maxLength": 255},
            "created_at": date(), "updated_at": date(), "schema": {"type": "string", "readOnly": true}, "self": {"type": "string", "readOnly": true},
            "resource_type_associations": {"type": "array", "items": resource_type_association()["properties"].clone()},
            "properties": {"type": "object", "additionalProperties": property()},
            "objects": {"type": "array", "items": object()["properties"].clone()},
            "tags": {"type": "array", "items": tag()["properties"].clone()},
        },
        "required": ["namespace"],
        "additionalProperties": false,
        "links": [{"rel": "self", "href": "{self}"}, {"rel": "describedby", "href": "{schema}"}],
    })
}

fn object() -> Value {
    json!({
        "name": "object",
        "properties": {
            "name": {"type": "string", "maxLength": 255}, "description": t("string"),
            "required": {"type": "array", "items": t("string")},
            "properties": {"type": "object", "additionalProperties": property()},
            "created_at": date(), "updated_at": date(), "schema": {"type": "string", "readOnly": true}, "self": {"type": "string", "readOnly": true},
        },
        "required": ["name"],
        "additionalProperties": false,
        "links": [{"rel": "self", "href": "{self}"}, {"rel": "describedby", "href": "{schema}"}],
    })
}

fn tag() -> Value {
    json!({
        "name": "tag",
        "properties": {"name": {"type": "string", "maxLength": 255}, "created_at": date(), "updated_at": date()},
        "required": ["name"],
        "additionalProperties": false,
    })
}

fn resource_type() -> Value {
    json!({
        "name": "resource_type",
        "properties": {"name": {"type": "string", "maxLength": 80}, "created_at": date(), "updated_at": date()},
        "required": ["name"],
        "additionalProperties": false,
    })
}

/// The document at `/v2/schemas/{name}` (or `/v2/schemas/metadefs/{name}`), if there is one.
fn document(name: &str) -> Option<Value> {
    Some(match name {
        "image" => image(),
        "images" => list("images", "images", image(), true),
        "member" => member(),
        "members" => list("members", "members", member(), false),
        "metadefs/namespace" => namespace(),
        "metadefs/namespaces" => list("namespaces", "namespaces", namespace(), true),
        "metadefs/object" => object(),
        "metadefs/objects" => list("objects", "objects", object(), true),
        "metadefs/property" => property(),
        "metadefs/properties" => json!({"name": "properties", "properties": {"properties": {"type": "object", "additionalProperties": property()}}}),
        "metadefs/tag" => tag(),
        "metadefs/tags" => list("tags", "tags", tag(), true),
        "metadefs/resource_type" => resource_type_association(),
        "metadefs/resource_types" => list("resource_type_associations", "resource_type_associations", resource_type_association(), true),
        "metadefs/resource_type_definition" => resource_type(),
        _ => return None,
    })
}

/// `GET /v2/schemas/{*name}`.
pub async fn show(State(s): State<AppState>, h: HeaderMap, Path(name): Path<String>) -> Result<Json<Value>, ApiError> {
    read(&s, S, auth(&h, S)?, |_, _| Ok(())).await?;
    document(&name).map(Json).ok_or_else(|| ApiError::not_found(S, format!("The resource could not be found: there is no schema '{name}'.")))
}
