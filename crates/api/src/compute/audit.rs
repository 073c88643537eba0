//! Compute API: `os-instance_usage_audit_log` (admin). Nova's periodic instance-usage audit
//! task writes a log per compute host and month; orrery runs no such task, so every report is
//! what Nova answers with the task switched off: the last completed month, every compute host
//! (from the kernel's service view) not run, no instances, and "0 of N hosts done. 0 errors.".

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::routing::get;
use axum::{Json, Router};
use orrery_kernel::compute::views;
use orrery_kernel::{Error, Time};
use serde_json::{json, Value};

use super::servers::query::parse_iso;
use super::versions::{auth, layer, read};
use crate::error::{ApiError, Service};
use crate::util::iso;
use crate::AppState;

const S: Service = Service::Compute;

/// Routes for `os-instance_usage_audit_log`.
pub fn routes() -> Router<AppState> {
    layer(Router::new().route("/v2.1/os-instance_usage_audit_log", get(index)).route("/v2.1/os-instance_usage_audit_log/{before}", get(show)))
}

/// The audit period (Nova's default unit, a month) last completed before `t`, as Nova prints
/// it: from the first of the previous month to the first of `t`'s month.
fn period(t: Time) -> (String, String) {
    let text = iso(t);
    let (y, m) = (text[..4].parse::<i32>().unwrap_or(1970), text[5..7].parse::<u32>().unwrap_or(1));
    let (py, pm) = if m == 1 { (y - 1, 12) } else { (y, m - 1) };
    (format!("{py:04}-{pm:02}-01 00:00:00"), format!("{y:04}-{m:02}-01 00:00:00"))
}

/// The report for the period before `before` (now if none).
async fn report(s: &AppState, h: &HeaderMap, before: Option<Time>, policy: &'static str) -> Result<Value, ApiError> {
    let (hosts, now) = read(s, S, auth(h, S)?, move |k, c| {
        if !c.admin {
            return Err(Error::forbidden(
                "compute.forbidden",
                format!("Policy doesn't allow os_compute_api:os-instance-usage-audit-log:{policy} to be performed."),
            ));
        }
        Ok((views::services(k, c)?.into_iter().map(|v| v.host.name).collect::<Vec<_>>(), k.now()))
    })
    .await?;
    let (begin, end) = period(before.unwrap_or(now));
    let n = hosts.len();
    let done = if n == 0 { "ALL".to_string() } else { format!("0 of {n}") };
    Ok(json!({
        "period_beginning": begin, "period_ending": end,
        "num_hosts": n, "num_hosts_done": 0, "num_hosts_running": 0, "num_hosts_not_run": n, "hosts_not_run": hosts,
        "total_instances": 0, "total_errors": 0, "overall_status": format!("{done} hosts done. 0 errors."), "log": {},
    }))
}

async fn index(State(s): State<AppState>, h: HeaderMap) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({"instance_usage_audit_logs": report(&s, &h, None, "list").await?})))
}

/// `GET /os-instance_usage_audit_log/{before}`: `before` as Nova takes it,
/// `YYYY-MM-DD HH:MM:SS` with optional microseconds; anything else is 400.
async fn show(State(s): State<AppState>, h: HeaderMap, Path(before): Path<String>) -> Result<Json<Value>, ApiError> {
    let b = before.as_bytes();
    let tail_ok = match b.get(19..) {
        Some([]) => true,
        Some([b'.', digits @ ..]) => !digits.is_empty() && digits.iter().all(u8::is_ascii_digit),
        _ => false,
    };
    let t = (tail_ok && b[10] == b' ').then(|| parse_iso(&before)).flatten();
    let Some(t) = t else {
        // Policy first, as Nova does: a non-admin learns nothing from a malformed time.
        report(&s, &h, None, "show").await?;
        return Err(ApiError::bad_request(S, format!("Invalid timestamp for date {before}")));
    };
    Ok(Json(json!({"instance_usage_audit_log": report(&s, &h, Some(t), "show").await?})))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::compute::versions::testkit::*;

    #[tokio::test]
    async fn no_audit_task_runs_so_no_host_is_done() {
        let app = app();
        let r = get(&app, "/compute/v2.1/os-instance_usage_audit_log", ADMIN).await;
        let log = r.body["instance_usage_audit_logs"].clone();
        assert_eq!(
            (log["num_hosts"].clone(), log["num_hosts_not_run"].clone(), log["overall_status"].clone()),
            (json!(4), json!(4), json!("0 of 4 hosts done. 0 errors."))
        );
        assert_eq!(log["hosts_not_run"].as_array().map(Vec::len), Some(4));
        let r = get(&app, "/compute/v2.1/os-instance_usage_audit_log/2026-03-15%2010:00:00", ADMIN).await;
        let log = r.body["instance_usage_audit_log"].clone();
        assert_eq!((log["period_beginning"].clone(), log["period_ending"].clone()), (json!("2026-02-01 00:00:00"), json!("2026-03-01 00:00:00")));
        let jan = get(&app, "/compute/v2.1/os-instance_usage_audit_log/2026-01-15%2010:00:00.123456", ADMIN).await.body;
        assert_eq!(jan["instance_usage_audit_log"]["period_beginning"], "2025-12-01 00:00:00");
        assert_eq!(get(&app, "/compute/v2.1/os-instance_usage_audit_log/invalid_time", ADMIN).await.status, 400);
        assert_eq!(get(&app, "/compute/v2.1/os-instance_usage_audit_log/2026-01-15T10:00:00", ADMIN).await.status, 400);
        assert_eq!(get(&app, "/compute/v2.1/os-instance_usage_audit_log/2026-01-15%2010:00:0%C3%A9", ADMIN).await.status, 400);
        assert_eq!(get(&app, "/compute/v2.1/os-instance_usage_audit_log/invalid_time", P1).await.status, 403);
        assert_eq!(get(&app, "/compute/v2.1/os-instance_usage_audit_log", P1).await.status, 403);
    }
}
