//! One request as the WSGI contract sees it: the body the application reads
//! (`wsgi.input`) and the response it builds (`start_response`, `write`, the
//! body it returns). The guest's `server` imports act on this; the store
//! that runs the guest holds it as a field.

use crate::wsgi::bindings::{InputError, WriteError};
use crate::wsgi::input::Input;
use crate::wsgi::sink::ResponseSink;

/// The request a store serves now. `Default` is a detached one, connected to
/// no client: what an idle reused instance holds between requests.
#[derive(Default)]
pub struct WsgiRequest {
    /// The request body, as far as this layer may read it.
    pub input: Input,
    /// The response as the guest builds it.
    pub response: ResponseSink,
}

impl WsgiRequest {
    /// A request reading `input` and answering into `response`.
    pub fn new(input: Input, response: ResponseSink) -> Self {
        WsgiRequest { input, response }
    }

    /// The legacy `write` callable: a body chunk ahead of the returned body.
    pub async fn write(&mut self, data: Vec<u8>) -> Result<(), WriteError> {
        if !self.response.started() {
            return Err(WriteError::NotStarted);
        }
        self.response
            .send(data)
            .await
            .map_err(|_| WriteError::Disconnected)
    }

    /// `wsgi.input.read(max)`.
    pub async fn read(&mut self, max: u64) -> Result<Vec<u8>, InputError> {
        let read = self.input.read(max).await;
        self.note_failure(&read);
        read
    }

    /// `wsgi.input.readline(max)`.
    pub async fn read_line(&mut self, max: u64) -> Result<Vec<u8>, InputError> {
        let read = self.input.read_line(max).await;
        self.note_failure(&read);
        read
    }

    /// A read that failed through the client's fault decides the answer
    /// (413, 408, 400), whatever the application makes of it.
    fn note_failure(&mut self, read: &Result<Vec<u8>, InputError>) {
        if read.is_err()
            && let Some(failure) = self.input.failure()
        {
            self.response.note_input_failure(failure);
        }
    }
}
