//! The `REMOTE_USER` a middleware of a request's chain hands on: a slot the
//! chain's layers share and the server reads for the access line's user
//! field, so that the layers below the server never touch the access log.

use std::sync::{Arc, Mutex};

/// The slot; clones share it.
#[derive(Debug, Clone, Default)]
pub struct RemoteUser(Arc<Mutex<Option<Box<str>>>>);

impl RemoteUser {
    /// Records the user the next layer is handed (the innermost setting
    /// wins: it is what the application sees).
    pub fn set(&self, user: &str) {
        if let Ok(mut slot) = self.0.lock() {
            *slot = Some(user.into());
        }
    }

    /// Calls `f` with the user recorded, if any.
    pub fn with<R>(&self, f: impl FnOnce(Option<&str>) -> R) -> R {
        match self.0.lock() {
            Ok(slot) => f(slot.as_deref()),
            Err(_) => f(None),
        }
    }
}
