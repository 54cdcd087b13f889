//! Middleware chains: each layer its own component in its own instance.
//!
//! A route leads to a chain of [`App`]s, outermost first, the application
//! last. The outermost layer is served like any application; when a layer
//! calls `next.call`, the host runs the next layer exactly as it runs an
//! application (its own store, limits, grants, concurrency slot, deadline and
//! log tag) except that its `start-response` and body go back to the caller
//! instead of the client. Body chunks pass one at a time through a bounded
//! channel, so a chain streams with bounded memory.

use crate::http::body::Chunk;
use crate::runtime::App;
use crate::runtime::invoke;
use crate::runtime::store::StoreData;
use crate::wsgi::bindings::NextBody;
use crate::wsgi::bindings::{AppError, Environ, NextBodyHost, NextHost, NextResponse};
use crate::wsgi::errors::RequestError;
use std::sync::Arc;
use tracing::Instrument;
use wasmtime::component::Resource;

/// The layers of one route, outermost first; the last is the application.
pub type Layers = Arc<[Arc<App>]>;

/// Where a store sits in a chain: the layers, and its own index.
#[derive(Clone)]
pub struct LayerRef {
    /// The whole chain.
    pub layers: Layers,
    /// This layer's index.
    pub index: usize,
    /// The `REMOTE_USER` a layer handed on, for the access line.
    pub user: crate::http::remote_user::RemoteUser,
}

impl LayerRef {
    /// The layer after this one, if any.
    fn next(&self) -> Option<LayerRef> {
        (self.index + 1 < self.layers.len()).then(|| LayerRef {
            layers: self.layers.clone(),
            index: self.index + 1,
            user: self.user.clone(),
        })
    }

    fn app(&self) -> &Arc<App> {
        &self.layers[self.index]
    }
}

/// The smallest `max-body` of a chain: a request body passes through every
/// layer, so each limit applies.
pub fn max_body(layers: &[Arc<App>]) -> u64 {
    layers
        .iter()
        .map(|app| app.config.max_body)
        .min()
        .unwrap_or(0)
}

fn app_error(message: impl Into<String>) -> AppError {
    AppError {
        message: message.into(),
    }
}

impl StoreData {
    /// Rewrites the `extra` variables for the next layer: the caller's own
    /// operator variables stay with the caller; the next layer gets its own.
    fn hand_over_extra(&self, environ: &mut Environ, next: &App) {
        if let Some(layer) = &self.layer {
            let own = &layer.app().config.env;
            environ.extra.retain(|pair| !own.contains(pair));
        }
        environ.extra.extend(next.config.env.iter().cloned());
    }
}

impl NextHost for StoreData {
    async fn call(
        &mut self,
        mut environ: Environ,
    ) -> wasmtime::Result<Result<NextResponse, AppError>> {
        let Some(next) = self.layer.as_ref().and_then(LayerRef::next) else {
            return Ok(Err(app_error(
                "there is no next layer: this component is a middleware; stack it in front of an application",
            )));
        };
        let app = next.app().clone();
        let span = invoke::layer_span(&app);
        let slot = match app.admission.enter().await {
            Ok(slot) => slot,
            Err(refused) => {
                span.in_scope(|| RequestError::Overloaded(refused).log());
                return Ok(Err(app_error(format!(
                    "the next layer `{}` is overloaded",
                    app.config.name
                ))));
            }
        };
        self.hand_over_extra(&mut environ, &app);
        if let Some((_, user)) = environ.extra.iter().rev().find(|(k, _)| k == "REMOTE_USER") {
            next.user.set(user);
        }
        // The request body goes on to the next layer, as far as it is unread.
        let input = std::mem::take(&mut self.request.input);
        // The route's application decides the lane (see invoke::handle).
        let heavy = next.layers[next.layers.len() - 1].cost.heavy();
        let (request, head_rx, body_rx) = invoke::open_request(&app, input, Some(next));
        let launched = invoke::launch(app.clone(), heavy, request, environ, slot, head_rx)
            .instrument(span.clone())
            .await;
        match launched {
            Ok(Ok(head)) => {
                let body = self.table().push(NextBody {
                    chunks: body_rx,
                    ended: false,
                })?;
                Ok(Ok(NextResponse {
                    status: head.status_line(),
                    headers: head.header_list(),
                    body,
                }))
            }
            Ok(Err(err)) => {
                if let RequestError::Input(failure) = err {
                    // The client's fault reading the body: it hears that
                    // (413, 408, 400), whatever this layer answers.
                    self.request.response.note_input_failure(failure);
                }
                span.in_scope(|| err.log());
                Ok(Err(app_error(format!(
                    "the next layer `{}` failed: {}",
                    app.config.name,
                    err.public_summary()
                ))))
            }
            Err(_) => Ok(Err(app_error(format!(
                "the next layer `{}` ended without a response",
                app.config.name
            )))),
        }
    }
}

impl NextBodyHost for StoreData {
    async fn next(
        &mut self,
        body: Resource<NextBody>,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, AppError>> {
        let body = self.table().get_mut(&body)?;
        if body.ended {
            return Ok(Ok(None));
        }
        Ok(match body.chunks.recv().await {
            Some(Chunk::Data(bytes)) => Ok(Some(Vec::from(bytes))),
            Some(Chunk::End) => {
                body.ended = true;
                Ok(None)
            }
            // The next layer's task ended without `End`: it failed mid-body
            // (trap, deadline); its detail is in the log.
            None => Err(app_error("the next layer failed while sending its body")),
        })
    }

    async fn drop(&mut self, body: Resource<NextBody>) -> wasmtime::Result<()> {
        // Dropping the receiver makes the next layer's next write fail: it
        // leaves its loop and its body is closed (its `close()`).
        self.table().delete(body)?;
        Ok(())
    }
}
