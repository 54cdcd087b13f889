//! [`Error`]: the one error type handlers return, a boxed error in the style
//! of `anyhow`. Any `std::error::Error + Send + Sync` converts into it, so `?`
//! works on I/O errors, parse errors and the SDK's own errors alike.
//!
//! When a handler (or a response body) fails with an [`Error`], the SDK hands
//! its message to the host as the WIT `app-error`; the host logs it and
//! answers `500` without any detail to the client.

use std::error::Error as StdError;
use std::fmt;

/// A boxed application error.
///
/// `Error` deliberately does not implement [`std::error::Error`] itself (like
/// `anyhow::Error`): that is what allows the blanket
/// `impl<E: std::error::Error> From<E> for Error`.
///
/// Formatting: `{}` shows the outermost message, `{:#}` the whole chain
/// separated by `: `, and `{:?}` the message followed by a "Caused by" list.
pub struct Error {
    inner: Box<dyn StdError + Send + Sync + 'static>,
}

/// `Result` with [`Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An error carrying just a message.
    ///
    /// ```
    /// use wasm_gateway_sdk::Error;
    /// let err = Error::msg(format_args!("no such user: {}", 42));
    /// assert_eq!(err.to_string(), "no such user: 42");
    /// ```
    pub fn msg(message: impl fmt::Display) -> Self {
        Self {
            inner: Box::new(Message(message.to_string())),
        }
    }

    /// Wraps this error in a higher-level message; the original becomes its
    /// source.
    ///
    /// ```
    /// use wasm_gateway_sdk::Error;
    /// let err = Error::msg("file missing").context("loading config");
    /// assert_eq!(format!("{err:#}"), "loading config: file missing");
    /// ```
    #[must_use]
    pub fn context(self, context: impl fmt::Display) -> Self {
        Self {
            inner: Box::new(Context {
                message: context.to_string(),
                source: self.inner,
            }),
        }
    }

    /// The underlying error, if it is of type `E`.
    pub fn downcast_ref<E: StdError + 'static>(&self) -> Option<&E> {
        self.inner.downcast_ref::<E>()
    }

    /// This error followed by its sources, outermost first.
    pub fn chain(&self) -> impl Iterator<Item = &(dyn StdError + 'static)> {
        let first: &(dyn StdError + 'static) = &*self.inner;
        std::iter::successors(Some(first), |&err| err.source())
    }
}

impl<E: StdError + Send + Sync + 'static> From<E> for Error {
    fn from(err: E) -> Self {
        Self {
            inner: Box::new(err),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.inner, f)?;
        if f.alternate() {
            for cause in self.chain().skip(1) {
                write!(f, ": {cause}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.inner)?;
        let mut causes = self.chain().skip(1).peekable();
        if causes.peek().is_some() {
            write!(f, "\n\nCaused by:")?;
            for cause in causes {
                write!(f, "\n    {cause}")?;
            }
        }
        Ok(())
    }
}

/// The error behind [`Error::msg`].
#[derive(Debug)]
struct Message(String);

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl StdError for Message {}

/// The error behind [`Error::context`].
#[derive(Debug)]
struct Context {
    message: String,
    source: Box<dyn StdError + Send + Sync + 'static>,
}

impl fmt::Display for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl StdError for Context {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&*self.source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;

    #[test]
    fn message_display_and_debug() {
        let err = Error::msg("fixture error");
        assert_eq!(err.to_string(), "fixture error");
        assert_eq!(format!("{err:#}"), "fixture error");
        assert_eq!(format!("{err:?}"), "fixture error");
    }

    #[test]
    fn from_std_error_and_downcast() {
        fn fails() -> Result<()> {
            Err(io::Error::new(io::ErrorKind::NotFound, "gone"))?;
            Ok(())
        }
        let err = fails().unwrap_err();
        assert_eq!(err.to_string(), "gone");
        assert_eq!(
            err.downcast_ref::<io::Error>().map(io::Error::kind),
            Some(io::ErrorKind::NotFound)
        );
    }

    #[test]
    fn context_chain() {
        let err = Error::from(io::Error::other("disk")).context("saving");
        assert_eq!(err.to_string(), "saving");
        assert_eq!(format!("{err:#}"), "saving: disk");
        assert_eq!(format!("{err:?}"), "saving\n\nCaused by:\n    disk");
        assert_eq!(err.chain().count(), 2);
    }
}
