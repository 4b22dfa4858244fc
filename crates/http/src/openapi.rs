//! The OpenAPI 3 document served at `/api/openapi.json`, generated from the route registry.
//!
//! Paths come from the registered routes, so every route is described. Component schemas are
//! derived from serialized examples of the wire types themselves, so a field added to
//! `InstanceJson` shows in the schema without anyone remembering to document it.

use arbor_api::{
    ApiResponse, ClusterInfo, HealthStatus, InstanceJson, ReplicationAnalysisJson, ViewContext,
};
use arbor_topology::{
    BinlogCoordinates, Flavor, GtidKind, Instance, InstanceRecord, IoThreadState, ReplicaStatus,
    Timestamp, Topology, TopologyOptions,
};
use serde_json::{json, Map, Value};

use crate::registry::{Answer, RouteSpec};

/// The OpenAPI document of `specs`, as served by a node with `RequirePostForChanges` as
/// `require_post` says.
pub fn document(specs: &[RouteSpec], require_post: bool) -> Value {
    let mut paths = Map::new();
    for spec in specs {
        let mut operations = Map::new();
        for method in spec.methods_with(require_post) {
            operations.insert(method.to_string(), operation(spec, method));
        }
        paths.insert(spec.path.to_string(), Value::Object(operations));
    }
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "arbor",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "arbor's HTTP API. Paths and JSON shapes follow orchestrator's API; \
                            routes that change something answer GET (as orchestrator's do) and POST. \
                            Errors answer {\"Code\":\"ERROR\",\"Message\":...}."
        },
        "paths": paths,
        "components": {
            "schemas": schemas(),
            "securitySchemes": { "basic": { "type": "http", "scheme": "basic" } }
        },
        "security": [ {}, { "basic": [] } ]
    })
}

fn operation(spec: &RouteSpec, method: &str) -> Value {
    let mut parameters: Vec<Value> = path_parameters(spec.path)
        .into_iter()
        .map(|name| {
            json!({"name": name, "in": "path", "required": true, "schema": crate::params::schema(&name)})
        })
        .collect();
    for (name, required, description) in spec.query {
        parameters.push(json!({
            "name": name, "in": "query", "required": required,
            "description": description, "schema": {"type": "string"}
        }));
    }
    let success = match spec.answer {
        Answer::Metrics => json!({
            "description": "Prometheus metrics, OpenMetrics text",
            "content": {"application/openmetrics-text": {"schema": {"type": "string"}}}
        }),
        answer => json!({
            "description": "success",
            "content": {"application/json": {"schema": answer_schema(answer)}}
        }),
    };
    let error = json!({
        "description": "error",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    });
    json!({
        "summary": spec.summary,
        "operationId": format!("{method}{}", spec.path.replace(['/', '{', '}', '-', '.'], "_")),
        "parameters": parameters,
        "responses": { "200": success, "4XX": error.clone(), "5XX": error }
    })
}

fn path_parameters(path: &str) -> Vec<String> {
    path.split('/')
        .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
        .map(str::to_string)
        .collect()
}

fn reference(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn answer_schema(answer: Answer) -> Value {
    match answer {
        Answer::Text => json!({"type": "string"}),
        Answer::Instance => reference("Instance"),
        Answer::Instances => json!({"type": "array", "items": reference("Instance")}),
        Answer::InstancesOrNull => {
            json!({"type": "array", "items": reference("Instance"), "nullable": true})
        }
        Answer::ClusterInfo => reference("ClusterInfo"),
        Answer::ClusterInfos => json!({"type": "array", "items": reference("ClusterInfo")}),
        Answer::Strings => json!({"type": "array", "items": {"type": "string"}}),
        Answer::Object => json!({"type": "object"}),
        Answer::List(name) => json!({"type": "array", "items": reference(name)}),
        Answer::Metrics => json!({"type": "string"}),
        Answer::Envelope(details) => {
            let details = match details {
                "Text" => json!({"type": "string"}),
                "Integer" => json!({"type": "integer"}),
                "Instances" => json!({"type": "array", "items": reference("Instance")}),
                "Null" => json!({"nullable": true}),
                "Object" => json!({"type": "object"}),
                "Strings" => json!({"type": "array", "items": {"type": "string"}}),
                "InstanceKeys" => json!({"type": "array", "items": reference("InstanceKey")}),
                "PoolMembers" => json!({
                    "type": "object",
                    "additionalProperties": {"type": "array", "items": reference("InstanceKey")}
                }),
                "KvPairs" => json!({"type": "array", "items": {
                    "type": "object",
                    "required": ["Key", "Value"],
                    "properties": {"Key": {"type": "string"}, "Value": {"type": "string"}}
                }}),
                "ReplicationAnalyses" => {
                    json!({"type": "array", "items": reference("ReplicationAnalysis")})
                }
                other => reference(other),
            };
            json!({
                "type": "object",
                "required": ["Code", "Message", "Details"],
                "properties": {
                    "Code": {"type": "string", "enum": ["OK"]},
                    "Message": {"type": "string"},
                    "Details": details
                }
            })
        }
    }
}

/// A JSON schema describing `value`'s shape: every field present is a required property.
pub(crate) fn schema_of(value: &Value) -> Value {
    match value {
        Value::Null => json!({"nullable": true}),
        Value::Bool(_) => json!({"type": "boolean"}),
        Value::Number(n) if n.is_i64() || n.is_u64() => json!({"type": "integer"}),
        Value::Number(_) => json!({"type": "number"}),
        Value::String(_) => json!({"type": "string"}),
        Value::Array(items) => json!({
            "type": "array",
            "items": items.first().map(schema_of).unwrap_or_else(|| json!({}))
        }),
        Value::Object(fields) => {
            let properties: Map<String, Value> = fields
                .iter()
                .map(|(k, v)| (k.clone(), schema_of(v)))
                .collect();
            let required: Vec<&String> = fields.keys().collect();
            json!({"type": "object", "required": required, "properties": properties})
        }
    }
}

fn schemas() -> Value {
    let instance = example_instance();
    let to_value = |v: &dyn erased::Serialize| v.to_json();
    json!({
        "Instance": schema_of(&to_value(&instance)),
        "InstanceKey": schema_of(&to_value(&instance.key)),
        "ClusterInfo": schema_of(&to_value(&example_cluster_info())),
        "HealthStatus": nullable(schema_of(&to_value(&HealthStatus {
            healthy: true,
            hostname: "node1".into(),
            is_active_node: true,
            app_version: "0".into(),
            watched_instances: 1,
            token: "node1".into(),
            active_node: arbor_api::ActiveNode::default(),
            error: Some("example".into()),
            available_nodes: None,
            raft: None,
            kv_stores: vec![arbor_api::KvStoreHealth {
                store: "etcd".into(),
                address: "http://127.0.0.1:2379".into(),
                healthy: true,
                ..Default::default()
            }],
        })), &["Error"]),
        "Error": schema_of(&to_value(&ApiResponse::error("message"))),
        "ReplicationAnalysis": nullable(
            schema_of(&to_value(&example_analysis())),
            &["StructureAnalysis", "ArborNotRecoveredBecause"],
        ),
        "TopologyRecovery": nullable(
            schema_of(&to_value(&example_recovery())),
            &["SuccessorKey"],
        ),
        "Maintenance": schema_of(&to_value(&arbor_api::MaintenanceJson {
            id: 1,
            key: (&instance_key()).into(),
            begin: Timestamp(0).to_sql_datetime(),
            end: Timestamp(0).to_sql_datetime(),
            active: true,
            owner: "ops".into(),
            reason: "example".into(),
        })),
        "RecoveryStep": schema_of(&to_value(&example_recovery().steps[0])),
        "BlockedRecovery": schema_of(&to_value(&arbor_api::BlockedRecoveryJson {
            failed_instance_key: (&instance_key()).into(),
            cluster_name: "primary.example:3306".into(),
            analysis: "DeadMaster".into(),
            last_blocked_timestamp: Timestamp(0).to_sql_datetime(),
            blocking_recovery_id: 1,
            reason: "example".into(),
        })),
        "ConfigReload": schema_of(&to_value(&crate::info_routes::ConfigReload {
            file: "/etc/arbor.conf.json".into(),
            changed_keys: vec!["InstancePollSeconds".into()],
            warnings: vec!["example".into()],
        })),
        "PromotionRuleEntry": schema_of(&to_value(&crate::info_routes::PromotionRuleEntry {
            hostname: "replica.example".into(),
            port: 3306,
            promotion_rule: "prefer".into(),
            last_suggested: String::new(),
            expiry: String::new(),
        })),
        "AnalysisChangelog": schema_of(&to_value(&crate::audit_routes::AnalysisChangelog {
            analyzed_instance_key: (&instance_key()).into(),
            changelog: vec!["2026-01-01 00:00:00;DeadMaster".into()],
        })),
        "AuditEntry": schema_of(&to_value(&crate::audit_routes::AuditEntry {
            id: 1,
            timestamp: Timestamp(0).to_sql_datetime(),
            kind: "detection-DeadMaster".into(),
            key: (&instance_key()).into(),
            message: "example".into(),
        })),
        "FailureDetection": schema_of(&to_value(&crate::wire::detection_json(
            &arbor_store::FailureDetection {
                id: 1,
                cluster: "primary.example:3306".into(),
                key: "primary.example:3306".parse().unwrap_or_default(),
                analysis: "DeadMaster".into(),
                description: "example".into(),
                detected_at: Timestamp(0),
            },
        ))),
    })
}

/// `schema` with the named properties allowed to be null (an example shows them set).
fn nullable(mut schema: Value, fields: &[&str]) -> Value {
    for field in fields {
        if let Some(property) = schema["properties"].get_mut(*field) {
            property["nullable"] = json!(true);
        }
    }
    schema
}

fn instance_key() -> arbor_topology::InstanceKey {
    "primary.example:3306".parse().unwrap_or_default()
}

/// Object-safe serialization to `Value`, so the examples of different types share one helper.
mod erased {
    pub trait Serialize {
        fn to_json(&self) -> serde_json::Value;
    }
    impl<T: serde::Serialize> Serialize for T {
        fn to_json(&self) -> serde_json::Value {
            serde_json::to_value(self).unwrap_or_default()
        }
    }
}

/// An instance with every optional part filled, so that every field and nested shape shows.
fn example_record() -> InstanceRecord {
    let key: arbor_topology::InstanceKey = "replica.example:3306".parse().unwrap_or_default();
    let mut instance = Instance::unseen(key);
    instance.version = "10.11.6-MariaDB".into();
    instance.flavor = Flavor::MariaDb;
    instance.self_coordinates = Some(BinlogCoordinates {
        log_file: "mysql-bin.000001".into(),
        log_pos: 4,
    });
    instance.replicas = vec!["leaf.example:3306".parse().unwrap_or_default()];
    instance.replication = Some(ReplicaStatus {
        source: "primary.example:3306".parse().unwrap_or_default(),
        io_thread: IoThreadState::Running,
        sql_thread_running: true,
        seconds_behind_source: Some(0),
        gtid_kind: GtidKind::MariaDb,
        ..ReplicaStatus::default()
    });
    InstanceRecord {
        instance,
        first_discovered: Timestamp(0),
        last_attempted_check: Some(Timestamp(0)),
        last_checked: Some(Timestamp(0)),
        last_seen: Some(Timestamp(0)),
        last_error: String::new(),
    }
}

pub(crate) fn example_instance() -> InstanceJson {
    let record = example_record();
    let topology = Topology::new(vec![record.clone()], &TopologyOptions::default());
    let mut json = InstanceJson::from_record(
        &record,
        &ViewContext {
            topology: &topology,
            now: Timestamp(0),
            check_window: std::time::Duration::from_secs(6),
            reasonable_lag: std::time::Duration::from_secs(10),
            annotations: Default::default(),
            errant_gtid: arbor_analysis::errant_gtid,
        },
    );
    json.problems = vec!["example".into()];
    json
}

fn example_analysis() -> ReplicationAnalysisJson {
    let mut primary = example_record();
    primary.instance.replication = None;
    primary.instance.key = "primary.example:3306".parse().unwrap_or_default();
    primary.last_seen = Some(Timestamp(-1));
    let replica = example_record();
    let topology = Topology::new(vec![primary, replica], &TopologyOptions::default());
    let analyses = arbor_analysis::analyze(&topology, &arbor_analysis::AnalysisSettings::default());
    let mut json = analyses
        .first()
        .map(|a| {
            crate::wire::analysis_json(a, &topology, &Default::default(), (true, false), "node")
        })
        .expect("the example primary is dead, so it is analyzed");
    json.structure_analysis = vec!["example".into()];
    json.not_recovered_because = Some("example".into());
    json
}

fn example_recovery() -> arbor_api::TopologyRecoveryJson {
    let key = |text: &str| text.parse().unwrap_or_default();
    let record = arbor_store::RecoveryRecord {
        id: 1,
        uid: "example".into(),
        cluster: "primary.example:3306".into(),
        failed: key("primary.example:3306"),
        analysis: "DeadMaster".into(),
        kind: "MasterRecovery".into(),
        manual: false,
        processing_node: "node".into(),
        started_at: Timestamp(0),
        ended_at: Some(Timestamp(1)),
        is_active: false,
        successful: true,
        successor: Some(key("replica.example:3306")),
        lost_replicas: vec![key("lost.example:3306")],
        participating: vec![key("replica.example:3306")],
        errors: vec!["example".into()],
        acknowledged: false,
        acknowledged_at: None,
        acknowledged_by: String::new(),
        acknowledged_comment: String::new(),
        analysis_entry: String::new(),
        steps: vec![arbor_store::RecoveryStep {
            at: Timestamp(0),
            message: "example".into(),
        }],
    };
    crate::wire::recovery_json(&record)
}

fn example_cluster_info() -> ClusterInfo {
    let record = example_record();
    let topology = Topology::new(vec![record], &TopologyOptions::default());
    let name = topology.cluster_names().pop().unwrap_or_default();
    ClusterInfo::of(&topology, &name, (true, false))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemas_describe_every_serialized_instance_field() {
        let schema = schema_of(&serde_json::to_value(example_instance()).unwrap());
        let properties = schema["properties"].as_object().unwrap();
        for field in [
            "Key",
            "MasterKey",
            "ReplicationSQLThreadRuning",
            "Slave_IO_Running",
            "SecondsBehindMaster",
            "Replicas",
            "SlaveHosts",
            "ClusterName",
            "Problems",
        ] {
            assert!(
                properties.contains_key(field),
                "{field} missing from the Instance schema"
            );
        }
        assert_eq!(
            properties["SecondsBehindMaster"]["properties"]["Valid"]["type"],
            "boolean"
        );
        assert_eq!(
            properties["Replicas"]["items"]["properties"]["Port"]["type"],
            "integer"
        );
    }

    #[test]
    fn path_parameters_are_found() {
        assert_eq!(
            path_parameters("/api/instance/{host}/{port}"),
            vec!["host", "port"]
        );
        assert!(path_parameters("/api/clusters").is_empty());
    }
}
