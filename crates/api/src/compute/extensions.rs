//! Compute API: `/extensions`, the legacy list of API extensions that clients written for v2.0
//! still read. v2.1 has no optional extensions, so Nova lists a fixed set; orrery lists only
//! those whose API it serves, so a client that looks for an alias learns the truth.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use super::versions::{auth, layer, read};
use crate::error::{ApiError, Service};
use crate::AppState;

const S: Service = Service::Compute;

/// (alias, name, what it serves), in alias order.
const SERVED: &[(&str, &str, &str)] = &[
    ("OS-DCF", "DiskConfig", "The disk configuration (AUTO or MANUAL) of servers and rebuilds."),
    ("OS-EXT-AZ", "ExtendedAvailabilityZone", "The availability zone of each server."),
    ("OS-EXT-SRV-ATTR", "ExtendedServerAttributes", "Host, hypervisor and instance attributes of servers, for admins."),
    ("OS-EXT-STS", "ExtendedStatus", "The vm_state, task_state and power_state of servers."),
    ("OS-SRV-USG", "ServerUsage", "When each server was launched and terminated."),
    ("flavors", "Flavors", "Flavors: list, show, create and delete."),
    ("images", "Images", "The read-only image proxy, before microversion 2.36."),
    ("limits", "Limits", "The absolute limits of a project."),
    ("os-access-ips", "AccessIPs", "The accessIPv4 and accessIPv6 attributes of servers."),
    ("os-aggregates", "Aggregates", "Host aggregates: the topology file seeds them; admins create, change and delete them."),
    ("os-availability-zone", "AvailabilityZone", "Availability zones, with their hosts for admins."),
    ("os-evacuate", "Evacuate", "Rebuilding a server of a failed host on another host."),
    ("os-extended-volumes", "ExtendedVolumes", "The volumes attached to each server (none until volumes exist)."),
    ("os-flavor-access", "FlavorAccess", "The projects a private flavor is shared with."),
    ("os-flavor-extra-specs", "FlavorExtraSpecs", "Extra specs of flavors."),
    ("os-hosts", "Hosts", "Compute hosts and their resources, before microversion 2.43."),
    ("os-hypervisors", "Hypervisors", "Hypervisors, their usage and statistics."),
    ("os-instance-actions", "InstanceActions", "The actions taken on each server, and their events."),
    ("os-instance-usage-audit-log", "OSInstanceUsageAuditLog", "Instance usage audit logs; orrery runs no audit task, so no host is ever done."),
    ("os-keypairs", "Keypairs", "SSH and X.509 keypairs, imported or (before microversion 2.92) generated."),
    ("os-lock-server", "LockServer", "Locking and unlocking servers."),
    ("os-migrations", "Migrations", "The resize and evacuation records of servers."),
    ("os-pause-server", "PauseServer", "Pausing and unpausing servers."),
    ("os-quota-sets", "Quotas", "Project quotas: show, defaults, update and delete."),
    ("os-server-diagnostics", "ServerDiagnostics", "Diagnostics of servers: their flavor's sizes; counters the model does not keep are null."),
    ("os-server-external-events", "ServerExternalEvents", "Events from other services about servers; accepted, with nothing in the model to act on."),
    ("os-server-groups", "ServerGroups", "Affinity and anti-affinity server groups."),
    ("os-server-password", "ServerPassword", "The encrypted admin password of servers."),
    ("os-services", "Services", "Compute services: enable, disable and force down."),
    ("os-simple-tenant-usage", "SimpleTenantUsage", "Hours and sizes of the servers each project has, over a period."),
    ("os-suspend-server", "SuspendServer", "Suspending and resuming servers."),
    ("servers", "Servers", "Servers and their actions."),
];

/// Routes of `/extensions`.
pub fn routes() -> Router<AppState> {
    layer(Router::new().route("/v2.1/extensions", get(list)).route("/v2.1/extensions/{alias}", get(show)))
}

fn extension_json(&(alias, name, description): &(&str, &str, &str)) -> Value {
    json!({
        "alias": alias, "name": name, "description": description, "links": [],
        "namespace": format!("https://docs.openstack.org/api-ref/compute/#{alias}"), "updated": "2014-12-03T00:00:00Z",
    })
}

async fn list(State(s): State<AppState>, h: HeaderMap) -> Result<Json<Value>, ApiError> {
    read(&s, S, auth(&h, S)?, |_, _| Ok(())).await?;
    Ok(Json(json!({"extensions": SERVED.iter().map(extension_json).collect::<Vec<_>>()})))
}

async fn show(State(s): State<AppState>, h: HeaderMap, Path(alias): Path<String>) -> Result<Json<Value>, ApiError> {
    read(&s, S, auth(&h, S)?, |_, _| Ok(())).await?;
    let found = SERVED
        .iter()
        .find(|e| e.0 == alias)
        .ok_or_else(|| ApiError::not_found(S, format!("Extension {alias} could not be found: orrery does not serve it.")))?;
    Ok(Json(json!({"extension": extension_json(found)})))
}

#[cfg(test)]
mod tests {
    use crate::compute::versions::testkit::*;

    #[tokio::test]
    async fn only_served_extensions_are_listed() {
        let app = app();
        let r = get(&app, "/compute/v2.1/extensions", P1).await;
        let names: Vec<&str> = r.body["extensions"].as_array().unwrap().iter().map(|e| e["name"].as_str().unwrap()).collect();
        assert!(names.contains(&"Hosts") && names.contains(&"Keypairs"), "{names:?}");
        assert!(super::SERVED.windows(2).all(|w| w[0].0 < w[1].0), "aliases are sorted and distinct");
        assert_eq!(get(&app, "/compute/v2.1/extensions/os-keypairs", P1).await.body["extension"]["alias"], "os-keypairs");
        assert_eq!(get(&app, "/compute/v2.1/extensions/os-consoles", P1).await.status, 404, "consoles are not modelled");
        assert_eq!(call(&app, "GET", "/compute/v2.1/extensions", None, &[], None).await.status, 401);
    }
}
