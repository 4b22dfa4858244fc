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

pub(crate) fn router(state: &AppState) -> Router<AppState> {
    let page = |body: &'static str, content_type: &'static str| {
        crate::auth::protect(
            get(
                move || async move { ([(header::CONTENT_TYPE, content_type)], body).into_response() },
            ),
            state,
            Access::Read,
        )
    };
    let index = || page(INDEX_HTML, "text/html; charset=utf-8");
    Router::new()
        .route("/", index())
        .route("/web", index())
        .route("/web/{*page}", index())
        .route("/ui/app.js", page(APP_JS, "text/javascript; charset=utf-8"))
        .route("/ui/style.css", page(STYLE_CSS, "text/css; charset=utf-8"))
}
