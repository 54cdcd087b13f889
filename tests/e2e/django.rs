//! The Django example (`examples/python/django/`), unmodified, built with
//! `python build mysite.wsgi:application --requirements ... --validate` and
//! served behind its own `gateway.toml`: Django at `/`, the collected static
//! files by the gateway at `/static`. Function and class-based views,
//! template inheritance, forms with CSRF, signed-cookie sessions, a
//! translated form error (Django's locale files, read at run time), the
//! auth hashers, the 404 page and in-memory SQLite, every response under the
//! `wsgiref` validator.

use crate::python::python_app;
use crate::support::{Response, TestServer, serve_toml, temp_dir};
use std::path::Path;

/// The example's gateway file, with its component and static root where
/// this test put them, in a folder of the test's own (tests run at once).
fn serve_example(test: &str) -> TestServer {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/python/django");
    let dir = temp_dir(&format!("django-{test}"));
    std::fs::copy(python_app("django"), dir.join("mysite.wasm")).unwrap();
    let toml = std::fs::read_to_string(example.join("gateway.toml"))
        .unwrap()
        .replace(
            "static = \"staticfiles/\"",
            &format!(
                "static = {:?}",
                example.join("staticfiles").to_string_lossy()
            ),
        );
    assert!(toml.contains("staticfiles"), "{toml}");
    serve_toml(&dir, &toml)
}

/// `name=value` of the `Set-Cookie` header setting `name`.
fn cookie(response: &Response, name: &str) -> String {
    response
        .headers
        .iter()
        .filter(|(header, _)| header == "set-cookie")
        .find_map(|(_, value)| {
            value
                .split(';')
                .next()
                .filter(|pair| pair.starts_with(&format!("{name}=")))
        })
        .unwrap_or_else(|| panic!("no {name} cookie in {:?}", response.headers))
        .to_owned()
}

/// The CSRF token of the form in `page`.
fn form_token(page: &str) -> String {
    let marker = "name=\"csrfmiddlewaretoken\" value=\"";
    let start = page.find(marker).expect("a CSRF token") + marker.len();
    page[start..].split('"').next().unwrap().to_owned()
}

fn get(server: &TestServer, path: &str, cookies: &str) -> Response {
    server.request(format!(
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nCookie: {cookies}\r\nConnection: close\r\n\r\n"
    ))
}

fn post(server: &TestServer, path: &str, cookies: &str, extra: &str, form: &str) -> Response {
    server.request(format!(
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nOrigin: http://localhost\r\nCookie: {cookies}\r\n{extra}Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{form}",
        form.len()
    ))
}

#[test]
fn the_django_example_serves_its_pages_forms_sessions_and_static_files() {
    let server = serve_example("pages");

    // A function view, template inheritance, a signed-cookie session.
    let home = server.get("/");
    assert_eq!(home.status, 200, "{}", home.text());
    assert!(home.text().contains("Visits in this session: 1"));
    assert!(home.text().contains("href=\"/static/mysite/site.css\""));
    let session = cookie(&home, "sessionid");
    let again = get(&server, "/", &session);
    assert!(
        again.text().contains("Visits in this session: 2"),
        "the session lives in its cookie, whatever instance serves: {}",
        again.text()
    );

    // A class-based form view with CSRF; an invalid field is explained in
    // the language asked for, from Django's translations.
    let form = server.get("/contact/");
    assert_eq!(form.status, 200);
    let csrf = cookie(&form, "csrftoken");
    let token = form_token(&form.text());
    let invalid = post(
        &server,
        "/contact/",
        &csrf,
        "Accept-Language: fr\r\n",
        &format!("csrfmiddlewaretoken={token}&name=Ann&email=not-an-address&message=hi"),
    );
    assert_eq!(invalid.status, 200);
    assert!(
        invalid
            .text()
            .contains("Saisissez une adresse de courriel valide."),
        "{}",
        invalid.text()
    );
    let forged = post(
        &server,
        "/contact/",
        &csrf,
        "",
        "csrfmiddlewaretoken=forged&name=Ann&email=ann@example.org&message=hi",
    );
    assert_eq!(forged.status, 403, "no valid CSRF token, no post");
    let sent = post(
        &server,
        "/contact/",
        &csrf,
        "",
        &format!("csrfmiddlewaretoken={token}&name=Ann&email=ann@example.org&message=hi"),
    );
    assert_eq!(sent.status, 302, "{}", sent.text());
    assert_eq!(sent.header("location"), Some("/thanks/"));
    let thanks = get(&server, "/thanks/", &cookie(&sent, "sessionid"));
    assert!(thanks.text().contains("Thanks, Ann"), "{}", thanks.text());

    // Django's 404, with the project's template (DEBUG is off).
    let missing = server.get("/no/such/page/");
    assert_eq!(missing.status, 404);
    assert!(missing.text().contains("No page at /no/such/page/."));

    // In-memory SQLite through the ORM's connection.
    let about = server.get("/about/");
    assert_eq!(about.status, 200);
    assert!(about.text().contains("SQLite 3."), "{}", about.text());

    // The static root, served by the gateway, not by Django.
    let css = server.get("/static/mysite/site.css");
    assert_eq!(css.status, 200);
    assert_eq!(css.header("content-type"), Some("text/css; charset=utf-8"));
    assert!(css.header("vary").is_none(), "not a Django response");
}

/// Django's default password hasher (PBKDF2-SHA256, 1,500,000 iterations)
/// hashes and verifies inside the sandbox.
#[test]
fn the_django_example_hashes_passwords_with_its_default_hasher() {
    let server = serve_example("passwords");
    let form = server.get("/account/");
    let csrf = cookie(&form, "csrftoken");
    let token = form_token(&form.text());
    let signed_up = post(
        &server,
        "/account/",
        &csrf,
        "",
        &format!("csrfmiddlewaretoken={token}&username=ann&password=correct-horse"),
    );
    assert_eq!(signed_up.status, 200, "{}", signed_up.text());
    assert!(
        signed_up.text().contains(
            "hashed with pbkdf2_sha256, 1500000 iterations; verified: True; wrong password rejected: True"
        ),
        "{}",
        signed_up.text()
    );
}
