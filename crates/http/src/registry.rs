//! The one way an API route is added: with its access class, a summary and the shape of its
//! answer. The OpenAPI document and authorization are derived from this list, so neither can
//! miss a route.

use axum::routing::{get, MethodRouter};
use axum::Router;

use crate::AppState;

pub use crate::auth::Access;

/// The shape of a route's successful answer, named after the OpenAPI component it refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// A JSON string such as `"OK"`.
    Text,
    Instance,
    Instances,
    /// A list of instances, `null` when empty (orchestrator's nil slices).
    InstancesOrNull,
    ClusterInfo,
    ClusterInfos,
    Strings,
    /// A bare JSON object (orchestrator's `raft-status`).
    Object,
    /// A bare JSON array of the named schema (orchestrator's `r.JSON` replies).
    List(&'static str),
    /// The envelope, with `Details` of the given shape.
    Envelope(&'static str),
    /// Prometheus text exposition.
    Metrics,
}

/// One registered route.
#[derive(Debug, Clone)]
pub struct RouteSpec {
    pub path: &'static str,
    pub access: Access,
    pub summary: &'static str,
    pub answer: Answer,
    /// Query parameters the route reads: (name, required, description).
    pub query: &'static [(&'static str, bool, &'static str)],
}

impl RouteSpec {
    pub fn methods(&self) -> &'static [&'static str] {
        match self.access {
            Access::Read => &["get"],
            Access::Write => &["get", "post"],
        }
    }

    /// The methods the route answers on a node with `RequirePostForChanges` as given.
    pub fn methods_with(&self, require_post: bool) -> &'static [&'static str] {
        match (self.access, require_post) {
            (Access::Write, true) => &["post"],
            _ => self.methods(),
        }
    }
}

/// Builds the router and the list of routes together.
pub(crate) struct Api {
    router: Router<AppState>,
    specs: Vec<RouteSpec>,
    state: AppState,
}

impl Api {
    pub fn new(state: AppState) -> Api {
        Api {
            router: Router::new(),
            specs: Vec::new(),
            state,
        }
    }

    /// Adds a route. Write routes get GET and POST; authorization for the route's access
    /// class wraps the handler.
    pub fn route<H, T>(mut self, spec: RouteSpec, handler: H) -> Api
    where
        H: axum::handler::Handler<T, AppState> + Clone,
        T: 'static,
    {
        let method_router: MethodRouter<AppState> = match spec.access {
            Access::Read => get(handler),
            // POST only, when the operator asked for it (`RequirePostForChanges`).
            Access::Write if self.state.view.require_post => axum::routing::post(handler)
                .get(get_needs_post)
                .head(head_changes_nothing),
            // GET for orchestrator's clients; HEAD (which axum would answer with the GET
            // handler) must never change anything.
            Access::Write => get(handler.clone())
                .post(handler)
                .head(head_changes_nothing),
        };
        let method_router = match spec.access {
            Access::Write => audited(method_router, &self.state, &spec),
            Access::Read => method_router,
        };
        let method_router = crate::auth::protect(method_router, &self.state, spec.access);
        for synonym in synonyms(spec.path) {
            self.router = self.router.route(&synonym, method_router.clone());
        }
        self.router = self.router.route(spec.path, method_router);
        self.specs.push(spec);
        self
    }

    pub fn finish(self) -> (Router<AppState>, Vec<RouteSpec>) {
        (self.router, self.specs)
    }
}

/// orchestrator's other names for a route, by the route's first segment: its `*-slave` family
/// and older names. The same handler answers them; the OpenAPI document lists the route once.
const SYNONYMS: &[(&str, &[&str])] = &[
    ("relocate", &["relocate-below"]),
    ("relocate-replicas", &["relocate-slaves"]),
    ("move-up-replicas", &["move-up-slaves"]),
    ("repoint-replicas", &["repoint-slaves"]),
    ("move-replicas-gtid", &["move-slaves-gtid"]),
    ("take-siblings", &["enslave-siblings"]),
    ("take-master", &["enslave-master"]),
    ("start-replica", &["start-slave"]),
    ("stop-replica", &["stop-slave"]),
    ("restart-replica", &["restart-slave"]),
    ("reset-replica", &["reset-slave"]),
    ("stop-replica-nice", &["stop-slave-nice"]),
    ("restart-replica-statements", &["restart-slave-statements"]),
    ("regroup-replicas", &["regroup-slaves"]),
    ("regroup-replicas-gtid", &["regroup-slaves-gtid"]),
    ("cluster-osc-replicas", &["cluster-osc-slaves"]),
    (
        "detach-replica-master-host",
        &["detach-replica", "detach-slave", "detach-slave-master-host"],
    ),
    (
        "reattach-replica-master-host",
        &[
            "reattach-replica",
            "reattach-slave",
            "reattach-slave-master-host",
        ],
    ),
];

/// The other paths `path` answers at (see [`SYNONYMS`]).
pub(crate) fn synonyms(path: &str) -> Vec<String> {
    let Some(rest) = path.strip_prefix("/api/") else {
        return Vec::new();
    };
    let (first, tail) = rest.split_once('/').map_or((rest, ""), |(f, t)| (f, t));
    SYNONYMS
        .iter()
        .filter(|(name, _)| *name == first)
        .flat_map(|(_, others)| others.iter())
        .map(|other| {
            if tail.is_empty() {
                format!("/api/{other}")
            } else {
                format!("/api/{other}/{tail}")
            }
        })
        .collect()
}

/// GET on a route that changes state, with `RequirePostForChanges`: refused, naming POST.
async fn get_needs_post(uri: axum::http::Uri) -> axum::response::Response {
    use axum::response::IntoResponse;
    let mut response = crate::ApiError::MethodNotAllowed(format!(
        "{} changes something: use POST (RequirePostForChanges is on)",
        uri.path()
    ))
    .into_response();
    response.headers_mut().insert(
        axum::http::header::ALLOW,
        axum::http::HeaderValue::from_static("POST"),
    );
    response
}

/// HEAD on a route that changes state: refused, since HEAD is meant to be safe (crawlers,
/// link checkers and monitoring send it).
async fn head_changes_nothing() -> axum::response::Response {
    use axum::response::IntoResponse;
    let mut response = axum::http::StatusCode::METHOD_NOT_ALLOWED.into_response();
    response.headers_mut().insert(
        axum::http::header::ALLOW,
        axum::http::HeaderValue::from_static("GET, POST"),
    );
    response
}

/// With `AuditLogFile`, every request of a mutating route is one line of the audit file: the
/// route (`begin-downtime`, ...) as the entry's type, and who asked for what with what outcome.
fn audited(
    method_router: MethodRouter<AppState>,
    state: &AppState,
    spec: &RouteSpec,
) -> MethodRouter<AppState> {
    if state.recovery.audit_log().is_none() {
        return method_router;
    }
    let state = state.clone();
    let operation = spec
        .path
        .trim_start_matches("/api/")
        .split('/')
        .next()
        .unwrap_or(spec.path);
    method_router.route_layer(axum::middleware::from_fn(
        move |request: axum::extract::Request, next: axum::middleware::Next| {
            let state = state.clone();
            async move {
                let what = format!("{} {}", request.method(), request.uri());
                let who = crate::auth::user_name(&state.auth, request.headers())
                    .unwrap_or_else(|| "api".to_string());
                let response = next.run(request).await;
                if let Some(log) = state.recovery.audit_log() {
                    log.append(
                        operation,
                        None,
                        "",
                        &format!("{what} by {who}: {}", response.status()),
                    );
                }
                response
            }
        },
    ))
}

/// Shorthand for a route spec without query parameters.
pub(crate) const fn spec(
    path: &'static str,
    access: Access,
    answer: Answer,
    summary: &'static str,
) -> RouteSpec {
    RouteSpec {
        path,
        access,
        summary,
        answer,
        query: &[],
    }
}
