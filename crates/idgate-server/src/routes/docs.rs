//! `GET /docs/errors`: the page every error body's `docs` link points at, generated from the
//! core error catalog so it can never drift from what the server actually answers.

use axum::http::header;
use axum::response::{Html, IntoResponse};
use idgate_core::ErrorCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(errors_page))
}

/// The errors reference page.
#[utoipa::path(get, path = "/docs/errors", operation_id = "errorReference", tag = "Documentation", summary = "The error reference", security(()),
    responses((status = 200, description = "Every error code with its status, message and hint.", body = String, content_type = "text/html")))]
pub async fn errors_page() -> impl IntoResponse {
    (
        [(header::CACHE_CONTROL, "public, max-age=300")],
        Html(render_errors_page()),
    )
}

fn render_errors_page() -> String {
    let mut rows = String::new();
    for &code in ErrorCode::ALL {
        rows.push_str(&format!(
            "<tr id=\"{anchor}\"><td><a href=\"#{anchor}\"><code>{code}</code></a></td><td>{status}</td><td>{message}</td><td>{hint}</td></tr>\n",
            anchor = code.docs_anchor(),
            code = code.as_str(),
            status = code.status(),
            message = escape(code.default_message()),
            hint = escape(code.hint()),
        ));
    }
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>idgate API errors</title>\
<style>body{{font-family:system-ui,sans-serif;max-width:70rem;margin:2rem auto;padding:0 1rem}}\
table{{border-collapse:collapse;width:100%}}td,th{{border-bottom:1px solid #ddd;padding:.4rem;text-align:left;vertical-align:top}}\
tr:target{{background:#fff6d5}}</style></head><body>\n<h1>API errors</h1>\n\
<p>Every error is <code>{{\"data\":null,\"error\":{{\"code\",\"message\",\"hint\",\"docs\"}}}}</code>. \
Match on <code>code</code>; messages may be more specific than shown here. The API reference is at <a href=\"../docs/\">/docs</a>.</p>\n\
<table><thead><tr><th>Code</th><th>HTTP status</th><th>Message</th><th>Hint</th></tr></thead><tbody>\n{rows}</tbody></table>\n</body></html>\n"
    )
}

/// `text` safe inside HTML text and double-quoted attributes (the errors page, the QR code's
/// label).
pub(crate) fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_has_an_anchor_for_every_catalog_code() {
        let page = render_errors_page();
        for &code in ErrorCode::ALL {
            assert!(
                page.contains(&format!("id=\"{}\"", code.docs_anchor())),
                "{code}"
            );
        }
    }
}
