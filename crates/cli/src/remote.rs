//! Reaching a running cloud from the command line: the endpoint and admin password that
//! `orrery up` leaves in its data directory, an admin token, and JSON calls over HTTP.

use std::path::{Path, PathBuf};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};

/// The HTTP client every command uses.
pub type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// One HTTP call with an optional token and JSON body: status, headers and body bytes.
pub async fn call(
    client: &HttpClient,
    method: Method,
    url: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Result<(StatusCode, hyper::HeaderMap, Bytes), String> {
    let mut req = Request::builder().method(method).uri(url).header("content-type", "application/json").header("x-openstack-nova-api-version", "2.79");
    if let Some(t) = token {
        req = req.header("x-auth-token", t);
    }
    let body = body.map(|b| Bytes::from(b.to_string())).unwrap_or_default();
    let req = req.body(Full::new(body)).map_err(|e| e.to_string())?;
    let resp = client.request(req).await.map_err(|e| format!("{url}: {e}"))?;
    let (parts, body) = resp.into_parts();
    let bytes = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
    Ok((parts.status, parts.headers, bytes))
}

/// An admin token for the cloud at `base`, with the password in `data_dir/admin-password`.
pub async fn admin_token(client: &HttpClient, base: &str, data_dir: &Path) -> Result<String, String> {
    let pw_path = data_dir.join("admin-password");
    let password = std::fs::read_to_string(&pw_path).map_err(|e| format!("{}: {e}", pw_path.display()))?;
    let body = json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "admin", "domain": {"id": "default"}, "password": password.trim()}}},
        "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}});
    let (status, headers, text) = call(client, Method::POST, &format!("{base}/identity/v3/auth/tokens"), None, Some(body)).await?;
    if status != StatusCode::CREATED {
        return Err(format!("token issue failed with {status}: {}", String::from_utf8_lossy(&text)));
    }
    headers.get("x-subject-token").and_then(|v| v.to_str().ok()).map(str::to_string).ok_or_else(|| "no X-Subject-Token".into())
}

/// A running cloud, reached through the data directory `orrery up` serves.
pub struct Remote {
    client: HttpClient,
    /// The cloud's base URL.
    pub base: String,
    token: String,
}

impl Remote {
    /// Finds the cloud served from `data_dir` and logs in as its admin.
    pub async fn connect(data_dir: &Path) -> Result<Remote, String> {
        let endpoint: PathBuf = data_dir.join("endpoint");
        let base = match std::fs::read_to_string(&endpoint) {
            Ok(s) => s.trim().trim_end_matches('/').to_string(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(format!(
                    "no cloud is running on {}: {} is missing. Start one with `orrery up --data-dir {}`.",
                    data_dir.display(),
                    endpoint.display(),
                    data_dir.display()
                ))
            }
            Err(e) => return Err(format!("{}: {e}", endpoint.display())),
        };
        let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
        let token = admin_token(&client, &base, data_dir).await.map_err(|e| format!("cannot log in to the cloud at {base}: {e}"))?;
        Ok(Remote { client, base, token })
    }

    /// Calls `path` (from the base URL) as the admin; the JSON body of a 2xx answer, or the
    /// cloud's own error message.
    pub async fn json(&self, method: Method, path: &str, body: Option<Value>) -> Result<Value, String> {
        let url = format!("{}{path}", self.base);
        let (status, _, bytes) = call(&self.client, method, &url, Some(&self.token), body).await?;
        let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if !status.is_success() {
            let msg = v["error"]["message"].as_str().map(str::to_string).unwrap_or_else(|| String::from_utf8_lossy(&bytes).into_owned());
            return Err(format!("{msg} ({status})"));
        }
        Ok(v)
    }
}
