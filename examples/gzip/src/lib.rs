//! `gzip`: compresses responses for clients that accept it, streaming.
//!
//! A response is compressed when the client's `Accept-Encoding` allows gzip
//! (`q=0` refuses it), its type is text-like (`text/*`, JSON, JavaScript,
//! XML, SVG), it is not already encoded, not a partial (206) or empty (204,
//! 304) response, and not declared shorter than 256 bytes. Then:
//! `Content-Encoding: gzip` is added, `Content-Length` goes (the compressed
//! length is not known in advance, so the body is chunked), a strong `ETag`
//! becomes weak (the bytes differ), and each chunk of the next layer's body
//! is compressed and flushed as it arrives, so a streamed body stays
//! streamed and memory stays bounded. Every text-like response gets
//! `Vary: Accept-Encoding`, compressed or not, so caches keep both forms.

use flate2::Compression;
use flate2::write::GzEncoder;
use std::io::Write;
use wasm_gateway_middleware::{Body, Environ, Error, Next, Response};

wasm_gateway_middleware::middleware!(handle);

/// Below this declared length, compressing costs more than it saves.
const MIN_LENGTH: u64 = 256;

fn handle(env: Environ, next: Next) -> Result<Response, Error> {
    let accepts = env
        .header_str("Accept-Encoding")
        .is_some_and(|value| accepts_gzip(&value));
    let mut response = next.call(env)?;
    let text = response
        .header_value("Content-Type")
        .is_some_and(|value| compressible(&String::from_utf8_lossy(value)));
    if !text {
        return Ok(response);
    }
    response = add_vary(response);
    let status = response.status().unwrap_or(200);
    let short = response
        .header_value("Content-Length")
        .and_then(|v| std::str::from_utf8(v).ok()?.trim().parse::<u64>().ok())
        .is_some_and(|length| length < MIN_LENGTH);
    if !accepts
        || short
        || matches!(status, 100..=199 | 204 | 206 | 304)
        || response.header_value("Content-Encoding").is_some()
        || response.header_value("Content-Range").is_some()
    {
        return Ok(response);
    }
    let etag = response
        .header_value("ETag")
        .map(|v| String::from_utf8_lossy(v).into_owned());
    let body = compress(response.take_body());
    response = response
        .remove_header("Content-Length")
        .set_header("Content-Encoding", "gzip")
        .body(body);
    if let Some(etag) = etag.filter(|tag| !tag.starts_with("W/")) {
        response = response.set_header("ETag", format!("W/{etag}"));
    }
    Ok(response)
}

/// Wraps `body`: each chunk in, its compressed bytes out, flushed so they
/// leave now; the gzip trailer after the last.
fn compress(mut body: Body) -> Body {
    let mut encoder = Some(GzEncoder::new(Vec::new(), Compression::default()));
    Body::from_result_iter(std::iter::from_fn(move || {
        let gz = encoder.as_mut()?;
        match body.next() {
            Some(Ok(chunk)) => {
                if chunk.is_empty() {
                    return Some(Ok(Vec::new()));
                }
                let written = gz.write_all(&chunk).and_then(|()| gz.flush());
                Some(
                    written
                        .map(|()| std::mem::take(gz.get_mut()))
                        .map_err(|err| Error::msg(format!("gzip: {err}"))),
                )
            }
            Some(Err(err)) => {
                encoder = None;
                Some(Err(err))
            }
            None => {
                let done = encoder.take()?.finish();
                Some(done.map_err(|err| Error::msg(format!("gzip: {err}"))))
            }
        }
    }))
}

/// Whether an `Accept-Encoding` value allows gzip.
fn accepts_gzip(value: &str) -> bool {
    let mut gzip = None;
    let mut any = None;
    for item in value.split(',') {
        let mut parts = item.split(';');
        let coding = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .or_else(|| p.trim().strip_prefix("Q="))
            })
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        match coding.as_str() {
            "gzip" | "x-gzip" => gzip = Some(q > 0.0),
            "*" => any = Some(q > 0.0),
            _ => {}
        }
    }
    gzip.or(any).unwrap_or(false)
}

/// Whether a `Content-Type` is worth compressing.
fn compressible(content_type: &str) -> bool {
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    mime.starts_with("text/")
        || mime.ends_with("+json")
        || mime.ends_with("+xml")
        || matches!(
            mime.as_str(),
            "application/json" | "application/javascript" | "application/xml" | "image/svg+xml"
        )
}

/// Adds `Accept-Encoding` to `Vary`, unless it is there (or `*`).
fn add_vary(response: Response) -> Response {
    let existing = response
        .header_value("Vary")
        .map(|v| String::from_utf8_lossy(v).into_owned());
    match existing {
        None => response.header("Vary", "Accept-Encoding"),
        Some(vary)
            if vary
                .split(',')
                .any(|v| v.trim() == "*" || v.trim().eq_ignore_ascii_case("accept-encoding")) =>
        {
            response
        }
        Some(vary) => response.set_header("Vary", format!("{vary}, Accept-Encoding")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_accept_encoding() {
        assert!(accepts_gzip("gzip"));
        assert!(accepts_gzip("deflate, gzip;q=0.5"));
        assert!(accepts_gzip("*"));
        assert!(!accepts_gzip("gzip;q=0"));
        assert!(!accepts_gzip("br, deflate"));
        assert!(!accepts_gzip("*, gzip;q=0"));
        assert!(accepts_gzip("x-gzip"));
    }

    #[test]
    fn picks_text_like_types() {
        assert!(compressible("text/html; charset=utf-8"));
        assert!(compressible("application/json"));
        assert!(compressible("application/problem+json"));
        assert!(!compressible("image/png"));
        assert!(!compressible("application/octet-stream"));
    }

    #[test]
    fn compressed_chunks_decompress_to_the_original() {
        use std::io::Read;
        let chunks: Vec<Vec<u8>> = (0..50)
            .map(|i| format!("line {i}\n").repeat(100).into_bytes())
            .collect();
        let original: Vec<u8> = chunks.concat();
        let compressed = compress(Body::from_iter(chunks)).into_bytes().unwrap();
        assert!(compressed.len() < original.len() / 5);
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&compressed[..])
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, original);
    }
}
