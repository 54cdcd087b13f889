//! A small notes app: a list of notes kept in a key-value store, with a
//! form to add one and a button to delete each.
//!
//! ```sh
//! wasm-gateway serve target/examples/notes.wasm --kv default
//! # then open http://127.0.0.1:8000/
//! curl -d 'text=buy milk' http://127.0.0.1:8000/notes        # 303 to /
//! curl http://127.0.0.1:8000/notes/1                          # buy milk
//! ```
//!
//! Layout in the store: `note:<id>` holds a note's text, `next-id` the last
//! id given (an atomic counter, so two notes added at once get two ids).
//! Listing pages through the keys with the SDK's `keys()` iterator. Each
//! app's keys are its own: another app granted the same store sees none of
//! these.

use wasm_gateway_sdk::kv::Store;
use wasm_gateway_sdk::{Environ, Error, Params, Response, Router};

wasm_gateway_sdk::app!(notes);

/// The longest note accepted (the operator's `kv-value-size` is the hard
/// limit; this one gives a friendlier answer).
const MAX_NOTE: usize = 4096;

fn notes(env: Environ) -> Result<Response, Error> {
    Router::new()
        .get("/", index)
        .post("/notes", add)
        .get("/notes/<id>", show)
        .post("/notes/<id>/delete", delete)
        .handle(env)
}

/// `GET /`: every note, newest first, and the form.
fn index(env: Environ, _params: Params) -> Result<Response, Error> {
    let store = Store::open_default()?;
    let mut ids: Vec<u64> = Vec::new();
    for key in store.keys() {
        if let Some(id) = key?.strip_prefix("note:").and_then(|id| id.parse().ok()) {
            ids.push(id);
        }
    }
    ids.sort_unstable_by(|a, b| b.cmp(a));
    let keys: Vec<String> = ids.iter().map(|id| format!("note:{id}")).collect();
    let names: Vec<&str> = keys.iter().map(String::as_str).collect();
    // One call for every note's text.
    let mut items = String::new();
    for (key, text) in store.get_many(&names)? {
        let (Some(id), Some(text)) = (key.strip_prefix("note:"), text) else {
            continue;
        };
        let base = env.script_name();
        items.push_str(&format!(
            "<li><a href=\"{base}/notes/{id}\">{}</a> <form method=\"post\" action=\"{base}/notes/{id}/delete\" style=\"display:inline\"><button>delete</button></form></li>\n",
            escape_html(&String::from_utf8_lossy(&text))
        ));
    }
    if items.is_empty() {
        items.push_str("<li><em>no notes yet</em></li>\n");
    }
    Ok(Response::html(format!(
        "<!doctype html>\n<title>Notes</title>\n<h1>Notes</h1>\n<ul>\n{items}</ul>\n<form method=\"post\" action=\"{}/notes\"><input name=\"text\" placeholder=\"a new note\" autofocus> <button>add</button></form>\n",
        env.script_name()
    )))
}

/// `POST /notes` (`text=...`): adds a note, then back to the list.
fn add(mut env: Environ, _params: Params) -> Result<Response, Error> {
    let text = env
        .form()?
        .into_iter()
        .find(|(name, _)| name == "text")
        .map(|(_, text)| text.trim().to_owned())
        .unwrap_or_default();
    if text.is_empty() || text.len() > MAX_NOTE {
        return Ok(Response::new(400).body(format!(
            "a note is 1 to {MAX_NOTE} bytes of text in the form field `text`\n"
        )));
    }
    let store = Store::open_default()?;
    let id = store.increment("next-id", 1)?;
    store.set(&format!("note:{id}"), &text)?;
    Ok(Response::new(303).header("Location", format!("{}/", env.script_name())))
}

/// `GET /notes/<id>`: one note, as text.
fn show(_env: Environ, params: Params) -> Result<Response, Error> {
    let id = params.get("id").unwrap_or_default();
    match Store::open_default()?.get_text(&format!("note:{id}"))? {
        Some(text) => Ok(Response::text(text)),
        None => Ok(Response::not_found()),
    }
}

/// `POST /notes/<id>/delete`: deletes a note, then back to the list.
fn delete(env: Environ, params: Params) -> Result<Response, Error> {
    let id = params.get("id").unwrap_or_default();
    Store::open_default()?.delete(&format!("note:{id}"))?;
    Ok(Response::new(303).header("Location", format!("{}/", env.script_name())))
}

/// Escapes `& < > " '` for HTML.
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
    fn notes_are_escaped() {
        assert_eq!(escape_html("<script>&'\""), "&lt;script&gt;&amp;&#39;&#34;");
    }
}
