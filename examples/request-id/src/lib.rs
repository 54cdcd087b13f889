//! `request-id`: gives every request an `X-Request-Id`, in the environ the
//! next layer sees (`HTTP_X_REQUEST_ID`) and in the response.
//!
//! An incoming id is kept when it is plausible (1 to 200 characters of
//! letters, digits and `-_.:/+=`), so that an id set by a proxy in front
//! follows the request through; anything else is replaced by a fresh random
//! one (128 bits, hex), so a client cannot inject text into logs.

use wasm_gateway_middleware::{Environ, Error, Next, Response};

wasm_gateway_middleware::middleware!(handle);

const HEADER: &str = "X-Request-Id";

fn handle(mut env: Environ, next: Next) -> Result<Response, Error> {
    let id = match env.header_str(HEADER) {
        Some(id) if valid(&id) => id.into_owned(),
        _ => fresh_id()?,
    };
    env.set_header(HEADER, id.clone());
    let response = next.call(env)?;
    Ok(response.set_header(HEADER, id))
}

fn valid(id: &str) -> bool {
    (1..=200).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:/+=".contains(&b))
}

/// 128 random bits as 32 hex digits (WASI's random source, always granted).
fn fresh_id() -> Result<String, Error> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|err| Error::msg(format!("no randomness: {err}")))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_incoming_ids() {
        assert!(valid("abc-123"));
        assert!(valid("f47ac10b-58cc-4372-a567-0e02b2c3d479"));
        assert!(!valid(""));
        assert!(!valid("has space"));
        assert!(!valid("line\nbreak"));
        assert!(!valid(&"x".repeat(201)));
    }

    #[test]
    fn fresh_ids_are_32_hex_digits_and_differ() {
        let (a, b) = (fresh_id().unwrap(), fresh_id().unwrap());
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}
