//! A small Flask application rewritten with the SDK's [`Router`]:
//!
//! ```python
//! @app.route("/", methods=["GET", "POST"])
//! def index():
//!     return "<h1>Home</h1>"
//!
//! @app.route("/user/<name>")
//! def user(name):
//!     return f"<h1>Hello, {escape(name)}!</h1>"
//! ```
//!
//! Both pages are `text/html; charset=utf-8`. Like Flask, the router
//! answers `404 Not Found` for other paths and `405 Method Not Allowed`
//! (with an `Allow` header) for a known path with the wrong method.

use wasm_gateway_sdk::{Environ, Error, Params, Response, Router};

wasm_gateway_sdk::app!(app);

/// The application: builds the route table and dispatches the request.
///
/// Every request runs in a fresh instance, so building the router per
/// request costs no more than building it once.
fn app(env: Environ) -> Result<Response, Error> {
    Router::new()
        .route(&["GET", "POST"], "/", index)
        // `get` routes also answer HEAD.
        .get("/user/<name>", user)
        .handle(env)
}

/// `/`, for GET and POST.
fn index(_env: Environ, _params: Params) -> Response {
    Response::html("<h1>Home</h1>")
}

/// `/user/<name>`: greets `name`.
fn user(_env: Environ, params: Params) -> Response {
    // The router only runs this handler when `<name>` matched a non-empty
    // segment, so the parameter is always there.
    let name = params.get("name").unwrap_or_default();
    // The name comes from the URL: escape it before putting it into HTML,
    // as Flask's templates (markupsafe) do.
    Response::html(format!("<h1>Hello, {}!</h1>", escape_html(name)))
}

/// Escapes `& < > " '` the way markupsafe does.
fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::escape_html;

    #[test]
    fn escapes_markup() {
        assert_eq!(escape_html("Ada"), "Ada");
        assert_eq!(
            escape_html(r#"<b>"Tom" & 'Jerry'</b>"#),
            "&lt;b&gt;&#34;Tom&#34; &amp; &#39;Jerry&#39;&lt;/b&gt;"
        );
    }
}
