//! Load-balancer checks: `/api/check/primary/...` answers 200 only for a cluster's writable
//! primary, `/api/check/replica/...` only for a replica fit to serve reads, 503 otherwise; the
//! body says why (a JSON string, or the error envelope's `Message`). A proxy polls one per backend server (HAProxy: `http-check send`
//! with `uri-lf /api/check/primary/%[srv_name]`, servers named `host:port`; see
//! `docs/traffic.md`).
//!
//! The verdicts are arbor-analysis's (pure) on this node's latest snapshot: cheap, in memory,
//! never a query to a server. Only the leader answers: a follower forwards the check like any
//! API call, and a node that does not lead (no leader known, or a lost lease) answers 503, so
//! a proxy never takes two answers from two views as a split.

use std::collections::HashMap;
use std::time::Duration;

use arbor_analysis::{primary_verdict, replica_verdict, RouteLimits, RouteVerdict};
use arbor_api::ApiResponse;
use arbor_topology::{InstanceKey, Timestamp};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::params::{key_of, PathParams};
use crate::registry::{spec, Access, Answer, Api, RouteSpec};
use crate::{ApiError, AppState};

pub(crate) fn routes(api: Api) -> Api {
    use Access::Read;
    use Answer::Text;
    let max_lag: &'static [(&'static str, bool, &'static str)] = &[(
        "max-lag",
        false,
        "the largest lag in seconds (default ReasonableReplicationLagSeconds)",
    )];
    api.route(
        spec(
            "/api/check/primary/{host}/{port}",
            Read,
            Text,
            "200 while the server is its cluster's writable primary (for load balancers), else 503",
        ),
        primary,
    )
    .route(
        spec(
            "/api/check/primary/{instance}",
            Read,
            Text,
            "the primary check for HOST:PORT in one segment (HAProxy's %[srv_name])",
        ),
        primary,
    )
    .route(
        RouteSpec {
            query: max_lag,
            ..spec(
                "/api/check/replica/{host}/{port}",
                Read,
                Text,
                "200 while the server is a replica replicating within the lag (for load balancers), else 503",
            )
        },
        replica,
    )
    .route(
        RouteSpec {
            query: max_lag,
            ..spec(
                "/api/check/replica/{instance}",
                Read,
                Text,
                "the replica check for HOST:PORT in one segment (HAProxy's %[srv_name])",
            )
        },
        replica,
    )
}

/// The server a check is about: `{host}/{port}`, or `{instance}` as `host:port`.
fn checked_key(params: &HashMap<String, String>) -> Result<InstanceKey, ApiError> {
    if let Some(key) = key_of(params, "host", "port")? {
        return Ok(key);
    }
    let instance = params
        .get("instance")
        .ok_or_else(|| ApiError::BadRequest("missing host and port".into()))?;
    match instance.parse::<InstanceKey>() {
        Ok(key) if instance.contains(':') => Ok(key),
        _ => Err(ApiError::BadRequest(format!(
            "{instance:?}: expected HOST:PORT (or HOST/PORT)"
        ))),
    }
}

async fn primary(State(state): State<AppState>, PathParams(params): PathParams) -> Response {
    check(&state, &params, None, false).await
}

async fn replica(
    State(state): State<AppState>,
    PathParams(params): PathParams,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Response {
    let max_lag = match query.map(|Query(q)| q.get("max-lag").cloned()) {
        Ok(None) => None,
        Ok(Some(text)) => match text.parse::<u64>() {
            Ok(seconds) => Some(Duration::from_secs(seconds)),
            Err(_) => {
                return ApiError::BadRequest(format!("max-lag={text:?}: expected whole seconds"))
                    .into_response()
            }
        },
        Err(rejection) => return ApiError::BadRequest(rejection.body_text()).into_response(),
    };
    check(&state, &params, max_lag, true).await
}

async fn check(
    state: &AppState,
    params: &HashMap<String, String>,
    max_lag: Option<Duration>,
    replica: bool,
) -> Response {
    let key = match checked_key(params) {
        Ok(key) => key,
        Err(error) => return error.into_response(),
    };
    let unavailable = |why: String| {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(ApiResponse::error(why)),
        )
            .into_response()
    };
    if !state.leadership().is_leader() {
        return unavailable("this arbor node does not lead: it cannot vouch for a server".into());
    }
    let snapshot = match state.snapshot().await {
        Ok(snapshot) => snapshot,
        Err(error) => return error.into_response(),
    };
    let limits = RouteLimits {
        fresh_within: state.view.check_window,
        max_lag: max_lag.unwrap_or(state.view.reasonable_lag),
    };
    let verdict = if replica {
        replica_verdict(&snapshot.topology, &key, &limits, Timestamp::now())
    } else {
        let demoted_at = state.recovery.demoted_at(&key);
        primary_verdict(
            &snapshot.topology,
            &key,
            &limits,
            Timestamp::now(),
            demoted_at,
        )
    };
    match verdict {
        RouteVerdict::Serve(why) => (StatusCode::OK, Json(why)).into_response(),
        RouteVerdict::Refuse(why) => unavailable(why),
        RouteVerdict::Unknown(why) => ApiError::NotFound(why).into_response(),
    }
}
