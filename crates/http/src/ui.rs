//! The web UI: a few static files embedded in the binary (no npm build step), served at `/`
//! and `/web/...`; the page itself fetches the JSON API.

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

use crate::registry::Access;
use crate::AppState;

const INDEX_HTML: &str = include_str!("../ui/index.html");
const APP_JS: &str = include_str!("../ui/app.js");
const STYLE_CSS: &str = include_str!("../ui/style.css");

/// The UI's pages, and the API reference page (`api_docs`, rendered once at start) at
/// `/api/docs`.
pub(crate) fn router(state: &AppState, api_docs: String) -> Router<AppState> {
    let page = |body: std::sync::Arc<str>, content_type: &'static str| {
        crate::auth::protect(
            get(move || async move {
                ([(header::CONTENT_TYPE, content_type)], body.to_string()).into_response()
            }),
            state,
            Access::Read,
        )
    };
    let index_html: std::sync::Arc<str> = with_prefix(INDEX_HTML, &state.view.url_prefix).into();
    let index = || page(index_html.clone(), "text/html; charset=utf-8");
    Router::new()
        .route("/", index())
        .route("/web", index())
        .route("/web/{*page}", index())
        .route(
            "/api/docs",
            page(api_docs.into(), "text/html; charset=utf-8"),
        )
        .route(
            "/ui/app.js",
            page(APP_JS.into(), "text/javascript; charset=utf-8"),
        )
        .route(
            "/ui/style.css",
            page(STYLE_CSS.into(), "text/css; charset=utf-8"),
        )
}

/// The page's links and its `arbor-prefix` meta under `URLPrefix` (app.js reads the meta for
/// the links and API calls it makes).
fn with_prefix(html: &str, prefix: &str) -> String {
    html.replace("href=\"/", &format!("href=\"{prefix}/"))
        .replace("src=\"/", &format!("src=\"{prefix}/"))
        .replace(
            "<meta name=\"arbor-prefix\" content=\"\">",
            &format!("<meta name=\"arbor-prefix\" content=\"{prefix}\">"),
        )
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_page_points_under_the_prefix() {
        let html = super::with_prefix(super::INDEX_HTML, "/arbor");
        assert!(html.contains("<meta name=\"arbor-prefix\" content=\"/arbor\">"));
        assert!(html.contains("href=\"/arbor/web/clusters\""));
        assert!(html.contains("src=\"/arbor/ui/app.js\""));
        assert!(!html.contains("href=\"/web"));
        assert_eq!(super::with_prefix(super::INDEX_HTML, ""), super::INDEX_HTML);
    }
}
