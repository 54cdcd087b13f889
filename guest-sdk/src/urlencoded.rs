//! Percent-decoding and `application/x-www-form-urlencoded` parsing, used
//! for query strings ([`Environ::query`](crate::Environ::query)) and form
//! bodies ([`Environ::form`](crate::Environ::form)).
//!
//! Parsing follows the WHATWG URL standard's urlencoded parser: the input is
//! split on `&`, each piece at its first `=`, `+` means a space, and `%XX`
//! escapes are decoded. Malformed escapes are kept literally rather than
//! rejected, and the decoded bytes are turned into text as UTF-8, replacing
//! invalid sequences with U+FFFD.

/// Decodes `%XX` escapes. A `%` not followed by two hex digits is kept as is.
/// `+` is left alone (it only means a space in form encoding; see
/// [`decode_component`]).
///
/// ```
/// use wasm_gateway_sdk::urlencoded::percent_decode;
/// assert_eq!(percent_decode(b"a%20b%2"), b"a b%2");
/// ```
pub fn percent_decode(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        let byte = input[i];
        if byte == b'%'
            && let (Some(hi), Some(lo)) = (
                input.get(i + 1).copied().and_then(hex_value),
                input.get(i + 2).copied().and_then(hex_value),
            )
        {
            out.push((hi << 4) | lo);
            i += 3;
            continue;
        }
        out.push(byte);
        i += 1;
    }
    out
}

/// Decodes one name or value of a form-encoded string: `+` becomes a space,
/// then `%XX` escapes are decoded.
///
/// ```
/// use wasm_gateway_sdk::urlencoded::decode_component;
/// assert_eq!(decode_component(b"a+b%2Bc"), b"a b+c");
/// ```
pub fn decode_component(input: &[u8]) -> Vec<u8> {
    // Replacing `+` first is safe: an encoded plus is `%2B`, which the
    // percent-decoding step turns into a literal `+` afterwards.
    let spaced: Vec<u8> = input
        .iter()
        .map(|&b| if b == b'+' { b' ' } else { b })
        .collect();
    percent_decode(&spaced)
}

/// Parses an `application/x-www-form-urlencoded` string into name/value
/// pairs, in order, duplicates kept. Empty pieces (`a=1&&b=2`) are skipped; a
/// piece without `=` is a name with an empty value.
///
/// ```
/// use wasm_gateway_sdk::urlencoded::parse;
/// let pairs = parse(b"q=rust+wasm&lang=fr&flag");
/// assert_eq!(pairs, [
///     ("q".to_string(), "rust wasm".to_string()),
///     ("lang".to_string(), "fr".to_string()),
///     ("flag".to_string(), String::new()),
/// ]);
/// ```
pub fn parse(input: &[u8]) -> Vec<(String, String)> {
    input
        .split(|&b| b == b'&')
        .filter(|piece| !piece.is_empty())
        .map(|piece| {
            let (name, value) = match piece.iter().position(|&b| b == b'=') {
                Some(eq) => (&piece[..eq], &piece[eq + 1..]),
                None => (piece, &[][..]),
            };
            (decode_text(name), decode_text(value))
        })
        .collect()
}

/// [`decode_component`], then lossy UTF-8.
fn decode_text(input: &[u8]) -> String {
    match String::from_utf8(decode_component(input)) {
        Ok(text) => text,
        Err(err) => String::from_utf8_lossy(err.as_bytes()).into_owned(),
    }
}

fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode(b""), b"");
        assert_eq!(percent_decode(b"plain"), b"plain");
        assert_eq!(percent_decode(b"%41%62%2f%2F"), b"Ab//");
        assert_eq!(percent_decode(b"a+b"), b"a+b");
        // Non-UTF-8 octets come through unchanged.
        assert_eq!(percent_decode(b"%FF%00"), [0xff, 0x00]);
    }

    #[test]
    fn malformed_escapes_are_kept() {
        assert_eq!(percent_decode(b"%"), b"%");
        assert_eq!(percent_decode(b"%4"), b"%4");
        assert_eq!(percent_decode(b"%zz"), b"%zz");
        assert_eq!(percent_decode(b"%%41"), b"%A");
        assert_eq!(percent_decode(b"100%"), b"100%");
    }

    #[test]
    fn plus_is_space_only_in_components() {
        assert_eq!(decode_component(b"a+b"), b"a b");
        assert_eq!(decode_component(b"a%2Bb"), b"a+b");
        assert_eq!(decode_component(b"%2B+"), b"+ ");
    }

    #[test]
    fn parse_pairs() {
        assert_eq!(parse(b""), pairs(&[]));
        assert_eq!(parse(b"a=1&b=2"), pairs(&[("a", "1"), ("b", "2")]));
        assert_eq!(parse(b"a=1&a=2"), pairs(&[("a", "1"), ("a", "2")]));
        assert_eq!(parse(b"&&a=1&"), pairs(&[("a", "1")]));
        assert_eq!(parse(b"flag&x="), pairs(&[("flag", ""), ("x", "")]));
        assert_eq!(parse(b"=v"), pairs(&[("", "v")]));
        assert_eq!(parse(b"eq=a=b"), pairs(&[("eq", "a=b")]));
        assert_eq!(
            parse(b"name=J%C3%BCrgen+M&x%20y=%26"),
            pairs(&[("name", "Jürgen M"), ("x y", "&")])
        );
    }

    #[test]
    fn parse_is_lossy_on_invalid_utf8() {
        assert_eq!(parse(b"a=%FFok"), pairs(&[("a", "\u{FFFD}ok")]));
    }
}
