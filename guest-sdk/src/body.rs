//! [`Body`]: the response body, WSGI's returned iterable.
//!
//! The host pulls the body chunk by chunk through the exported `body`
//! resource; each pull runs [`Body`]'s next step, so an iterator-backed body
//! produces its data only as fast as the client takes it. In-memory bodies
//! are cut into chunks of at most 64 KiB, so that no single call copies a
//! huge buffer across the component boundary.

use std::borrow::Cow;
use std::fmt;

use crate::Error;

/// Largest chunk handed to the host in one `next` call.
pub(crate) const MAX_CHUNK: usize = 64 * 1024;

type ChunkIter = Box<dyn Iterator<Item = Result<Vec<u8>, Error>>>;

/// A response body: bytes in memory, or an iterator producing chunks on
/// demand.
///
/// `Body` is itself an [`Iterator`] over its chunks, which is how the SDK
/// feeds the host, and handy in tests (`body.collect::<Result<Vec<_>, _>>()`).
/// Dropping it is WSGI's `close()`: the host drops it when the response is
/// done or the client went away, whichever comes first.
pub struct Body {
    /// Bytes to hand out before pulling from `source`: `pending[offset..]`.
    pending: Cow<'static, [u8]>,
    offset: usize,
    /// Produces further chunks; `None` once exhausted or failed.
    source: Option<ChunkIter>,
    /// The total size, when the body is in memory.
    known_length: Option<u64>,
    /// Keep `source` after it ends or fails instead of dropping it there, so
    /// that it sees every later pull and is dropped only with the body, when
    /// the host drops the resource (WSGI's `close()`). Only the validator's
    /// wrapper asks for that (`validate`).
    keep_source: bool,
}

impl Body {
    /// A body with no bytes.
    pub fn empty() -> Self {
        Self::from_memory(Cow::Borrowed(&[]))
    }

    fn from_memory(bytes: Cow<'static, [u8]>) -> Self {
        Self {
            known_length: Some(bytes.len() as u64),
            pending: bytes,
            offset: 0,
            source: None,
            keep_source: false,
        }
    }

    /// A body produced lazily: each item is one chunk, produced when the
    /// host asks for it. Its length is unknown, so no `Content-Length` is
    /// added. Empty items are allowed (they send nothing); items larger than
    /// 64 KiB are handed over in 64 KiB pieces.
    ///
    /// ```
    /// use wasm_gateway_sdk::Body;
    /// let body = Body::from_iter((1..=3).map(|i| format!("line {i}\n")));
    /// ```
    #[expect(
        clippy::should_implement_trait,
        reason = "`FromIterator` would have to collect eagerly: it cannot require a `'static` iterator"
    )]
    pub fn from_iter<I>(chunks: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<Vec<u8>>,
        I::IntoIter: 'static,
    {
        Self::from_result_iter(chunks.into_iter().map(|chunk| Ok(chunk.into())))
    }

    /// Like [`from_iter`](Self::from_iter), for chunks that may fail. An
    /// `Err` ends the body and is reported to the host as an application
    /// error: the host logs it and aborts the response.
    pub fn from_result_iter<I>(chunks: I) -> Self
    where
        I: IntoIterator<Item = Result<Vec<u8>, Error>>,
        I::IntoIter: 'static,
    {
        Self {
            pending: Cow::Borrowed(&[]),
            offset: 0,
            source: Some(Box::new(chunks.into_iter())),
            known_length: None,
            keep_source: false,
        }
    }

    /// A lazy body whose iterator lives as long as the body and is asked
    /// for every chunk the host pulls, even after it returned `None` or an
    /// error.
    pub(crate) fn from_kept_iter<I>(chunks: I) -> Self
    where
        I: Iterator<Item = Result<Vec<u8>, Error>> + 'static,
    {
        Self {
            keep_source: true,
            ..Self::from_result_iter(chunks)
        }
    }

    /// The total size in bytes, when known in advance (bodies held in
    /// memory). This is what `Content-Length` is set from.
    pub fn known_length(&self) -> Option<u64> {
        self.known_length
    }

    /// Reads the whole body into memory (running the iterator of a lazy
    /// body to its end). Meant for tests.
    pub fn into_bytes(self) -> Result<Vec<u8>, Error> {
        let mut out = Vec::new();
        for chunk in self {
            out.extend_from_slice(&chunk?);
        }
        Ok(out)
    }
}

impl Iterator for Body {
    type Item = Result<Vec<u8>, Error>;

    /// The next chunk, at most 64 KiB.
    fn next(&mut self) -> Option<Self::Item> {
        let remaining = self.pending.len() - self.offset;
        if remaining > 0 {
            if self.offset == 0 && remaining <= MAX_CHUNK {
                // Small enough: hand the buffer over whole, without copying
                // it when we own it.
                return Some(Ok(std::mem::take(&mut self.pending).into_owned()));
            }
            let end = self.offset + remaining.min(MAX_CHUNK);
            let chunk = self.pending[self.offset..end].to_vec();
            self.offset = end;
            if end == self.pending.len() {
                self.pending = Cow::Borrowed(&[]);
                self.offset = 0;
            }
            return Some(Ok(chunk));
        }
        match self.source.as_mut()?.next() {
            Some(Ok(chunk)) if chunk.len() > MAX_CHUNK => {
                self.pending = Cow::Owned(chunk);
                self.offset = 0;
                self.next()
            }
            Some(Ok(chunk)) => Some(Ok(chunk)),
            Some(Err(err)) => {
                if !self.keep_source {
                    self.source = None;
                }
                Some(Err(err))
            }
            None => {
                if !self.keep_source {
                    self.source = None;
                }
                None
            }
        }
    }
}

impl Default for Body {
    fn default() -> Self {
        Self::empty()
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Body")
            .field("buffered", &(self.pending.len() - self.offset))
            .field("lazy", &self.source.is_some())
            .field("known_length", &self.known_length)
            .finish()
    }
}

impl From<Vec<u8>> for Body {
    fn from(bytes: Vec<u8>) -> Self {
        Self::from_memory(Cow::Owned(bytes))
    }
}

impl From<String> for Body {
    fn from(text: String) -> Self {
        Self::from(text.into_bytes())
    }
}

impl From<&'static str> for Body {
    fn from(text: &'static str) -> Self {
        Self::from_memory(Cow::Borrowed(text.as_bytes()))
    }
}

impl From<&'static [u8]> for Body {
    fn from(bytes: &'static [u8]) -> Self {
        Self::from_memory(Cow::Borrowed(bytes))
    }
}

impl<const N: usize> From<&'static [u8; N]> for Body {
    fn from(bytes: &'static [u8; N]) -> Self {
        Self::from_memory(Cow::Borrowed(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::rc::Rc;

    fn chunk_sizes(body: Body) -> Vec<usize> {
        body.map(|chunk| chunk.unwrap().len()).collect()
    }

    #[test]
    fn empty_body_has_no_chunks() {
        assert_eq!(Body::empty().known_length(), Some(0));
        assert_eq!(chunk_sizes(Body::empty()), Vec::<usize>::new());
        assert_eq!(chunk_sizes(Body::from("")), Vec::<usize>::new());
    }

    #[test]
    fn small_bodies_are_one_chunk() {
        let body = Body::from("Hello, world!");
        assert_eq!(body.known_length(), Some(13));
        assert_eq!(body.into_bytes().unwrap(), b"Hello, world!");
        assert_eq!(chunk_sizes(Body::from(vec![1; MAX_CHUNK])), [MAX_CHUNK]);
        assert_eq!(chunk_sizes(Body::from(&b"abc"[..])), [3]);
        assert_eq!(chunk_sizes(Body::from(b"abcd")), [4]);
    }

    #[test]
    fn large_bodies_are_cut_into_64k_chunks() {
        let data: Vec<u8> = (0..2 * MAX_CHUNK + 5).map(|i| i as u8).collect();
        let body = Body::from(data.clone());
        assert_eq!(body.known_length(), Some(data.len() as u64));
        assert_eq!(
            chunk_sizes(Body::from(data.clone())),
            [MAX_CHUNK, MAX_CHUNK, 5]
        );
        assert_eq!(body.into_bytes().unwrap(), data);
    }

    #[test]
    fn iterator_bodies_are_lazy() {
        let produced = Rc::new(Cell::new(0));
        let counter = Rc::clone(&produced);
        let mut body = Body::from_iter((0..3).map(move |i| {
            counter.set(counter.get() + 1);
            format!("{i}")
        }));
        assert_eq!(body.known_length(), None);
        assert_eq!(produced.get(), 0);
        assert_eq!(body.next().unwrap().unwrap(), b"0");
        assert_eq!(produced.get(), 1);
        assert_eq!(body.into_bytes().unwrap(), b"12");
        assert_eq!(produced.get(), 3);
    }

    #[test]
    fn big_iterator_items_are_split_and_empty_items_kept() {
        let body = Body::from_iter(vec![vec![0; MAX_CHUNK + 1], Vec::new(), vec![1; 2]]);
        assert_eq!(chunk_sizes(body), [MAX_CHUNK, 1, 0, 2]);
    }

    #[test]
    fn a_kept_iterator_sees_every_pull_and_drops_with_the_body() {
        struct Probe(Rc<Cell<(u32, bool)>>);
        impl Iterator for Probe {
            type Item = Result<Vec<u8>, Error>;
            fn next(&mut self) -> Option<Self::Item> {
                let (pulls, dropped) = self.0.get();
                self.0.set((pulls + 1, dropped));
                None
            }
        }
        impl Drop for Probe {
            fn drop(&mut self) {
                let (pulls, _) = self.0.get();
                self.0.set((pulls, true));
            }
        }
        let seen = Rc::new(Cell::new((0, false)));
        let mut body = Body::from_kept_iter(Probe(Rc::clone(&seen)));
        assert!(body.next().is_none());
        assert!(body.next().is_none());
        assert_eq!(seen.get(), (2, false));
        drop(body);
        assert_eq!(seen.get(), (2, true));

        // Without keeping, the iterator goes at its end.
        let seen = Rc::new(Cell::new((0, false)));
        let mut body = Body::from_result_iter(Probe(Rc::clone(&seen)));
        assert!(body.next().is_none());
        assert!(body.next().is_none());
        assert_eq!(seen.get(), (1, true));
    }

    #[test]
    fn an_error_ends_the_body() {
        let mut body = Body::from_result_iter(vec![
            Ok(b"a".to_vec()),
            Err(Error::msg("boom")),
            Ok(b"never".to_vec()),
        ]);
        assert_eq!(body.next().unwrap().unwrap(), b"a");
        assert_eq!(body.next().unwrap().unwrap_err().to_string(), "boom");
        assert!(body.next().is_none());
    }
}
