//! [`Input`]: the request body (`wsgi.input`), read on demand from the host.
//!
//! The host never hands the whole body over at once: each read is one call
//! of the `read` import, which waits for the client's bytes. [`Input`] adds a
//! 64 KiB buffer on top so that [`std::io::Read`] and [`std::io::BufRead`]
//! (and everything built on them: `read_to_end`, `lines`, parsers taking a
//! reader) work efficiently.
//!
//! It also has the methods of PEP 3333's input stream, under Rust names:
//!
//! | PEP 3333 | [`Input`] |
//! |---|---|
//! | `read()`, `read(-1)` | [`read_all`](Input::read_all) |
//! | `read(size)` | [`read_up_to`](Input::read_up_to) |
//! | `readline()` | [`read_line_bytes`](Input::read_line_bytes) |
//! | `readline(size)` | [`read_line_limited`](Input::read_line_limited) |
//! | `readlines()`, `readlines(hint)` | [`read_lines`](Input::read_lines) |
//! | `__iter__()` | [`byte_lines`](Input::byte_lines), or `for line in &mut input` |
//!
//! All of them stop at the end of the body, which the host reports exactly
//! at `CONTENT_LENGTH` when the request declares one (PEP 3333's "simulate
//! an end-of-file condition"), and return empty results from then on.

use std::io::{self, BufRead, Read};

use crate::bindings::wasm_gateway::wsgi::{server, types::InputError};

/// How much [`Input`] asks the host for at a time.
pub(crate) const READ_CHUNK: usize = 64 * 1024;

/// The request body, as a buffered reader. Obtain it with
/// [`Environ::input`](crate::Environ::input).
///
/// End of file is the end of the body (the host sets
/// `wsgi.input_terminated`), so reading until EOF is always correct, with or
/// without a `Content-Length`. Errors of the host (`disconnected`,
/// `too-large`, `timed-out`, `malformed`) come back as [`io::Error`]s of kind
/// [`ConnectionAborted`](io::ErrorKind::ConnectionAborted),
/// [`FileTooLarge`](io::ErrorKind::FileTooLarge),
/// [`TimedOut`](io::ErrorKind::TimedOut) and
/// [`InvalidData`](io::ErrorKind::InvalidData).
#[derive(Debug)]
pub struct Input {
    source: Source,
    /// Bytes received but not yet consumed are `buf[pos..]`.
    buf: Vec<u8>,
    pos: usize,
    /// The source reported end of file; it is not asked again.
    eof: bool,
}

/// Where the bytes come from.
#[derive(Debug)]
enum Source {
    /// The host's `read` and `read-line` imports.
    Host,
    /// A body held in memory (for tests of handlers outside a component).
    Memory { data: Vec<u8>, pos: usize },
    /// Like `Memory`, but no read returns more than `step` bytes.
    #[cfg(test)]
    Trickle {
        data: Vec<u8>,
        pos: usize,
        step: usize,
    },
    /// Fails every read as a vanished client does.
    #[cfg(test)]
    Failing,
}

impl Source {
    /// At most `max` bytes; empty means end of file.
    fn read(&mut self, max: usize) -> io::Result<Vec<u8>> {
        match self {
            Self::Host => server::read(max as u64).map_err(io_error),
            Self::Memory { data, pos } => {
                let end = data.len().min(pos.saturating_add(max));
                let chunk = data[*pos..end].to_vec();
                *pos = end;
                Ok(chunk)
            }
            #[cfg(test)]
            Self::Trickle { data, pos, step } => {
                let end = data.len().min(*pos + max.min(*step));
                let chunk = data[*pos..end].to_vec();
                *pos = end;
                Ok(chunk)
            }
            #[cfg(test)]
            Self::Failing => Err(io_error(InputError::Disconnected)),
        }
    }

    /// One line, up to and including `\n`, at most `max` bytes; empty means
    /// end of file.
    fn read_line(&mut self, max: usize) -> io::Result<Vec<u8>> {
        match self {
            Self::Host => server::read_line(max as u64).map_err(io_error),
            Self::Memory { data, pos } => {
                let rest = &data[*pos..];
                let limit = rest.len().min(max);
                let len = line_len(&rest[..limit]);
                let line = rest[..len].to_vec();
                *pos += len;
                Ok(line)
            }
            #[cfg(test)]
            Self::Trickle { data, pos, step } => {
                let rest = &data[*pos..];
                let limit = rest.len().min(max).min(*step);
                let len = line_len(&rest[..limit]);
                let line = rest[..len].to_vec();
                *pos += len;
                Ok(line)
            }
            #[cfg(test)]
            Self::Failing => Err(io_error(InputError::Disconnected)),
        }
    }
}

/// Length of the first line of `bytes` including its `\n`, or all of `bytes`
/// when there is no `\n`.
fn line_len(bytes: &[u8]) -> usize {
    bytes
        .iter()
        .position(|&b| b == b'\n')
        .map_or(bytes.len(), |newline| newline + 1)
}

fn io_error(err: InputError) -> io::Error {
    match err {
        InputError::Disconnected => io::Error::new(
            io::ErrorKind::ConnectionAborted,
            "the client stopped sending the request body",
        ),
        InputError::TooLarge => io::Error::new(
            io::ErrorKind::FileTooLarge,
            "the request body exceeds the configured size limit",
        ),
        InputError::TimedOut => io::Error::new(
            io::ErrorKind::TimedOut,
            "the client was too slow sending the request body",
        ),
        InputError::Malformed => io::Error::new(
            io::ErrorKind::InvalidData,
            "the request body is malformed (bad chunked framing)",
        ),
    }
}

impl Input {
    /// The body of the request being served, read from the host.
    pub(crate) fn from_host() -> Self {
        Self::with_source(Source::Host)
    }

    /// A body held in memory.
    pub(crate) fn from_memory(data: Vec<u8>) -> Self {
        Self::with_source(Source::Memory { data, pos: 0 })
    }

    fn with_source(source: Source) -> Self {
        Self {
            source,
            buf: Vec::new(),
            pos: 0,
            eof: false,
        }
    }

    fn buffered(&self) -> &[u8] {
        &self.buf[self.pos..]
    }

    /// Up to `max` bytes, at least one unless the body has ended (then the
    /// result is empty): whatever is there, like a raw stream's `read`
    /// (PEP 3333's `read(size)`, which waits for all `size` bytes, is
    /// [`read_up_to`](Self::read_up_to)). Unlike [`Read::read`] this hands
    /// over the host's buffer without copying it, which suits streaming the
    /// body onwards chunk by chunk.
    pub fn read_chunk(&mut self, max: usize) -> io::Result<Vec<u8>> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let buffered = self.buffered().len();
        if buffered > 0 {
            if self.pos == 0 && buffered <= max {
                return Ok(std::mem::take(&mut self.buf));
            }
            let take = buffered.min(max);
            let chunk = self.buffered()[..take].to_vec();
            self.consume(take);
            return Ok(chunk);
        }
        if self.eof {
            return Ok(Vec::new());
        }
        let chunk = self.source.read(max)?;
        self.eof = chunk.is_empty();
        Ok(chunk)
    }

    /// PEP 3333's `readline(size)`: one line up to and including `\n`, and
    /// at most `max` bytes (a longer line comes back in pieces). Shorter
    /// only at the end of the body; empty at end of file. For lines of any
    /// length use [`read_line_bytes`](Self::read_line_bytes).
    pub fn read_line_limited(&mut self, max: usize) -> io::Result<Vec<u8>> {
        let mut line = Vec::new();
        let buffered = self.buffered();
        if !buffered.is_empty() {
            let limit = buffered.len().min(max);
            let len = line_len(&buffered[..limit]);
            line.extend_from_slice(&buffered[..len]);
            self.consume(len);
        }
        // Whatever the buffer lacked comes from the source, which may hand a
        // line over in pieces (the host caps one read at 1 MiB): a line is
        // only short at end of file.
        while !line.ends_with(b"\n") && line.len() < max && !self.eof {
            let more = self.source.read_line(max - line.len())?;
            self.eof = more.is_empty();
            line.extend_from_slice(&more);
        }
        Ok(line)
    }

    /// PEP 3333's `read()` (or `read(-1)`): the rest of the body, empty at
    /// end of file.
    pub fn read_all(&mut self) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        self.read_to_end(&mut out)?;
        Ok(out)
    }

    /// PEP 3333's `read(size)`: `size` bytes, fewer only when the body ends
    /// first, empty at end of file. Unlike [`read_chunk`](Self::read_chunk)
    /// it waits for more of the body rather than return a short read, as a
    /// Python file object does.
    pub fn read_up_to(&mut self, size: usize) -> io::Result<Vec<u8>> {
        let mut out = self.read_chunk(size)?;
        while !out.is_empty() && out.len() < size {
            let more = self.read_chunk(size - out.len())?;
            if more.is_empty() {
                break;
            }
            out.extend_from_slice(&more);
        }
        Ok(out)
    }

    /// PEP 3333's `readline()`: the next line, up to and including `\n`
    /// (the last line of a body may lack it), however long; empty at end of
    /// file. For `readline(size)` see
    /// [`read_line_limited`](Self::read_line_limited).
    pub fn read_line_bytes(&mut self) -> io::Result<Vec<u8>> {
        let mut line = Vec::new();
        self.read_until(b'\n', &mut line)?;
        Ok(line)
    }

    /// PEP 3333's `readlines(hint)`: the remaining lines, each with its
    /// `\n`. With `hint > 0` it stops after the line that brings the total
    /// read to `hint` bytes or more (as Python's `io` does); `0` (Python's
    /// `None` or a negative hint) reads to the end of the body.
    pub fn read_lines(&mut self, hint: usize) -> io::Result<Vec<Vec<u8>>> {
        let mut lines = Vec::new();
        let mut total = 0;
        loop {
            let line = self.read_line_bytes()?;
            if line.is_empty() {
                return Ok(lines);
            }
            total += line.len();
            lines.push(line);
            if hint > 0 && total >= hint {
                return Ok(lines);
            }
        }
    }

    /// PEP 3333's `__iter__()`: the remaining lines, each with its `\n`, as
    /// [`read_line_bytes`](Self::read_line_bytes) returns them. Unlike
    /// [`BufRead::lines`] it keeps the newline and needs no UTF-8. After an
    /// error the iterator ends: the host's errors (a client gone, a body
    /// too large) do not go away by asking again.
    pub fn byte_lines(&mut self) -> ByteLines<'_> {
        ByteLines {
            input: self,
            done: false,
        }
    }
}

/// The lines of an [`Input`], each with its `\n`: PEP 3333's iteration
/// over `wsgi.input`. Made by [`Input::byte_lines`] or `for line in &mut
/// input`.
#[derive(Debug)]
pub struct ByteLines<'a> {
    input: &'a mut Input,
    done: bool,
}

impl Iterator for ByteLines<'_> {
    type Item = io::Result<Vec<u8>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.input.read_line_bytes() {
            Ok(line) if line.is_empty() => {
                self.done = true;
                None
            }
            Ok(line) => Some(Ok(line)),
            Err(err) => {
                self.done = true;
                Some(Err(err))
            }
        }
    }
}

impl std::iter::FusedIterator for ByteLines<'_> {}

impl<'a> IntoIterator for &'a mut Input {
    type Item = io::Result<Vec<u8>>;
    type IntoIter = ByteLines<'a>;

    fn into_iter(self) -> ByteLines<'a> {
        self.byte_lines()
    }
}

impl Read for Input {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(out.len());
        out[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }

    fn read_to_end(&mut self, out: &mut Vec<u8>) -> io::Result<usize> {
        let start = out.len();
        out.extend_from_slice(self.buffered());
        self.buf.clear();
        self.pos = 0;
        while !self.eof {
            let chunk = self.source.read(READ_CHUNK)?;
            self.eof = chunk.is_empty();
            out.extend_from_slice(&chunk);
        }
        Ok(out.len() - start)
    }
}

impl BufRead for Input {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.pos >= self.buf.len() && !self.eof {
            self.buf = self.source.read(READ_CHUNK)?;
            self.pos = 0;
            self.eof = self.buf.is_empty();
        }
        Ok(self.buffered())
    }

    fn consume(&mut self, amount: usize) {
        self.pos = (self.pos + amount).min(self.buf.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(data: &[u8]) -> Input {
        Input::from_memory(data.to_vec())
    }

    #[test]
    fn read_to_end_and_eof_is_sticky() {
        let mut body = input(b"hello world");
        let mut out = Vec::new();
        assert_eq!(body.read_to_end(&mut out).unwrap(), 11);
        assert_eq!(out, b"hello world");
        assert_eq!(body.read(&mut [0; 4]).unwrap(), 0);
        assert!(body.read_chunk(10).unwrap().is_empty());
    }

    #[test]
    fn small_reads_go_through_the_buffer() {
        let mut body = input(b"abcdef");
        let mut two = [0; 2];
        body.read_exact(&mut two).unwrap();
        assert_eq!(&two, b"ab");
        assert_eq!(body.read_chunk(3).unwrap(), b"cde");
        let mut rest = String::new();
        body.read_to_string(&mut rest).unwrap();
        assert_eq!(rest, "f");
    }

    #[test]
    fn large_bodies_span_several_host_reads() {
        let data: Vec<u8> = (0..3 * READ_CHUNK + 17).map(|i| (i % 251) as u8).collect();
        let mut body = Input::from_memory(data.clone());
        let mut first = vec![0; 10];
        body.read_exact(&mut first).unwrap();
        let mut out = first;
        body.read_to_end(&mut out).unwrap();
        assert_eq!(out, data);
    }

    #[test]
    fn read_chunk_respects_max() {
        let mut body = input(b"0123456789");
        assert_eq!(body.read_chunk(4).unwrap(), b"0123");
        assert_eq!(body.read_chunk(100).unwrap(), b"456789");
        assert!(body.read_chunk(100).unwrap().is_empty());
        assert!(body.read_chunk(0).unwrap().is_empty());
    }

    #[test]
    fn read_line_limited_semantics() {
        let mut body = input(b"one\ntwo-long\nlast");
        assert_eq!(body.read_line_limited(100).unwrap(), b"one\n");
        assert_eq!(body.read_line_limited(3).unwrap(), b"two");
        assert_eq!(body.read_line_limited(100).unwrap(), b"-long\n");
        assert_eq!(body.read_line_limited(100).unwrap(), b"last");
        assert!(body.read_line_limited(100).unwrap().is_empty());
    }

    #[test]
    fn read_line_limited_after_buffered_reads() {
        let mut body = input(b"ab\ncd\nef");
        // Fill the buffer with everything, consume one byte.
        let mut one = [0; 1];
        body.read_exact(&mut one).unwrap();
        assert_eq!(body.read_line_limited(10).unwrap(), b"b\n");
        assert_eq!(body.read_line_limited(1).unwrap(), b"c");
        assert_eq!(body.read_line_limited(10).unwrap(), b"d\n");
        assert_eq!(body.read_line_limited(10).unwrap(), b"ef");
        assert!(body.read_line_limited(10).unwrap().is_empty());
    }

    #[test]
    fn read_line_limited_continues_past_the_buffer() {
        let mut body = input(b"xyz\n");
        body.buf = b"ab".to_vec(); // pretend "ab" was read before "xyz\n"
        assert_eq!(body.read_line_limited(4).unwrap(), b"abxy");
        assert_eq!(body.read_line_limited(10).unwrap(), b"z\n");
    }

    #[test]
    fn bufread_lines() {
        let body = input(b"a=1\nb=2\n");
        let lines: Vec<String> = body.lines().map(Result::unwrap).collect();
        assert_eq!(lines, ["a=1", "b=2"]);
    }

    /// An input whose source hands out at most `step` bytes per read, as
    /// the host does when the client sends the body in small pieces.
    fn trickle(data: &[u8], step: usize) -> Input {
        Input::with_source(Source::Trickle {
            data: data.to_vec(),
            pos: 0,
            step,
        })
    }

    #[test]
    fn read_all_is_pep_3333_read_without_size() {
        let mut body = input(b"one\ntwo");
        assert_eq!(body.read_chunk(2).unwrap(), b"on");
        assert_eq!(body.read_all().unwrap(), b"e\ntwo");
        assert!(body.read_all().unwrap().is_empty(), "empty at EOF");
        assert!(input(b"").read_all().unwrap().is_empty());
    }

    #[test]
    fn read_up_to_is_pep_3333_read_with_size() {
        let data: Vec<u8> = (0..READ_CHUNK + 100).map(|i| (i % 7) as u8).collect();
        let mut body = Input::from_memory(data.clone());
        // Spans the buffer and further source reads, never short before EOF.
        let mut one = [0; 1];
        body.read_exact(&mut one).unwrap();
        let big = body.read_up_to(READ_CHUNK + 50).unwrap();
        assert_eq!(big, &data[1..READ_CHUNK + 51]);
        assert_eq!(body.read_up_to(1000).unwrap(), &data[READ_CHUNK + 51..]);
        assert!(body.read_up_to(10).unwrap().is_empty(), "empty at EOF");
        assert!(input(b"abc").read_up_to(0).unwrap().is_empty());
        let mut slow = trickle(b"abcdef", 1);
        assert_eq!(slow.read_up_to(4).unwrap(), b"abcd");
        assert_eq!(slow.read_up_to(4).unwrap(), b"ef");
        assert!(slow.read_up_to(4).unwrap().is_empty());
    }

    #[test]
    fn line_reads_wait_for_the_whole_line() {
        let mut slow = trickle(b"abc\ndefgh\nij", 2);
        assert_eq!(slow.read_line_bytes().unwrap(), b"abc\n");
        assert_eq!(slow.read_line_limited(4).unwrap(), b"defg");
        assert_eq!(slow.read_line_limited(10).unwrap(), b"h\n");
        assert_eq!(slow.read_lines(0).unwrap(), [b"ij"]);
        assert!(slow.read_line_bytes().unwrap().is_empty());
    }

    #[test]
    fn read_line_bytes_is_pep_3333_readline() {
        let long = vec![b'x'; 3 * READ_CHUNK];
        let mut data = b"first\n\n".to_vec();
        data.extend_from_slice(&long);
        data.extend_from_slice(b"\nlast");
        let mut body = Input::from_memory(data);
        assert_eq!(body.read_line_bytes().unwrap(), b"first\n");
        assert_eq!(body.read_line_bytes().unwrap(), b"\n");
        let line = body.read_line_bytes().unwrap();
        assert_eq!(line.len(), long.len() + 1, "a line longer than the buffer");
        assert!(line.ends_with(b"x\n"));
        assert_eq!(body.read_line_bytes().unwrap(), b"last");
        assert!(body.read_line_bytes().unwrap().is_empty(), "empty at EOF");
        assert!(body.read_line_bytes().unwrap().is_empty());
    }

    #[test]
    fn readline_with_size_mixes_with_readline() {
        // PEP 3333's readline(size): at most size bytes, stopping after \n.
        let mut body = input(b"abcdef\ngh\n");
        assert_eq!(body.read_line_limited(4).unwrap(), b"abcd");
        assert_eq!(body.read_line_bytes().unwrap(), b"ef\n");
        assert_eq!(body.read_line_limited(100).unwrap(), b"gh\n");
        assert!(body.read_line_limited(100).unwrap().is_empty());
    }

    #[test]
    fn read_lines_is_pep_3333_readlines() {
        let all = input(b"a\nbb\nccc\nd").read_lines(0).unwrap();
        assert_eq!(all, [&b"a\n"[..], b"bb\n", b"ccc\n", b"d"]);

        // Stops once the total reaches the hint: 2 + 3 >= 4.
        let mut body = input(b"a\nbb\nccc\nd");
        assert_eq!(body.read_lines(4).unwrap(), [&b"a\n"[..], b"bb\n"]);
        // Reaching the hint exactly also stops: 4 >= 4.
        assert_eq!(body.read_lines(4).unwrap(), [b"ccc\n"]);
        // A hint of 1 still returns a whole line.
        assert_eq!(body.read_lines(1).unwrap(), [b"d"]);
        assert!(body.read_lines(0).unwrap().is_empty(), "empty at EOF");
    }

    #[test]
    fn iteration_yields_lines_with_newlines() {
        let mut body = input(b"a=1\n\nb=2\r\ntail");
        let lines: Vec<Vec<u8>> = body.byte_lines().map(Result::unwrap).collect();
        assert_eq!(lines, [&b"a=1\n"[..], b"\n", b"b=2\r\n", b"tail"]);
        assert!(body.byte_lines().next().is_none(), "empty at EOF");

        let mut body = input(b"x\ny\n");
        let mut seen = Vec::new();
        for line in &mut body {
            seen.push(line.unwrap());
        }
        assert_eq!(seen, [b"x\n", b"y\n"]);
    }

    #[test]
    fn iteration_ends_after_an_error() {
        let mut body = input(b"");
        // An input that fails like a vanished client, once buffered bytes run out.
        body.buf = b"ok\npartial".to_vec();
        body.source = Source::Failing;
        let mut lines = body.byte_lines();
        assert_eq!(lines.next().unwrap().unwrap(), b"ok\n");
        let err = lines.next().unwrap().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionAborted);
        assert!(lines.next().is_none());
    }
}
