//! The edge every request crosses before its handler: request bodies are read whole, up to a
//! limit, so that an over-large body gets the service's own 413 and a body no handler reads
//! never leaves a keep-alive connection in an unknown state.

use axum::body::Body;
use axum::extract::Request;
use axum::http::header::{CONNECTION, CONTENT_LENGTH};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use http_body_util::{BodyExt, LengthLimitError, Limited};

use crate::error::{error_body, Service};

/// The largest request body accepted: oslo.middleware's `max_request_body_size` default,
/// which Nova, Keystone and Placement run with.
pub const MAX_BODY: usize = 114_688;

/// Reads the request body (at most [`MAX_BODY`] bytes) before the handler runs. A body over the
/// limit, declared or streamed, is answered 413 in the path's service's error body, with
/// `Connection: close` since the rest of it is left unread. A body that breaks off is a 400.
pub async fn read_whole(req: Request, next: Next) -> Response {
    let service = Service::of_path(req.uri().path());
    let (parts, body) = req.into_parts();
    let declared = parts.headers.get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY as u64) {
        return too_large(service);
    }
    match Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => next.run(Request::from_parts(parts, Body::from(collected.to_bytes()))).await,
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => too_large(service),
        Err(e) => {
            let msg = format!("The request body could not be read: {e}.");
            let mut resp = (StatusCode::BAD_REQUEST, Json(error_body(service, StatusCode::BAD_REQUEST, "api.body_unreadable", &msg))).into_response();
            resp.headers_mut().insert(CONNECTION, HeaderValue::from_static("close"));
            resp
        }
    }
}

/// 413 in `service`'s body; the connection is closed after it.
fn too_large(service: Service) -> Response {
    let msg = format!("Request is too large: the body is over {MAX_BODY} bytes.");
    let status = StatusCode::PAYLOAD_TOO_LARGE;
    let mut resp = (status, Json(error_body(service, status, "api.request_too_large", &msg))).into_response();
    resp.headers_mut().insert(CONNECTION, HeaderValue::from_static("close"));
    resp
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    use super::MAX_BODY;
    use crate::compute::versions::testkit::{app, ADMIN};

    async fn post(path: &str, body: Body, length: Option<usize>) -> (u16, Option<String>, serde_json::Value) {
        let mut req = Request::builder()
            .method("POST")
            .uri(path)
            .header("x-auth-token", ADMIN)
            .header("content-type", "application/json")
            .header("openstack-api-version", "compute 2.55");
        if let Some(n) = length {
            req = req.header("content-length", n);
        }
        let resp = app().oneshot(req.body(body).unwrap()).await.unwrap();
        let connection = resp.headers().get("connection").map(|v| v.to_str().unwrap().to_string());
        let status = resp.status().as_u16();
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
        (status, connection, serde_json::from_slice(&bytes).unwrap_or_default())
    }

    fn flavor_of(size: usize) -> String {
        let pad = "x".repeat(size);
        format!(r#"{{"flavor": {{"name": "big", "ram": 512, "vcpus": 1, "disk": 1, "description": "{pad}"}}}}"#)
    }

    #[tokio::test]
    async fn an_over_large_body_gets_the_services_own_413() {
        let text = flavor_of(MAX_BODY);
        let (status, connection, body) = post("/compute/v2.1/flavors", Body::from(text.clone()), Some(text.len())).await;
        assert_eq!((status, connection.as_deref()), (413, Some("close")));
        assert_eq!(body["overLimit"]["code"], 413, "Nova's body: {body}");
        // Streamed without a length, as a chunked body is.
        let chunks = futures_stream(text.into_bytes());
        let (status, _, body) = post("/placement/resource_providers", chunks, None).await;
        assert_eq!(status, 413);
        assert_eq!(body["errors"][0]["status"], 413, "Placement's body: {body}");
        let (status, _, body) = post("/identity/v3/users", Body::from(vec![b' '; MAX_BODY + 1]), None).await;
        assert_eq!((status, body["error"]["code"].as_u64()), (413, Some(413)));
    }

    #[tokio::test]
    async fn a_body_within_the_limit_reaches_the_handler() {
        let text = flavor_of(100);
        let (status, connection, body) = post("/compute/v2.1/flavors", Body::from(text), None).await;
        assert_eq!((status, connection), (200, None), "{body}");
        assert_eq!(body["flavor"]["name"], "big");
    }

    /// A body that arrives in 4 KiB frames with no length.
    fn futures_stream(bytes: Vec<u8>) -> Body {
        let frames: Vec<Result<axum::body::Bytes, std::io::Error>> = bytes.chunks(4096).map(|c| Ok(axum::body::Bytes::copy_from_slice(c))).collect();
        Body::from_stream(Frames(frames.into_iter()))
    }

    struct Frames(std::vec::IntoIter<Result<axum::body::Bytes, std::io::Error>>);

    impl futures_core::Stream for Frames {
        type Item = Result<axum::body::Bytes, std::io::Error>;
        fn poll_next(mut self: std::pin::Pin<&mut Self>, _: &mut std::task::Context<'_>) -> std::task::Poll<Option<Self::Item>> {
            std::task::Poll::Ready(self.0.next())
        }
    }
}
