//! The API reference, rendered from the OpenAPI document (so it cannot drift from the routes):
//! an HTML page served at `/api/docs` (self-contained: no script or style from elsewhere), and
//! the same rows as Markdown for `docs/api.md`, which a test keeps current.

use serde_json::Value;

/// One route of the reference.
struct Row {
    path: String,
    methods: Vec<String>,
    summary: String,
    /// Query parameters: name, whether required, what it does.
    query: Vec<(String, bool, String)>,
    reply: String,
}

fn rows(document: &Value) -> Vec<Row> {
    let Some(paths) = document["paths"].as_object() else {
        return Vec::new();
    };
    let mut rows: Vec<Row> = paths
        .iter()
        .filter_map(|(path, operations)| {
            let operations = operations.as_object()?;
            let (_, first) = operations.iter().next()?;
            let query = first["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["in"] == "query")
                .map(|p| {
                    (
                        p["name"].as_str().unwrap_or_default().to_string(),
                        p["required"].as_bool().unwrap_or(false),
                        p["description"].as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect();
            let success = &first["responses"]["200"]["content"];
            let reply = success
                .as_object()
                .and_then(|content| content.values().next())
                .map(|media| describe(&media["schema"]))
                .unwrap_or_default();
            Some(Row {
                path: path.clone(),
                methods: operations.keys().map(|m| m.to_uppercase()).collect(),
                summary: first["summary"].as_str().unwrap_or_default().to_string(),
                query,
                reply,
            })
        })
        .collect();
    rows.sort_by(|a, b| a.path.cmp(&b.path));
    rows
}

/// A schema in a few words: `Instance`, `[ClusterInfo]`, `envelope of [Instance]`, `string`.
fn describe(schema: &Value) -> String {
    if let Some(name) = schema["$ref"].as_str() {
        return name.rsplit('/').next().unwrap_or(name).to_string();
    }
    if schema["type"] == "array" {
        return format!("[{}]", describe(&schema["items"]));
    }
    if schema["type"] == "object" {
        if let Some(details) = schema["properties"].get("Details") {
            return format!("envelope of {}", describe(details));
        }
        if let Some(values) = schema.get("additionalProperties") {
            return format!("map of {}", describe(values));
        }
        return "object".to_string();
    }
    match schema["type"].as_str() {
        Some(kind) => kind.to_string(),
        None if schema["nullable"] == true => "null".to_string(),
        None => "any".to_string(),
    }
}

fn query_text(query: &[(String, bool, String)]) -> Vec<String> {
    query
        .iter()
        .map(|(name, required, what)| {
            let required = if *required { " (required)" } else { "" };
            format!("{name}{required}: {what}")
        })
        .collect()
}

/// `docs/api.md`: every route, its methods, what it does, its query parameters and reply.
pub fn reference_markdown(document: &Value) -> String {
    let mut text = String::from(
        "# API reference\n\n\
         <!-- Generated from the OpenAPI document by `arbor_http::api_docs`; \
         `ARBOR_BLESS=1 cargo test -p arbor-http api_reference` rewrites it. -->\n\n\
         Every route arbor serves, generated from the OpenAPI document a running arbor serves at \
         `/api/openapi.json` (the same reference, as a page, is at `/api/docs`). Paths, \
         parameters and reply shapes follow orchestrator's API; routes that change something \
         answer `GET` (as orchestrator's do) and `POST`, or `POST` only with \
         `RequirePostForChanges`. Errors answer `{\"Code\":\"ERROR\",\"Message\":...}` with a \
         4xx status saying what was wrong. Which of orchestrator's routes arbor answers, and \
         how: the route table of the [migration guide](migrating-from-orchestrator.md#every-orchestrator-route).\n\n\
         | route | methods | what it does | query parameters | reply |\n|---|---|---|---|---|\n",
    );
    for row in rows(document) {
        let cell = |text: &str| text.replace('|', "\\|");
        text.push_str(&format!(
            "| `{}` | {} | {} | {} | {} |\n",
            row.path,
            row.methods.join(", "),
            cell(&row.summary),
            cell(&query_text(&row.query).join("; ")),
            cell(&row.reply),
        ));
    }
    text
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The page at `/api/docs`: a filterable table of every route. `prefix` is the `URLPrefix`.
pub fn reference_html(document: &Value, prefix: &str) -> String {
    let mut table = String::new();
    for row in rows(document) {
        let query = query_text(&row.query)
            .iter()
            .map(|q| format!("<div>{}</div>", escape(q)))
            .collect::<String>();
        table.push_str(&format!(
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>\n",
            escape(&row.path),
            escape(&row.methods.join(", ")),
            escape(&row.summary),
            query,
            escape(&row.reply),
        ));
    }
    let version = escape(document["info"]["version"].as_str().unwrap_or_default());
    format!(
        r##"<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>arbor API reference</title>
<link rel="icon" href="data:,">
<style>
body {{ font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #1d2330; }}
table {{ border-collapse: collapse; width: 100%; }}
th, td {{ text-align: left; vertical-align: top; padding: .35em .6em; border-bottom: 1px solid #dde; }}
th {{ position: sticky; top: 0; background: #f4f5f8; }}
td:first-child {{ white-space: nowrap; }}
input {{ font: inherit; padding: .3em .5em; width: 24em; max-width: 100%; }}
</style></head>
<body>
<h1>arbor API reference <small>{version}</small></h1>
<p>Every route, from the <a href="{prefix}/api/openapi.json">OpenAPI document</a>. Paths and
replies follow orchestrator's API; routes that change something answer GET and POST (POST only
with RequirePostForChanges). Errors answer <code>{{"Code":"ERROR","Message":...}}</code> with a
4xx status. <a href="{prefix}/">Web UI</a></p>
<p><label>Filter <input id="filter" type="search" placeholder="path or words"></label></p>
<table><thead><tr><th>route</th><th>methods</th><th>what it does</th><th>query parameters</th><th>reply</th></tr></thead>
<tbody id="routes">
{table}</tbody></table>
<script>
document.getElementById("filter").addEventListener("input", function (event) {{
  var words = event.target.value.toLowerCase();
  document.querySelectorAll("#routes tr").forEach(function (row) {{
    row.hidden = words !== "" && row.textContent.toLowerCase().indexOf(words) < 0;
  }});
}});
</script>
</body></html>
"##,
        prefix = escape(prefix),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn document() -> Value {
        json!({
            "info": {"version": "0.1.0"},
            "paths": {
                "/api/instance/{host}/{port}": {"get": {
                    "summary": "one <server>",
                    "parameters": [{"name": "host", "in": "path"}],
                    "responses": {"200": {"content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/Instance"}}}}}
                }},
                "/api/discover/{host}/{port}": {"get": {
                    "summary": "discover",
                    "parameters": [{"name": "force", "in": "query", "required": false,
                                    "description": "even if ignored"}],
                    "responses": {"200": {"content": {"application/json": {"schema": {
                        "type": "object",
                        "properties": {"Details": {"type": "array",
                            "items": {"$ref": "#/components/schemas/Instance"}}}}}}}}
                }, "post": {"summary": "discover"}}
            }
        })
    }

    #[test]
    fn every_route_is_a_row_with_its_methods_parameters_and_reply() {
        let markdown = reference_markdown(&document());
        assert!(markdown.contains(
            "| `/api/discover/{host}/{port}` | GET, POST | discover | force: even if ignored | envelope of [Instance] |"
        ), "{markdown}");
        assert!(markdown
            .contains("| `/api/instance/{host}/{port}` | GET | one <server> |  | Instance |"));
        // Sorted by path, so the file changes only where a route does.
        assert!(markdown.find("/api/discover").unwrap() < markdown.find("/api/instance").unwrap());
    }

    #[test]
    fn the_page_escapes_text_and_loads_nothing_from_elsewhere() {
        let html = reference_html(&document(), "/arbor");
        assert!(html.contains("one &lt;server&gt;"));
        assert!(html.contains("href=\"/arbor/api/openapi.json\""));
        assert!(!html.contains("http://") && !html.contains("https://"));
    }
}
