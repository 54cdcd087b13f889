//! `basic-auth`: HTTP Basic authentication in front of any application.
//!
//! `USERS` (an environ variable the operator sets in the middleware's `env`)
//! lists `name:password` pairs, comma-separated. A request with valid
//! credentials passes on with `REMOTE_USER` set to the name (as a WSGI
//! server behind Apache would see it) and without its `Authorization`
//! header, so the application never holds the password. Anything else gets
//! `401 Unauthorized` with a `WWW-Authenticate` challenge for realm `REALM`
//! (default "wasm-gateway").
//!
//! Passwords are compared in constant time. An empty or malformed `USERS`
//! lets nobody in.

use wasm_gateway_middleware::{Environ, Error, Next, Response};

wasm_gateway_middleware::middleware!(handle);

fn handle(mut env: Environ, next: Next) -> Result<Response, Error> {
    let users = env.var("USERS").unwrap_or("").to_owned();
    let user = env
        .header_str("Authorization")
        .and_then(|value| credentials(&value))
        .filter(|(name, password)| allowed(&users, name, password))
        .map(|(name, _)| name);
    let Some(user) = user else {
        let realm = env.var("REALM").unwrap_or("wasm-gateway").replace('"', "");
        return Ok(Response::new(401)
            .header("Content-Type", "text/plain; charset=utf-8")
            .header(
                "WWW-Authenticate",
                format!("Basic realm=\"{realm}\", charset=\"UTF-8\""),
            )
            .body("Unauthorized"));
    };
    env.remove_header("Authorization");
    env.set_var("REMOTE_USER", user);
    env.set_var("AUTH_TYPE", "Basic");
    next.call(env)
}

/// `(name, password)` from an `Authorization: Basic ...` value.
fn credentials(value: &str) -> Option<(String, String)> {
    let (scheme, token) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    use base64::Engine as _;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(token.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (name, password) = decoded.split_once(':')?;
    Some((name.to_owned(), password.to_owned()))
}

/// Whether `USERS` lists `name` with `password`.
fn allowed(users: &str, name: &str, password: &str) -> bool {
    users
        .split(',')
        .filter_map(|pair| pair.trim().split_once(':'))
        .filter(|(user, _)| !user.is_empty() && *user == name)
        .any(|(_, expected)| same(expected.as_bytes(), password.as_bytes()))
}

/// Equality whose time does not depend on where the inputs differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    let mut diff = u8::from(a.len() != b.len());
    for (x, y) in a.iter().zip(b.iter()) {
        diff |= x ^ y;
    }
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_basic_credentials() {
        // "alice:s3cret:with:colons"
        assert_eq!(
            credentials("Basic YWxpY2U6czNjcmV0OndpdGg6Y29sb25z"),
            Some(("alice".into(), "s3cret:with:colons".into()))
        );
        assert_eq!(credentials("Bearer abc"), None);
        assert_eq!(credentials("Basic !!!"), None);
    }

    #[test]
    fn checks_users() {
        let users = "alice:wonder, bob:builder";
        assert!(allowed(users, "alice", "wonder"));
        assert!(allowed(users, "bob", "builder"));
        assert!(!allowed(users, "alice", "builder"));
        assert!(!allowed(users, "carol", "wonder"));
        assert!(!allowed("", "", ""));
        assert!(!allowed("alice:wonder", "alice", "wonde"));
    }
}
