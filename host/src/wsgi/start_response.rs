//! Validation of `start-response` arguments into a response head.
//!
//! PEP 3333 lets the server refuse bad input at the call, which is the only
//! moment the application can still do something about it. Everything that
//! could corrupt the HTTP response (a CR or LF in a value, a name that is not
//! a token) or that belongs to the server (hop-by-hop headers) is refused here,
//! so the rest of the host can trust a [`ResponseHead`].

use crate::wsgi::bindings::{Header, StartResponseError};
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
    /// The names the application spelled other than in Title-Case, in
    /// order, so they go out as it wrote them ([`crate::http::header_case`]).
    pub spellings: Vec<Box<[u8]>>,
}

/// The default largest response head an application may send (the status
/// line and the header lines, counting `: ` and CRLFs); `max-response-head`
/// per application.
pub const MAX_RESPONSE_HEAD: usize = 64 << 10;

/// The longest reason phrase an application may send ("Not Found" is 9
/// bytes; a longer one is text that belongs in the body).
pub const MAX_REASON: usize = 512;

/// What goes before the status on the wire, and after each line.
const STATUS_LINE_OVERHEAD: usize = "HTTP/1.1 ".len() + "\r\n".len();

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

/// Parses `status` ("200 OK") and the header list, whose lines may take at
/// most `max_head` bytes.
pub fn parse(
    status: &str,
    headers: Vec<Header>,
    max_head: usize,
) -> Result<ResponseHead, StartResponseError> {
    if status.len() > "NNN ".len() + MAX_REASON {
        return Err(StartResponseError::InvalidStatus(format!(
            "the status is {} bytes; a reason phrase may have at most {MAX_REASON}",
            status.len()
        )));
    }
    let (status_code, reason) = parse_status(status)?;
    // Every client has a limit on response heads (browsers around 256 KiB,
    // many proxies 8-64 KiB); past it the response is lost anyway, so the
    // app hears it at the call.
    let size: usize = status.len()
        + STATUS_LINE_OVERHEAD
        + headers
            .iter()
            .map(|h| h.name.len() + h.value.len() + 4)
            .sum::<usize>();
    if size > max_head {
        return Err(StartResponseError::InvalidHeader(format!(
            "the status and headers take {size} bytes; the limit is {max_head}"
        )));
    }
    let spellings =
        crate::http::header_case::ResponseCase::spellings(headers.iter().map(|h| &*h.name));
    let mut map = HeaderMap::with_capacity(headers.len());
    for Header { name, value } in headers {
        let header_name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
            StartResponseError::InvalidHeader(format!("bad header name {}", preview(&name)))
        })?;
        if HOP_BY_HOP.contains(&header_name.as_str()) {
            return Err(StartResponseError::HopByHopHeader(name));
        }
        let header_value = header_value(&value).ok_or_else(|| {
            StartResponseError::InvalidHeader(format!(
                "value of {} contains a control character (CR, LF, NUL, ...)",
                preview(&name)
            ))
        })?;
        if header_name == hyper::header::CONTENT_LENGTH
            && (map.contains_key(&header_name)
                || crate::http::syntax::parse_decimal(&value).is_none())
        {
            // hyper sends the header as given but frames the body by its
            // real size; a bad value would desynchronise the connection.
            return Err(StartResponseError::InvalidHeader(format!(
                "Content-Length must be one decimal number, got {:?}",
                String::from_utf8_lossy(&value)
            )));
        }
        map.append(header_name, header_value);
    }
    Ok(ResponseHead {
        status: status_code,
        reason,
        headers: map,
        spellings,
    })
}

impl ResponseHead {
    /// The status line as the application gave it, e.g. "404 NOT FOUND".
    pub fn status_line(&self) -> String {
        let reason = match &self.reason {
            Some(reason) => String::from_utf8_lossy(reason.as_bytes()).into_owned(),
            None => self
                .status
                .canonical_reason()
                .unwrap_or("Unknown")
                .to_owned(),
        };
        format!("{} {reason}", self.status.as_u16())
    }

    /// The headers as a list, for a middleware: names spelled as the
    /// application wrote them; all values of one name together, in the
    /// order given.
    pub fn header_list(&self) -> Vec<Header> {
        let mut case = crate::http::header_case::ResponseCase {
            spellings: self.spellings.clone(),
            no_body: false,
        };
        self.headers
            .iter()
            .map(|(name, value)| Header {
                name: match case.take(name.as_str().as_bytes()) {
                    Some(s) => String::from_utf8_lossy(&s).into_owned(),
                    None => crate::http::header_case::title_case(name.as_str()),
                },
                value: value.as_bytes().to_vec(),
            })
            .collect()
    }

    /// The application's Content-Length, if it gave one (validated at
    /// `start-response`).
    pub fn content_length(&self) -> Option<u64> {
        self.headers
            .get(hyper::header::CONTENT_LENGTH)
            .and_then(|v| crate::http::syntax::parse_decimal(v.as_bytes()))
    }
}

/// A field value may hold visible ASCII, spaces, tabs and obs-text; nothing
/// that could end the line (RFC 9110 section 5.5).
fn header_value(value: &[u8]) -> Option<HeaderValue> {
    if crate::http::syntax::is_field_value(value) {
        HeaderValue::from_bytes(value).ok()
    } else {
        None
    }
}

/// `text` quoted for an error message, at most its first 64 bytes: the
/// message goes back to the guest and into the log, and a guest may send a
/// header name of 60 KiB thousands of times.
fn preview(text: &str) -> String {
    const SHOWN: usize = 64;
    if text.len() <= SHOWN {
        return format!("{text:?}");
    }
    let mut end = SHOWN;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{:?}... ({} bytes)", &text[..end], text.len())
}

fn parse_status(status: &str) -> Result<(StatusCode, Option<ReasonPhrase>), StartResponseError> {
    let invalid =
        || StartResponseError::InvalidStatus(format!("{} is not \"NNN Reason\"", preview(status)));
    let bytes = status.as_bytes();
    if bytes.len() < 4 || bytes[3] != b' ' || !bytes[..3].iter().all(u8::is_ascii_digit) {
        return Err(invalid());
    }
    let code = StatusCode::from_bytes(&bytes[..3]).map_err(|_| invalid())?;
    // 1xx responses are the server's business (100-continue, upgrades);
    // hyper would turn an application's into a broken connection.
    if code.is_informational() {
        return Err(StartResponseError::InvalidStatus(format!(
            "{status:?}: an application cannot send a 1xx response"
        )));
    }
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
        let head = parse(
            "200 OK",
            vec![h("Content-Type", b"text/plain")],
            MAX_RESPONSE_HEAD,
        )
        .unwrap();
        assert_eq!(head.status, StatusCode::OK);
        assert!(head.reason.is_none());
        assert_eq!(head.headers["content-type"], "text/plain");
    }

    #[test]
    fn the_status_line_counts_and_a_reason_phrase_has_a_cap() {
        let reason = "x".repeat(MAX_REASON);
        assert!(parse(&format!("200 {reason}"), Vec::new(), MAX_RESPONSE_HEAD).is_ok());
        let err = parse(&format!("200 {reason}x"), Vec::new(), MAX_RESPONSE_HEAD).unwrap_err();
        assert!(
            matches!(err, StartResponseError::InvalidStatus(_)),
            "{err:?}"
        );
        // A 16 MiB reason is refused without being quoted back whole.
        let huge = format!("200 {}", "y".repeat(16 << 20));
        match parse(&huge, Vec::new(), MAX_RESPONSE_HEAD).unwrap_err() {
            StartResponseError::InvalidStatus(message) => assert!(message.len() < 200),
            other => panic!("{other:?}"),
        }
        // The status line is part of the head: a header list that fits
        // alone does not fit with a long status line.
        let value = vec![b'v'; 1024 - "X: \r\n".len() - "HTTP/1.1 200 OK\r\n".len()];
        assert!(parse("200 OK", vec![h("X", &value)], 1024).is_ok());
        assert!(parse("200 Okay", vec![h("X", &value)], 1024).is_err());
    }

    #[test]
    fn keeps_custom_reason_phrase() {
        let head = parse("404 NOT FOUND", vec![], MAX_RESPONSE_HEAD).unwrap();
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
                    parse(bad, vec![], MAX_RESPONSE_HEAD),
                    Err(StartResponseError::InvalidStatus(_))
                ),
                "{bad:?} was accepted"
            );
        }
    }

    #[test]
    fn refuses_response_splitting() {
        for value in [&b"a\r\nb"[..], b"a\nb", b"a\0b", b"a\rb"] {
            let err = parse("200 OK", vec![h("X-A", value)], MAX_RESPONSE_HEAD).unwrap_err();
            assert!(matches!(err, StartResponseError::InvalidHeader(_)));
        }
        let err = parse("200 OK", vec![h("Bad Name", b"x")], MAX_RESPONSE_HEAD).unwrap_err();
        assert!(matches!(err, StartResponseError::InvalidHeader(_)));
    }

    #[test]
    fn content_length_must_be_one_decimal_number() {
        let head = parse(
            "200 OK",
            vec![h("Content-Length", b"42")],
            MAX_RESPONSE_HEAD,
        )
        .unwrap();
        assert_eq!(head.content_length(), Some(42));
        for bad in [
            &b"abc"[..],
            b"",
            b"-1",
            b"1 2",
            b"+5",
            b"99999999999999999999999",
        ] {
            let err =
                parse("200 OK", vec![h("Content-Length", bad)], MAX_RESPONSE_HEAD).unwrap_err();
            assert!(
                matches!(err, StartResponseError::InvalidHeader(_)),
                "{bad:?}"
            );
        }
        let twice = vec![h("Content-Length", b"1"), h("content-length", b"1")];
        assert!(matches!(
            parse("200 OK", twice, MAX_RESPONSE_HEAD),
            Err(StartResponseError::InvalidHeader(_))
        ));
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
            let err = parse("200 OK", vec![h(name, b"x")], MAX_RESPONSE_HEAD).unwrap_err();
            assert!(
                matches!(err, StartResponseError::HopByHopHeader(_)),
                "{name}"
            );
        }
    }
}
