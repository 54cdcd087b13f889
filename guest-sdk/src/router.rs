//! [`Router`]: dispatch on method and `PATH_INFO`, Flask style.
//!
//! Patterns are paths whose segments are literal text, a parameter
//! `<name>` (one non-empty segment), or, as the last segment only, a
//! catch-all `<name..>` (the rest of the path, possibly empty, slashes
//! included). Routes are tried in the order they were added.
//!
//! The router answers `404 Not Found` when no pattern matches the path and
//! `405 Method Not Allowed` (with an `Allow` header) when some pattern
//! matches but not for this method. `HEAD` is served by `GET` routes.

use std::fmt;

use crate::{Environ, Error, IntoResponse, Response};

type BoxedHandler = Box<dyn Fn(Environ, Params) -> Result<Response, Error>>;

/// A table of routes: method(s) + path pattern → handler.
///
/// ```
/// use wasm_gateway_sdk::{Environ, Params, Response, Router};
///
/// fn show_user(_env: Environ, params: Params) -> Response {
///     Response::text(format!("user {}", params.get("name").unwrap_or("?")))
/// }
///
/// let router = Router::new()
///     .get("/", |_env, _params| "home")
///     .get("/user/<name>", show_user)
///     .route(&["PUT", "DELETE"], "/files/<path..>", |_env, params: Params| {
///         format!("file {}", params.get("path").unwrap_or_default())
///     });
/// # let _ = router;
/// ```
#[derive(Default)]
pub struct Router {
    routes: Vec<Route>,
}

struct Route {
    methods: Vec<String>,
    pattern: Pattern,
    handler: BoxedHandler,
}

impl Router {
    /// A router without routes (it answers every request with `404`).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a route for `GET` (and so `HEAD`).
    ///
    /// # Panics
    ///
    /// If `pattern` is malformed (see [`route`](Self::route)).
    #[must_use]
    pub fn get<H, R>(self, pattern: &str, handler: H) -> Self
    where
        H: Fn(Environ, Params) -> R + 'static,
        R: IntoResponse,
    {
        self.route(&["GET"], pattern, handler)
    }

    /// Adds a route for `POST`.
    ///
    /// # Panics
    ///
    /// If `pattern` is malformed (see [`route`](Self::route)).
    #[must_use]
    pub fn post<H, R>(self, pattern: &str, handler: H) -> Self
    where
        H: Fn(Environ, Params) -> R + 'static,
        R: IntoResponse,
    {
        self.route(&["POST"], pattern, handler)
    }

    /// Adds a route for `PUT`.
    ///
    /// # Panics
    ///
    /// If `pattern` is malformed (see [`route`](Self::route)).
    #[must_use]
    pub fn put<H, R>(self, pattern: &str, handler: H) -> Self
    where
        H: Fn(Environ, Params) -> R + 'static,
        R: IntoResponse,
    {
        self.route(&["PUT"], pattern, handler)
    }

    /// Adds a route for `DELETE`.
    ///
    /// # Panics
    ///
    /// If `pattern` is malformed (see [`route`](Self::route)).
    #[must_use]
    pub fn delete<H, R>(self, pattern: &str, handler: H) -> Self
    where
        H: Fn(Environ, Params) -> R + 'static,
        R: IntoResponse,
    {
        self.route(&["DELETE"], pattern, handler)
    }

    /// Adds a route for each method in `methods` (case-sensitive, as HTTP
    /// methods are: `"GET"`, not `"get"`).
    ///
    /// # Panics
    ///
    /// If `pattern` does not start with `/`, has a parameter without a name
    /// or with `<`, `>` or `.` in its name, or has a catch-all that is not
    /// the last segment: a programming error, found the first time the
    /// router is built.
    #[must_use]
    pub fn route<H, R>(mut self, methods: &[&str], pattern: &str, handler: H) -> Self
    where
        H: Fn(Environ, Params) -> R + 'static,
        R: IntoResponse,
    {
        let pattern = Pattern::parse(pattern)
            .unwrap_or_else(|problem| panic!("invalid route pattern {pattern:?}: {problem}"));
        self.routes.push(Route {
            methods: methods.iter().map(|&method| method.to_owned()).collect(),
            pattern,
            handler: Box::new(move |env, params| handler(env, params).into_response()),
        });
        self
    }

    /// Serves one request: runs the first route matching its method and
    /// `PATH_INFO` (an empty path counts as `/`), or answers `404`/`405`.
    /// A handler's error is returned as is, for the host to log (and answer
    /// `500`).
    pub fn handle(&self, environ: Environ) -> Result<Response, Error> {
        let path = environ.path_info().into_owned();
        let method = environ.method();
        let mut allowed: Vec<&str> = Vec::new();
        for route in &self.routes {
            let Some(params) = route.pattern.matches(&path) else {
                continue;
            };
            if route.serves(method) {
                return (route.handler)(environ, params);
            }
            for candidate in &route.methods {
                push_unique(&mut allowed, candidate);
                if candidate == "GET" {
                    push_unique(&mut allowed, "HEAD");
                }
            }
        }
        if allowed.is_empty() {
            Ok(Response::not_found())
        } else {
            Ok(Response::method_not_allowed(&allowed))
        }
    }
}

fn push_unique<'a>(list: &mut Vec<&'a str>, item: &'a str) {
    if !list.contains(&item) {
        list.push(item);
    }
}

impl Route {
    fn serves(&self, method: &str) -> bool {
        self.methods
            .iter()
            .any(|candidate| candidate == method || (method == "HEAD" && candidate == "GET"))
    }
}

impl fmt::Debug for Router {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(
                self.routes
                    .iter()
                    .map(|route| (route.methods.join("|"), &route.pattern.source)),
            )
            .finish()
    }
}

/// The parameters a route pattern captured, by name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    /// The value captured by `<name>` or `<name..>`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// All captured `(name, value)` pairs, in pattern order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs
            .iter()
            .map(|(key, value)| (key.as_str(), value.as_str()))
    }
}

/// A parsed route pattern.
#[derive(Debug)]
struct Pattern {
    source: String,
    segments: Vec<Segment>,
}

#[derive(Debug, PartialEq)]
enum Segment {
    Literal(String),
    Param(String),
    CatchAll(String),
}

impl Pattern {
    fn parse(source: &str) -> Result<Self, &'static str> {
        let rest = source
            .strip_prefix('/')
            .ok_or("a pattern starts with `/`")?;
        let pieces: Vec<&str> = rest.split('/').collect();
        let last = pieces.len() - 1;
        let mut segments = Vec::with_capacity(pieces.len());
        for (index, piece) in pieces.into_iter().enumerate() {
            let segment = match piece.strip_prefix('<').and_then(|p| p.strip_suffix('>')) {
                Some(inner) => {
                    let (name, catch_all) = match inner.strip_suffix("..") {
                        Some(name) => (name, true),
                        None => (inner, false),
                    };
                    if name.is_empty() || name.contains(['<', '>', '.']) {
                        return Err("a parameter is `<name>` or `<name..>`");
                    }
                    if catch_all && index != last {
                        return Err("a catch-all `<name..>` must be the last segment");
                    }
                    if catch_all {
                        Segment::CatchAll(name.to_owned())
                    } else {
                        Segment::Param(name.to_owned())
                    }
                }
                None if piece.contains(['<', '>']) => {
                    return Err("a parameter must be a whole segment");
                }
                None => Segment::Literal(piece.to_owned()),
            };
            segments.push(segment);
        }
        Ok(Self {
            source: source.to_owned(),
            segments,
        })
    }

    /// The captured parameters if `path` matches.
    fn matches(&self, path: &str) -> Option<Params> {
        let path = if path.is_empty() { "/" } else { path };
        let mut rest = path.strip_prefix('/')?;
        let mut pairs = Vec::new();
        for (index, segment) in self.segments.iter().enumerate() {
            if let Segment::CatchAll(name) = segment {
                pairs.push((name.clone(), rest.to_owned()));
                return Some(Params { pairs });
            }
            let (piece, remainder) = match rest.split_once('/') {
                Some((piece, remainder)) => (piece, Some(remainder)),
                None => (rest, None),
            };
            match segment {
                Segment::Literal(text) if text == piece => {}
                Segment::Param(name) if !piece.is_empty() => {
                    pairs.push((name.clone(), piece.to_owned()));
                }
                _ => return None,
            }
            let is_last = index + 1 == self.segments.len();
            match (remainder, is_last) {
                // Pattern and path end together.
                (None, true) => return Some(Params { pairs }),
                (Some(remainder), false) => rest = remainder,
                // A catch-all also matches nothing at all: `/files/<p..>`
                // matches `/files`.
                (None, false) => {
                    return match &self.segments[index + 1..] {
                        [Segment::CatchAll(name)] => {
                            pairs.push((name.clone(), String::new()));
                            Some(Params { pairs })
                        }
                        _ => None,
                    };
                }
                (Some(_), true) => return None,
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::environ::tests::raw;

    fn matches(pattern: &str, path: &str) -> Option<Vec<(String, String)>> {
        Pattern::parse(pattern)
            .unwrap()
            .matches(path)
            .map(|params| params.pairs)
    }

    fn captured(list: &[(&str, &str)]) -> Option<Vec<(String, String)>> {
        Some(
            list.iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }

    #[test]
    fn literal_patterns() {
        assert_eq!(matches("/", "/"), captured(&[]));
        assert_eq!(matches("/", ""), captured(&[]));
        assert_eq!(matches("/", "/x"), None);
        assert_eq!(matches("/dog", "/dog"), captured(&[]));
        assert_eq!(matches("/dog", "/dog/"), None);
        assert_eq!(matches("/dog", "/dogs"), None);
        assert_eq!(matches("/a/b", "/a/b"), captured(&[]));
        assert_eq!(matches("/a/b", "/a"), None);
        assert_eq!(matches("/a/", "/a/"), captured(&[]));
        assert_eq!(matches("/a/", "/a"), None);
    }

    #[test]
    fn parameters() {
        assert_eq!(
            matches("/user/<name>", "/user/ada"),
            captured(&[("name", "ada")])
        );
        assert_eq!(matches("/user/<name>", "/user/"), None);
        assert_eq!(matches("/user/<name>", "/user"), None);
        assert_eq!(matches("/user/<name>", "/user/ada/x"), None);
        assert_eq!(
            matches("/<a>/and/<b>", "/x/and/y"),
            captured(&[("a", "x"), ("b", "y")])
        );
    }

    #[test]
    fn catch_all() {
        assert_eq!(
            matches("/static/<path..>", "/static/css/site.css"),
            captured(&[("path", "css/site.css")])
        );
        assert_eq!(
            matches("/static/<path..>", "/static/"),
            captured(&[("path", "")])
        );
        assert_eq!(
            matches("/static/<path..>", "/static"),
            captured(&[("path", "")])
        );
        assert_eq!(matches("/static/<path..>", "/other"), None);
        assert_eq!(matches("/<all..>", "/"), captured(&[("all", "")]));
        assert_eq!(matches("/<all..>", "/a/b/"), captured(&[("all", "a/b/")]));
    }

    #[test]
    fn malformed_patterns() {
        assert!(Pattern::parse("user").is_err());
        assert!(Pattern::parse("/<>").is_err());
        assert!(Pattern::parse("/<..>").is_err());
        assert!(Pattern::parse("/<rest..>/x").is_err());
        assert!(Pattern::parse("/a<b>").is_err());
        assert!(Pattern::parse("/<a.b>").is_err());
    }

    fn router() -> Router {
        Router::new()
            .route(&["GET", "POST"], "/", |_env, _params| "home")
            .get("/user/<name>", |_env, params: Params| {
                format!("hello {}", params.get("name").unwrap_or_default())
            })
            .post("/fail", |_env, _params| {
                Err::<Response, _>(Error::msg("nope"))
            })
            .put("/item/<id>", |_env, _params| "put")
            .delete("/item/<id>", |_env, _params| "deleted")
    }

    fn serve(method: &str, path: &str) -> Result<Response, Error> {
        router().handle(Environ::with_body(raw(method, path), Vec::new()))
    }

    fn body(response: Response) -> String {
        String::from_utf8(response.into_body().into_bytes().unwrap()).unwrap()
    }

    #[test]
    fn dispatch() {
        assert_eq!(body(serve("GET", "/").unwrap()), "home");
        assert_eq!(body(serve("POST", "/").unwrap()), "home");
        assert_eq!(body(serve("GET", "/user/ada").unwrap()), "hello ada");
        assert_eq!(body(serve("HEAD", "/user/ada").unwrap()), "hello ada");
        assert_eq!(body(serve("DELETE", "/item/3").unwrap()), "deleted");
    }

    #[test]
    fn not_found_and_method_not_allowed() {
        let response = serve("GET", "/nope").unwrap();
        assert_eq!(response.status(), Some(404));
        assert_eq!(body(response), "Not Found");

        let response = serve("DELETE", "/").unwrap();
        assert_eq!(response.status(), Some(405));
        assert_eq!(
            response.header_value("Allow"),
            Some(&b"GET, HEAD, POST"[..])
        );

        let response = serve("POST", "/user/ada").unwrap();
        assert_eq!(response.header_value("Allow"), Some(&b"GET, HEAD"[..]));

        let response = serve("GET", "/item/3").unwrap();
        assert_eq!(response.header_value("Allow"), Some(&b"PUT, DELETE"[..]));
    }

    #[test]
    fn handler_errors_propagate() {
        assert_eq!(serve("POST", "/fail").unwrap_err().to_string(), "nope");
    }
}
