//! Response header names as the application spelled them.
//!
//! gunicorn, waitress and wsgiref send header names exactly as the
//! application wrote them (`Content-Type`, `ETag`, `WWW-Authenticate`), and
//! some clients and tests depend on it. hyper writes names in lower case,
//! or in Title-Case with `title_case_headers`; it keeps other spellings only
//! through a map type it does not export. So hyper writes Title-Case (which
//! is already right for the usual `Content-Type`), and the connection guard,
//! which sees every byte hyper writes, puts back the application's spelling
//! of any name it wrote otherwise.
//!
//! The rewrite changes letter case only, so no length or framing changes.
//! [`HeadWriter`] follows the response framing (status, Content-Length,
//! chunked, HEAD) to know where each head starts; a head's bytes are copied
//! and rewritten line by line, body bytes pass untouched. Anything it does
//! not expect makes it stop rewriting and pass every byte through as it is:
//! a lost spelling, never a corrupted response.

use std::collections::VecDeque;
use std::sync::Mutex;

/// What the guard needs to know about one response. The service queues one
/// per response, in the order hyper writes them.
#[derive(Debug, Default, Clone)]
pub struct ResponseCase {
    /// The application's header names whose spelling is not Title-Case, in
    /// the order given.
    pub spellings: Vec<Box<[u8]>>,
    /// The answer to a HEAD request: no body follows its head, whatever
    /// the head declares.
    pub no_body: bool,
}

impl ResponseCase {
    /// The spellings to restore for `names` (as the application gave them).
    pub fn spellings<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<Box<[u8]>> {
        names
            .into_iter()
            .filter(|name| !is_title_case(name.as_bytes()))
            .map(|name| Box::from(name.as_bytes()))
            .collect()
    }

    /// Takes the next spelling of the header called `name` (in any case).
    pub(crate) fn take(&mut self, name: &[u8]) -> Option<Box<[u8]>> {
        let at = self
            .spellings
            .iter()
            .position(|s| s.eq_ignore_ascii_case(name))?;
        Some(self.spellings.remove(at))
    }
}

/// Whether `name` is what hyper writes for it: the first letter and every
/// letter after a `-` upper case, the rest lower case.
fn is_title_case(name: &[u8]) -> bool {
    let mut upper = true;
    name.iter().all(|&b| {
        let ok = if upper {
            !b.is_ascii_lowercase()
        } else {
            !b.is_ascii_uppercase()
        };
        upper = b == b'-';
        ok
    })
}

/// `content-type` as `Content-Type`: how hyper writes a name (and how most
/// applications spell it).
pub(crate) fn title_case(name: &str) -> String {
    let mut upper = true;
    name.chars()
        .map(|c| {
            let c = if upper { c.to_ascii_uppercase() } else { c };
            upper = c == '-';
            c
        })
        .collect()
}

/// The responses of one connection waiting to be written, in order.
#[derive(Debug, Default)]
pub struct CaseQueue(Mutex<VecDeque<ResponseCase>>);

impl CaseQueue {
    /// Queues what the next response needs.
    pub fn push(&self, case: ResponseCase) {
        if let Ok(mut queue) = self.0.lock() {
            queue.push_back(case);
        }
    }

    fn pop(&self) -> Option<ResponseCase> {
        self.0.lock().ok()?.pop_front()
    }
}

/// The longest line start kept: enough for any name the writer must
/// recognise or rewrite; longer names are passed through as hyper wrote
/// them.
const KEPT: usize = 64;

/// The start of the line being read.
#[derive(Debug, Clone, Copy)]
struct Line {
    bytes: [u8; KEPT],
    len: usize,
}

impl Line {
    const EMPTY: Line = Line {
        bytes: [0; KEPT],
        len: 0,
    };

    fn push(&mut self, b: u8) {
        if let Some(slot) = self.bytes.get_mut(self.len) {
            *slot = b;
        }
        self.len += 1;
    }

    fn kept(&self) -> &[u8] {
        &self.bytes[..self.len.min(KEPT)]
    }
}

/// Where the outgoing byte stream is.
#[derive(Debug)]
enum State {
    /// In a head (status line or fields): see [`HeadWriter::head`].
    Head,
    /// In a body of this many bytes still to go.
    Length(u64),
    /// In a chunked body.
    Chunked(Chunked),
    /// Bytes pass untouched from here on (a body delimited by the close of
    /// the connection, or something unexpected).
    Through,
}

#[derive(Debug)]
struct Head {
    line: Line,
    /// Lines done (the status line is line 0).
    lines: usize,
    status: u16,
    length: Option<u64>,
    chunked: bool,
    case: Option<ResponseCase>,
}

impl Head {
    const NEW: Head = Head {
        line: Line::EMPTY,
        lines: 0,
        status: 0,
        length: None,
        chunked: false,
        case: None,
    };
}

/// A chunked body as hyper writes it: `SIZE CRLF data CRLF`, then `0 CRLF`,
/// trailers and an empty line.
#[derive(Debug, Clone, Copy)]
enum Chunked {
    Size(u64),
    SizeLf(u64),
    Data(u64),
    DataLf,
    /// A trailer line (or the final empty line) of this many bytes so far.
    Trailer(usize),
    TrailerLf(usize),
}

/// Follows one connection's output and restores header spellings; see the
/// module documentation.
#[derive(Debug)]
pub struct HeadWriter {
    state: State,
    /// The head being read, while `state` is `Head` (kept here, not in the
    /// state, so that a response costs no allocation).
    head: Head,
    /// Rewritten head bytes not yet written to the socket.
    pending: Vec<u8>,
    /// Bytes of `pending` already written.
    written: usize,
    /// The current head line, held until it is complete (so its name can be
    /// rewritten before any of it goes out).
    carry: Vec<u8>,
}

impl Default for HeadWriter {
    fn default() -> Self {
        HeadWriter {
            state: State::Head,
            head: Head::NEW,
            pending: Vec::new(),
            written: 0,
            carry: Vec::new(),
        }
    }
}

impl HeadWriter {
    /// Rewritten bytes waiting to be written first.
    pub fn pending(&self) -> &[u8] {
        &self.pending[self.written..]
    }

    /// `n` bytes of [`pending`](Self::pending) were written.
    pub fn advance(&mut self, n: usize) {
        self.written += n;
        if self.written >= self.pending.len() {
            self.pending.clear();
            self.written = 0;
        }
    }

    /// Whether the next bytes belong to a head (and so go through
    /// [`absorb`](Self::absorb)).
    pub fn in_head(&self) -> bool {
        matches!(self.state, State::Head)
    }

    /// Takes head bytes from the front of `data` into the pending buffer,
    /// rewritten, up to the end of the head; returns how many it took. Whole
    /// lines only become pending; a line's start waits in the carry.
    pub fn absorb(&mut self, data: &[u8], queue: &CaseQueue) -> usize {
        let mut taken = 0;
        while taken < data.len() {
            let State::Head = self.state else { break };
            let b = data[taken];
            taken += 1;
            self.carry.push(b);
            self.step(b, queue);
            if b == b'\n' || !self.in_head() {
                self.pending.extend_from_slice(&self.carry);
                self.carry.clear();
            }
        }
        taken
    }

    /// How many bytes of `data` (the pieces that follow the bytes seen so
    /// far) belong to the body being written: a writer sends no more than
    /// that in one go, so the next head always reaches
    /// [`absorb`](Self::absorb).
    pub fn body_len<'a>(&self, data: impl IntoIterator<Item = &'a [u8]>) -> usize {
        let mut chunk = match &self.state {
            State::Head => return 0,
            State::Through => return usize::MAX,
            State::Length(left) => {
                let total: usize = data.into_iter().map(<[u8]>::len).sum();
                return (*left).min(total as u64) as usize;
            }
            State::Chunked(chunk) => *chunk,
        };
        let mut seen = 0;
        for piece in data {
            let mut i = 0;
            while i < piece.len() {
                if let Chunked::Data(left) = &mut chunk
                    && *left > 0
                {
                    let take = (*left).min((piece.len() - i) as u64);
                    *left -= take;
                    i += take as usize;
                    continue;
                }
                match chunked_step(chunk, piece[i]) {
                    Some(Some(next)) => chunk = next,
                    // The body ends with this byte.
                    Some(None) => return seen + i + 1,
                    None => return usize::MAX,
                }
                i += 1;
            }
            seen += piece.len();
        }
        seen
    }

    /// Follows bytes that went out as they were.
    pub fn observe(&mut self, data: &[u8], queue: &CaseQueue) {
        let mut i = 0;
        while i < data.len() {
            match &mut self.state {
                State::Through => return,
                State::Length(left) => {
                    let take = (*left).min((data.len() - i) as u64);
                    *left -= take;
                    i += take as usize;
                    if *left == 0 {
                        self.enter_head();
                    }
                }
                State::Chunked(Chunked::Data(left)) if *left > 0 => {
                    let take = (*left).min((data.len() - i) as u64);
                    *left -= take;
                    i += take as usize;
                }
                _ => {
                    // A head passing through unrewritten (it began in the
                    // same write as the end of the body before it).
                    let b = data[i];
                    i += 1;
                    self.step(b, queue);
                    self.carry.clear();
                }
            }
        }
    }

    /// The next bytes start a new head.
    fn enter_head(&mut self) {
        self.state = State::Head;
        self.head = Head::NEW;
    }

    /// One byte of a head or of chunked framing.
    fn step(&mut self, b: u8, queue: &CaseQueue) {
        match &mut self.state {
            State::Head => {
                let head = &mut self.head;
                if b != b'\n' {
                    head.line.push(b);
                    if b == b':' && head.lines > 0 && head.line.len <= KEPT {
                        self.rewrite_name();
                    }
                    return;
                }
                let line = head.line;
                head.line = Line::EMPTY;
                let text = line.kept().strip_suffix(b"\r").unwrap_or(line.kept());
                if head.lines == 0 {
                    head.status = status_of(text);
                    if head.status >= 200 {
                        head.case = queue.pop();
                    }
                } else if text.is_empty() {
                    match after_head(head) {
                        State::Head => self.enter_head(),
                        next => self.state = next,
                    }
                    return;
                } else if let Some(value) = field_value(text, b"content-length") {
                    head.length = std::str::from_utf8(value).ok().and_then(|v| v.parse().ok());
                } else if let Some(value) = field_value(text, b"transfer-encoding") {
                    head.chunked = value.eq_ignore_ascii_case(b"chunked");
                }
                if head.status == 0 || line.len > KEPT && head.lines == 0 {
                    // Not a status line hyper would write.
                    self.state = State::Through;
                    return;
                }
                head.lines += 1;
            }
            State::Chunked(chunk) => match chunked_step(*chunk, b) {
                Some(Some(next)) => *chunk = next,
                Some(None) => self.enter_head(),
                None => self.state = State::Through,
            },
            // Body bytes are counted in bulk by `observe`.
            State::Length(_) | State::Through => {}
        }
    }

    /// The current line's name is complete (its colon is in the carry):
    /// puts back the application's spelling, or for a name the host wrote
    /// its usual spelling when that is not Title-Case (`ETag`).
    fn rewrite_name(&mut self) {
        let head = &mut self.head;
        let name_len = head.line.len - 1;
        let name = &head.line.bytes[..name_len];
        // The line's bytes are all in the carry while it is incomplete.
        if self.carry.len() != name_len + 1 {
            return;
        }
        let from_case = head.case.as_mut().and_then(|case| case.take(name));
        let spelling = from_case.as_deref().or_else(|| usual_spelling(name));
        if let Some(spelling) = spelling
            && spelling.len() == name_len
        {
            self.carry[..name_len].copy_from_slice(spelling);
        }
    }
}

/// How a name the host writes itself is usually spelled, where that is
/// not Title-Case.
fn usual_spelling(name: &[u8]) -> Option<&'static [u8]> {
    const USUAL: &[&[u8]] = &[b"ETag", b"WWW-Authenticate"];
    USUAL
        .iter()
        .find(|usual| usual.eq_ignore_ascii_case(name))
        .copied()
}

/// One byte of chunked framing: the next position, `Some(None)` when the
/// body ends with this byte, `None` for anything hyper would not write.
fn chunked_step(chunk: Chunked, b: u8) -> Option<Option<Chunked>> {
    Some(Some(match (chunk, b) {
        (Chunked::Size(n), b'\r') => Chunked::SizeLf(n),
        (Chunked::Size(n), _) => match (b as char).to_digit(16) {
            Some(d) if n < u64::MAX >> 4 => Chunked::Size(n * 16 + u64::from(d)),
            _ => return None,
        },
        (Chunked::SizeLf(0), b'\n') => Chunked::Trailer(0),
        (Chunked::SizeLf(n), b'\n') => Chunked::Data(n),
        (Chunked::Data(0), b'\r') => Chunked::DataLf,
        (Chunked::DataLf, b'\n') => Chunked::Size(0),
        (Chunked::Trailer(n), b'\r') => Chunked::TrailerLf(n),
        (Chunked::Trailer(n), _) => Chunked::Trailer(n + 1),
        (Chunked::TrailerLf(0), b'\n') => return Some(None),
        (Chunked::TrailerLf(_), b'\n') => Chunked::Trailer(0),
        _ => return None,
    }))
}

/// The status code of `HTTP/1.x NNN reason`, or 0.
fn status_of(line: &[u8]) -> u16 {
    match line {
        [b'H', b'T', b'T', b'P', b'/', _, b'.', _, b' ', a, b, c, ..]
            if [a, b, c].iter().all(|d| d.is_ascii_digit()) =>
        {
            u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0')
        }
        _ => 0,
    }
}

/// The value of `line` if it is the field `name` (lower case).
fn field_value<'a>(line: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    let rest = line.get(name.len()..)?;
    if !line[..name.len()].eq_ignore_ascii_case(name) {
        return None;
    }
    let value = rest.strip_prefix(b":")?;
    Some(value.trim_ascii())
}

/// What follows a complete head (RFC 9112 section 6.3); `State::Head`
/// means the next head.
fn after_head(head: &Head) -> State {
    let no_body = head.case.as_ref().is_some_and(|c| c.no_body);
    match head.status {
        // Informational: the final head follows.
        100..=199 if head.status != 101 => State::Head,
        101 => State::Through,
        204 | 304 => State::Head,
        _ if no_body => State::Head,
        _ if head.chunked => State::Chunked(Chunked::Size(0)),
        _ => match head.length {
            Some(0) => State::Head,
            Some(n) => State::Length(n),
            None => State::Through,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `out` (what hyper writes) through a writer in pieces of `step`
    /// bytes, as the guard would; returns what reaches the socket.
    fn run(out: &[u8], cases: Vec<ResponseCase>, step: usize) -> Vec<u8> {
        let queue = CaseQueue::default();
        for case in cases {
            queue.push(case);
        }
        let mut writer = HeadWriter::default();
        let mut sent = Vec::new();
        let mut at = 0;
        while at < out.len() {
            let end = (at + step).min(out.len());
            let piece = &out[at..end];
            if writer.in_head() {
                let n = writer.absorb(piece, &queue);
                sent.extend_from_slice(writer.pending());
                let all = writer.pending().len();
                writer.advance(all);
                at += n;
            } else {
                let piece = &piece[..writer.body_len([piece]).min(piece.len())];
                writer.observe(piece, &queue);
                sent.extend_from_slice(piece);
                at += piece.len();
            }
        }
        sent.extend_from_slice(writer.pending());
        sent
    }

    fn case(names: &[&str], no_body: bool) -> ResponseCase {
        ResponseCase {
            spellings: ResponseCase::spellings(names.iter().copied()),
            no_body,
        }
    }

    #[test]
    fn title_case_is_what_hyper_writes() {
        assert_eq!(title_case("x-request-id"), "X-Request-Id");
        assert!(is_title_case(title_case("www-authenticate").as_bytes()));
        assert!(is_title_case(b"Content-Type"));
        assert!(is_title_case(b"X-Request-Id"));
        assert!(!is_title_case(b"ETag"));
        assert!(!is_title_case(b"content-type"));
        assert!(!is_title_case(b"WWW-Authenticate"));
    }

    #[test]
    fn spellings_come_back_in_every_head_of_a_connection() {
        let out = b"HTTP/1.1 200 OK\r\nEtag: \"a\"\r\nContent-Length: 5\r\nX-Lower: 1\r\n\r\nhello\
HTTP/1.1 100 Continue\r\n\r\n\
HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nWww-Authenticate: Basic\r\n\r\n5\r\nhello\r\n0\r\n\r\n\
HTTP/1.1 200 OK\r\nContent-Length: 9\r\nEtag: b\r\n\r\n\
HTTP/1.1 304 Not Modified\r\nEtag: c\r\n\r\n";
        let want = b"HTTP/1.1 200 OK\r\nETag: \"a\"\r\nContent-Length: 5\r\nx-lower: 1\r\n\r\nhello\
HTTP/1.1 100 Continue\r\n\r\n\
HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nWWW-Authenticate: Basic\r\n\r\n5\r\nhello\r\n0\r\n\r\n\
HTTP/1.1 200 OK\r\nContent-Length: 9\r\nETAG: b\r\n\r\n\
HTTP/1.1 304 Not Modified\r\nEtaG: c\r\n\r\n";
        let cases = || {
            vec![
                case(&["ETag", "Content-Length", "x-lower"], false),
                case(&["WWW-Authenticate"], false),
                // A HEAD answer: its Content-Length announces no bytes here.
                case(&["ETAG"], true),
                case(&["EtaG"], false),
            ]
        };
        for step in [1, 2, 3, 7, 16, 64, 4096] {
            assert_eq!(
                String::from_utf8_lossy(&run(out, cases(), step)),
                String::from_utf8_lossy(want),
                "in pieces of {step}"
            );
        }
    }

    #[test]
    fn without_a_queued_case_or_on_surprises_bytes_pass_unchanged() {
        let out = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
        assert_eq!(run(out, vec![], 5), out);
        let odd = b"garbage\r\nEtag: x\r\n\r\n";
        assert_eq!(run(odd, vec![case(&["ETag"], false)], 4), odd);
        // A body closed by the end of the connection: nothing after it is a head.
        let close = b"HTTP/1.0 200 OK\r\n\r\nHTTP/1.1 200 OK\r\nEtag: x\r\n\r\n";
        assert_eq!(
            run(close, vec![case(&[], false), case(&["ETag"], false)], 3),
            close
        );
    }
}
