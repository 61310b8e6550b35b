//! Bearer-token authentication for the embedded API server.
//!
//! One admin token guards everything except the public health and version endpoints, which
//! upstream grants to `system:unauthenticated` (and which kubectl sometimes calls before it
//! attaches credentials).

use std::sync::Arc;

use axum::response::IntoResponse;

/// Endpoints readable without a token; each also covers its sub-paths (`/readyz/ping`).
const ANONYMOUS_ROOTS: &[&str] = &["/version", "/healthz", "/livez", "/readyz"];

/// True for `/version`, `/healthz`, `/livez`, `/readyz` and their sub-paths such as
/// `/readyz/ping` or `/version/`; these need no token.
pub fn is_anonymous_path(path: &str) -> bool {
    ANONYMOUS_ROOTS
        .iter()
        .any(|root| match path.strip_prefix(root) {
            Some(rest) => rest.is_empty() || rest.starts_with('/'),
            None => false,
        })
}

/// True when the request carries `Authorization: Bearer <token>` for exactly this token.
/// The scheme is matched case-insensitively (as upstream does) and the token comparison
/// takes the same time wherever the first differing byte is.
pub fn bearer_matches(headers: &http::HeaderMap, token: &str) -> bool {
    if token.is_empty() {
        return false;
    }
    let Some(value) = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let value = value.trim();
    let Some((scheme, presented)) = value.split_once(' ') else {
        return false;
    };
    if !scheme.eq_ignore_ascii_case("bearer") {
        return false;
    }
    constant_time_eq(presented.trim_start().as_bytes(), token.as_bytes())
}

/// Compares two byte strings without an early exit, so timing reveals at most the length.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = u8::from(a.len() != b.len());
    for (i, expected) in b.iter().enumerate() {
        // Reading a byte (0 when `a` is shorter) keeps the loop's shape independent of `a`.
        let got = a.get(i).copied().unwrap_or(0);
        diff |= got ^ expected;
    }
    diff == 0
}

/// The `metav1.Status` body upstream returns for a missing or wrong token.
pub fn unauthorized_status() -> serde_json::Value {
    // A Status holds only strings, integers and string-keyed maps, which always serialise.
    serde_json::to_value(everynode_model::status::ApiError::unauthorized().status)
        .unwrap_or_default()
}

/// axum middleware (`axum::middleware::from_fn_with_state(token, require_token)`): lets
/// requests with the right bearer token through, and requests without any `Authorization`
/// header when the path is anonymous; answers everything else (including a wrong token on an
/// anonymous path, as upstream) with a 401 `Unauthorized` `metav1.Status`.
pub async fn require_token(
    axum::extract::State(token): axum::extract::State<Arc<str>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    // As upstream: a request without credentials is anonymous and may read the public
    // paths, but credentials that are presented and wrong fail authentication everywhere.
    let anonymous = !req.headers().contains_key(http::header::AUTHORIZATION);
    if bearer_matches(req.headers(), &token) || (anonymous && is_anonymous_path(req.uri().path())) {
        return next.run(req).await;
    }
    (
        http::StatusCode::UNAUTHORIZED,
        axum::Json(unauthorized_status()),
    )
        .into_response()
}
