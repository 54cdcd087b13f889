//! A visit counter: the first thing an app cannot do without a store.
//!
//! Every request runs in a fresh instance, so a global counter would say
//! `1` forever. The count lives in the key-value store `default` instead,
//! which the operator grants:
//!
//! ```sh
//! wasm-gateway serve target/examples/visits.wasm --kv default
//! curl http://127.0.0.1:8000/          # You are visitor number 1.
//! curl http://127.0.0.1:8000/about     # ... and this page has been seen 1 time.
//! ```
//!
//! (`default` is SQLite in `./wasm-gateway-data/kv.db`; `--data-dir`
//! moves it. In a gateway file: `kv = ["default"]` in `[apps.NAME.grants]`.)
//! `increment` is atomic: two requests at once both count.

use wasm_gateway_sdk::kv::{KvError, Store};
use wasm_gateway_sdk::{Environ, Error, Response};

wasm_gateway_sdk::app!(visits);

fn visits(env: Environ) -> Result<Response, Error> {
    let store = match Store::open_default() {
        Ok(store) => store,
        // Without the grant, say what the operator has to do.
        Err(err @ KvError::AccessDenied(_)) => {
            return Ok(Response::new(503).body(format!("{err}\n")));
        }
        Err(err) => return Err(err.into()),
    };
    // One counter for the site, one per page.
    let total = store.increment("visits", 1)?;
    let path = env.path_info();
    let page = store.increment(&format!("page:{path}"), 1)?;
    Ok(Response::text(format!(
        "You are visitor number {total}, and this page ({path}) has been seen {page} {}.\n",
        if page == 1 { "time" } else { "times" }
    )))
}
