//! [`Input`]: the request body (`wsgi.input`), read on demand from the host.
//!
//! The host never hands the whole body over at once: each read is one call
//! of the `read` import, which waits for the client's bytes. [`Input`] adds a
//! 64 KiB buffer on top so that [`std::io::Read`] and [`std::io::BufRead`]
//! (and everything built on them: `read_to_end`, `lines`, parsers taking a
//! reader) work efficiently.

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

    /// `wsgi.input.read(max)`: up to `max` bytes, at least one unless the
    /// body has ended (then the result is empty). Unlike
    /// [`Read::read`] this hands over the host's buffer without copying it,
    /// which suits streaming the body onwards chunk by chunk.
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

    /// `wsgi.input.readline(max)`: one line up to and including `\n`, and at
    /// most `max` bytes (a longer line comes back in pieces). Empty means end
    /// of file. For unlimited lines use [`BufRead::read_line`] or
    /// [`BufRead::lines`].
    pub fn read_line_limited(&mut self, max: usize) -> io::Result<Vec<u8>> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let buffered = self.buffered();
        if !buffered.is_empty() {
            let limit = buffered.len().min(max);
            let len = line_len(&buffered[..limit]);
            let mut line = buffered[..len].to_vec();
            self.consume(len);
            // The line is complete unless the buffer ran out before both a
            // newline and the limit: then the rest comes from the source.
            if line.ends_with(b"\n") || line.len() == max || self.eof {
                return Ok(line);
            }
            let more = self.source.read_line(max - line.len())?;
            self.eof = more.is_empty();
            line.extend_from_slice(&more);
            return Ok(line);
        }
        if self.eof {
            return Ok(Vec::new());
        }
        let line = self.source.read_line(max)?;
        self.eof = line.is_empty();
        Ok(line)
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
}
