//! Validation of `start-response` arguments into a response head.
//!
//! PEP 3333 lets the server refuse bad input at the call, which is the only
//! moment the application can still do something about it. Everything that
//! could corrupt the HTTP response (a CR or LF in a value, a name that is not
//! a token) or that belongs to the server (hop-by-hop headers) is refused here,
//! so the rest of the host can trust a [`ResponseHead`].

use crate::bindings::{Header, StartResponseError};
use hyper::StatusCode;
use hyper::ext::ReasonPhrase;
use hyper::header::{HeaderMap, HeaderName, HeaderValue};

/// A validated status line and header list, ready to be sent.
#[derive(Debug)]
pub struct ResponseHead {
    /// The status code.
    pub status: StatusCode,
    /// The application's reason phrase, kept only when it differs from the
    /// standard one (e.g. "404 NOT FOUND"), so the client sees what the app
    /// said.
    pub reason: Option<ReasonPhrase>,
    /// The application's headers, in order.
    pub headers: HeaderMap,
}

/// Header fields PEP 3333 reserves to the server (RFC 2616 section 13.5.1).
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "trailers",
    "transfer-encoding",
    "upgrade",
];

/// Parses `status` ("200 OK") and the header list.
pub fn parse(status: &str, headers: Vec<Header>) -> Result<ResponseHead, StartResponseError> {
    let (status, reason) = parse_status(status)?;
    let mut map = HeaderMap::with_capacity(headers.len());
    for Header { name, value } in headers {
        let header_name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| StartResponseError::InvalidHeader(format!("bad header name {name:?}")))?;
        if HOP_BY_HOP.contains(&header_name.as_str()) {
            return Err(StartResponseError::HopByHopHeader(name));
        }
        let header_value = header_value(&value).ok_or_else(|| {
            StartResponseError::InvalidHeader(format!(
                "value of {name:?} contains a control character (CR, LF, NUL, ...)"
            ))
        })?;
        map.append(header_name, header_value);
    }
    Ok(ResponseHead {
        status,
        reason,
        headers: map,
    })
}

/// A field value may hold visible ASCII, spaces, tabs and obs-text; nothing
/// that could end the line (RFC 9110 section 5.5).
fn header_value(value: &[u8]) -> Option<HeaderValue> {
    let clean = value
        .iter()
        .all(|&b| b == b'\t' || (b' '..=b'~').contains(&b) || b >= 0x80);
    if clean {
        HeaderValue::from_bytes(value).ok()
    } else {
        None
    }
}

fn parse_status(status: &str) -> Result<(StatusCode, Option<ReasonPhrase>), StartResponseError> {
    let invalid = || StartResponseError::InvalidStatus(format!("{status:?} is not \"NNN Reason\""));
    let bytes = status.as_bytes();
    if bytes.len() < 4 || bytes[3] != b' ' || !bytes[..3].iter().all(u8::is_ascii_digit) {
        return Err(invalid());
    }
    let code = StatusCode::from_bytes(&bytes[..3]).map_err(|_| invalid())?;
    let reason = &status[4..];
    if reason.starts_with(' ') || reason.ends_with(' ') {
        return Err(invalid());
    }
    if code.canonical_reason() == Some(reason) {
        return Ok((code, None));
    }
    // ReasonPhrase refuses CR, LF and other control bytes.
    let phrase = ReasonPhrase::try_from(reason.as_bytes().to_vec()).map_err(|_| invalid())?;
    Ok((code, Some(phrase)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(name: &str, value: &[u8]) -> Header {
        Header {
            name: name.into(),
            value: value.to_vec(),
        }
    }

    #[test]
    fn accepts_plain_status_and_headers() {
        let head = parse("200 OK", vec![h("Content-Type", b"text/plain")]).unwrap();
        assert_eq!(head.status, StatusCode::OK);
        assert!(head.reason.is_none());
        assert_eq!(head.headers["content-type"], "text/plain");
    }

    #[test]
    fn keeps_custom_reason_phrase() {
        let head = parse("404 NOT FOUND", vec![]).unwrap();
        assert_eq!(head.status, StatusCode::NOT_FOUND);
        assert_eq!(head.reason.unwrap().as_bytes(), b"NOT FOUND");
    }

    #[test]
    fn refuses_malformed_status_lines() {
        for bad in [
            "200",
            "OK 200",
            "2000 OK",
            "20 OK",
            "200  OK",
            "099 X",
            "200 OK\r\nX: y",
        ] {
            assert!(
                matches!(
                    parse(bad, vec![]),
                    Err(StartResponseError::InvalidStatus(_))
                ),
                "{bad:?} was accepted"
            );
        }
    }

    #[test]
    fn refuses_response_splitting() {
        for value in [&b"a\r\nb"[..], b"a\nb", b"a\0b", b"a\rb"] {
            let err = parse("200 OK", vec![h("X-A", value)]).unwrap_err();
            assert!(matches!(err, StartResponseError::InvalidHeader(_)));
        }
        let err = parse("200 OK", vec![h("Bad Name", b"x")]).unwrap_err();
        assert!(matches!(err, StartResponseError::InvalidHeader(_)));
    }

    #[test]
    fn refuses_hop_by_hop_headers() {
        for name in [
            "Connection",
            "Transfer-Encoding",
            "keep-alive",
            "Upgrade",
            "TE",
        ] {
            let err = parse("200 OK", vec![h(name, b"x")]).unwrap_err();
            assert!(
                matches!(err, StartResponseError::HopByHopHeader(_)),
                "{name}"
            );
        }
    }
}
