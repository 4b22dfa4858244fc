//! Routes of maintenance locks and tags: intents about instances that refactoring honours.

use std::time::Duration;

use arbor_api::{ApiResponse, InstanceKeyJson, MaintenanceJson};
use arbor_store::Intents;
use arbor_store::LockDecision;
use arbor_topology::Timestamp;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::Json;

use crate::params::KeyPath;
use crate::params::PathParams;
use crate::registry::{spec, Access, Answer, Api, RouteSpec};
use crate::{ApiError, AppState};

pub(crate) fn routes(api: Api) -> Api {
    use Access::{Read, Write};
    use Answer::*;
    api.route(
        spec(
            "/api/begin-maintenance/{host}/{port}/{owner}/{reason}",
            Write,
            Envelope("InstanceKey"),
            "lock an instance: moves and recoveries leave it alone for an hour or until ended",
        ),
        begin_maintenance,
    )
    .route(
        spec(
            "/api/end-maintenance/{host}/{port}",
            Write,
            Envelope("InstanceKey"),
            "release an instance's maintenance lock",
        ),
        end_maintenance,
    )
    .route(
        spec(
            "/api/end-maintenance/{id}",
            Write,
            Envelope("Integer"),
            "release a maintenance lock by its id (MaintenanceId)",
        ),
        end_maintenance_by_id,
    )
    .route(
        spec(
            "/api/in-maintenance/{host}/{port}",
            Read,
            Envelope("Text"),
            "whether an instance is in maintenance: Message true or false, Details the instance or empty",
        ),
        in_maintenance,
    )
    .route(
        spec(
            "/api/maintenance",
            Read,
            List("Maintenance"),
            "maintenance locks in force",
        ),
        maintenance,
    )
    .route(
        RouteSpec {
            query: &[("tag", true, "name=value")],
            ..spec(
                "/api/tag/{host}/{port}",
                Write,
                Envelope("InstanceKey"),
                "tag an instance",
            )
        },
        tag,
    )
    .route(
        RouteSpec {
            query: &[("tag", true, "name")],
            ..spec(
                "/api/untag/{host}/{port}",
                Write,
                Envelope("InstanceKeys"),
                "remove a tag from an instance",
            )
        },
        untag,
    )
    .route(
        RouteSpec {
            query: &[("tag", true, "name")],
            ..spec(
                "/api/untag-all",
                Write,
                Envelope("InstanceKeys"),
                "remove a tag from every instance",
            )
        },
        untag_all,
    )
    .route(
        spec(
            "/api/tags/{host}/{port}",
            Read,
            Strings,
            "an instance's tags, as name=value",
        ),
        tags,
    )
    .route(
        RouteSpec {
            query: &[("tag", true, "name")],
            ..spec(
                "/api/tag-value/{host}/{port}",
                Read,
                Text,
                "the value of one tag",
            )
        },
        tag_value,
    )
    .route(
        RouteSpec {
            query: &[("tag", true, "name or name=value")],
            ..spec(
                "/api/tagged",
                Read,
                List("InstanceKey"),
                "instances with a tag",
            )
        },
        tagged,
    )
}

async fn begin_maintenance(
    State(state): State<AppState>,
    KeyPath(key): KeyPath,
    PathParams(params): PathParams,
) -> Result<Json<ApiResponse<InstanceKeyJson>>, ApiError> {
    let owner = params.get("owner").cloned().unwrap_or_default();
    let reason = params.get("reason").cloned().unwrap_or_default();
    let now = Timestamp::now();
    let decision = state
        .discovery
        .store()
        .begin_maintenance(
            &key,
            &owner,
            &reason,
            &state.view.hostname,
            now,
            now.plus(Duration::from_secs(3600)),
        )
        .await?;
    match decision {
        LockDecision::Acquired { .. } => Ok(Json(ApiResponse::ok(
            format!("{key} is in maintenance"),
            (&key).into(),
        ))),
        LockDecision::Held(holder) => Err(ApiError::Conflict(format!(
            "{key} is locked by {} ({}) until {}",
            holder.owner,
            holder.reason,
            holder.expires_at.to_sql_datetime()
        ))),
    }
}

async fn end_maintenance(
    State(state): State<AppState>,
    KeyPath(key): KeyPath,
) -> Result<Json<ApiResponse<InstanceKeyJson>>, ApiError> {
    if !state.discovery.store().end_maintenance(&key, None).await? {
        return Err(ApiError::NotFound(format!("{key} is not in maintenance")));
    }
    Ok(Json(ApiResponse::ok(
        format!("{key} is out of maintenance"),
        (&key).into(),
    )))
}

async fn end_maintenance_by_id(
    State(state): State<AppState>,
    PathParams(params): PathParams,
) -> Result<Json<ApiResponse<i64>>, ApiError> {
    let text = params.get("id").map(String::as_str).unwrap_or("");
    let id: i64 = text.parse().map_err(|_| {
        ApiError::BadRequest(format!(
            "invalid maintenance id {text:?}: expected a number"
        ))
    })?;
    let store = state.discovery.store();
    let lock = store
        .active_maintenance(Timestamp::now())
        .await?
        .into_iter()
        .find(|m| m.id == id)
        .ok_or_else(|| ApiError::NotFound(format!("no maintenance lock {id} in force")))?;
    store.end_maintenance(&lock.key, Some(id)).await?;
    Ok(Json(ApiResponse::ok(
        format!("Maintenance ended: {id}"),
        id,
    )))
}

async fn in_maintenance(
    State(state): State<AppState>,
    KeyPath(key): KeyPath,
) -> Result<Json<ApiResponse<String>>, ApiError> {
    let locked = state
        .discovery
        .store()
        .active_maintenance(Timestamp::now())
        .await?
        .iter()
        .any(|m| m.key == key);
    Ok(Json(ApiResponse::ok(
        locked.to_string(),
        if locked {
            key.to_string()
        } else {
            String::new()
        },
    )))
}

async fn maintenance(
    State(state): State<AppState>,
) -> Result<Json<Vec<MaintenanceJson>>, ApiError> {
    let locks = state
        .discovery
        .store()
        .active_maintenance(Timestamp::now())
        .await?;
    Ok(Json(
        locks
            .into_iter()
            .map(|m| MaintenanceJson {
                id: m.id,
                key: (&m.key).into(),
                begin: m.begin_at.to_sql_datetime(),
                end: m.expires_at.to_sql_datetime(),
                active: true,
                owner: m.owner,
                reason: m.reason,
            })
            .collect(),
    ))
}

#[derive(serde::Deserialize, Default)]
pub(crate) struct TagQuery {
    tag: Option<String>,
}

/// `name=value` or `name`.
fn tag_of(
    query: Result<Query<TagQuery>, QueryRejection>,
) -> Result<(String, Option<String>), ApiError> {
    let Query(query) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let tag = query.tag.filter(|t| !t.trim().is_empty()).ok_or_else(|| {
        ApiError::BadRequest("missing tag: add ?tag=name or ?tag=name=value".into())
    })?;
    Ok(match tag.split_once('=') {
        Some((name, value)) => (
            crate::params::tag_name(name)?,
            Some(crate::params::tag_value(value)?),
        ),
        None => (crate::params::tag_name(&tag)?, None),
    })
}

async fn tag(
    State(state): State<AppState>,
    KeyPath(key): KeyPath,
    query: Result<Query<TagQuery>, QueryRejection>,
) -> Result<Json<ApiResponse<InstanceKeyJson>>, ApiError> {
    let (name, value) = tag_of(query)?;
    state
        .discovery
        .store()
        .tag(&key, &name, value.as_deref().unwrap_or(""))
        .await?;
    Ok(Json(ApiResponse::ok(
        format!("{key} tagged {name}"),
        (&key).into(),
    )))
}

/// orchestrator's shape: Details lists the instances the tag was removed from (this one, or
/// none when it did not have the tag).
async fn untag(
    State(state): State<AppState>,
    KeyPath(key): KeyPath,
    query: Result<Query<TagQuery>, QueryRejection>,
) -> Result<Json<ApiResponse<Vec<InstanceKeyJson>>>, ApiError> {
    let (name, _) = tag_of(query)?;
    let untagged: Vec<InstanceKeyJson> = if state.discovery.store().untag(&key, &name).await? {
        vec![(&key).into()]
    } else {
        Vec::new()
    };
    Ok(Json(ApiResponse::ok(
        format!("{name} removed from {} instances", untagged.len()),
        untagged,
    )))
}

async fn untag_all(
    State(state): State<AppState>,
    query: Result<Query<TagQuery>, QueryRejection>,
) -> Result<Json<ApiResponse<Vec<InstanceKeyJson>>>, ApiError> {
    let (name, _) = tag_of(query)?;
    let keys = state.discovery.store().untag_all(&name).await?;
    Ok(Json(ApiResponse::ok(
        format!("tag {name} removed"),
        keys.iter().map(Into::into).collect(),
    )))
}

async fn tags(
    State(state): State<AppState>,
    KeyPath(key): KeyPath,
) -> Result<Json<Vec<String>>, ApiError> {
    let tags = state.discovery.store().tags(&key).await?;
    Ok(Json(
        tags.into_iter()
            .map(|(name, value)| {
                if value.is_empty() {
                    name
                } else {
                    format!("{name}={value}")
                }
            })
            .collect(),
    ))
}

async fn tag_value(
    State(state): State<AppState>,
    KeyPath(key): KeyPath,
    query: Result<Query<TagQuery>, QueryRejection>,
) -> Result<Json<String>, ApiError> {
    let (name, _) = tag_of(query)?;
    let tags = state.discovery.store().tags(&key).await?;
    tags.into_iter()
        .find(|(n, _)| *n == name)
        .map(|(_, value)| Json(value))
        .ok_or_else(|| ApiError::NotFound(format!("{key} has no tag {name}")))
}

async fn tagged(
    State(state): State<AppState>,
    query: Result<Query<TagQuery>, QueryRejection>,
) -> Result<Json<Vec<InstanceKeyJson>>, ApiError> {
    let (name, value) = tag_of(query)?;
    let keys = state
        .discovery
        .store()
        .tagged(&name, value.as_deref())
        .await?;
    Ok(Json(keys.iter().map(Into::into).collect()))
}
