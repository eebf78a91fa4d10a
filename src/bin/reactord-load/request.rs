//! The HTTP request every connection sends, built once from the flags
//! (`--method`, `--header`, `--body`, `--body-file`) and copied as bytes
//! for each request: building it per request would cost more than sending.

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

/// The largest `--body`/`--body-file` accepted: every request carries a
/// copy in its connection's output buffer, so this bounds memory per
/// connection.
pub const MAX_BODY: usize = 64 * 1024 * 1024;

/// What the user asked to send.
pub struct Spec<'a> {
    pub method: &'a str,
    pub host: &'a str,
    pub path: &'a str,
    /// `Name: value` lines from `--header`; a Host given here replaces the
    /// target's, a Content-Length is an error (it is set from the body).
    pub headers: &'a [String],
    pub body: Option<Vec<u8>>,
    /// `Connection: close` (the `--close` mode).
    pub close: bool,
}

/// The bytes of one request, and whether it is a HEAD (whose response has
/// no body whatever its headers say).
pub fn build(spec: Spec<'_>) -> Result<(Vec<u8>, bool), String> {
    let method = spec.method;
    if method.is_empty() || !method.bytes().all(is_token_byte) {
        return Err(format!("--method {method:?} is not an HTTP method token"));
    }
    let mut head = format!("{method} {} HTTP/1.1\r\n", spec.path);
    let mut has_host = false;
    let mut extra = String::new();
    for line in spec.headers {
        let (name, value) = parse_header(line)?;
        if name.eq_ignore_ascii_case("content-length")
            || name.eq_ignore_ascii_case("transfer-encoding")
        {
            return Err(format!(
                "--header {name}: the body's framing is set from --body/--body-file"
            ));
        }
        has_host |= name.eq_ignore_ascii_case("host");
        extra.push_str(&format!("{name}: {value}\r\n"));
    }
    if !has_host {
        head.push_str(&format!("Host: {}\r\n", spec.host));
    }
    head.push_str(&extra);
    if spec.close {
        head.push_str("Connection: close\r\n");
    }
    let body = spec.body.unwrap_or_default();
    if body.len() > MAX_BODY {
        return Err(format!("the body is over {MAX_BODY} bytes"));
    }
    // A body always gets its length; so does a POST or PUT without one
    // (RFC 9110 §8.6: a user agent should send Content-Length: 0 there).
    if !body.is_empty() || matches!(method, "POST" | "PUT" | "PATCH") {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(&body);
    Ok((bytes, method == "HEAD"))
}

/// `Name: value` with a token name and a value free of CR, LF and NUL.
fn parse_header(line: &str) -> Result<(&str, &str), String> {
    let (name, value) = line
        .split_once(':')
        .ok_or_else(|| format!("--header {line:?} is not \"Name: value\""))?;
    let value = value.trim();
    if name.is_empty() || !name.bytes().all(is_token_byte) {
        return Err(format!("--header {line:?}: the name is not a token"));
    }
    if value.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0)) {
        return Err(format!("--header {line:?}: the value holds CR, LF or NUL"));
    }
    Ok((name, value))
}

/// RFC 9110 §5.6.2 tchar.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec<'a>(method: &'a str, headers: &'a [String], body: Option<&[u8]>) -> Spec<'a> {
        Spec {
            method,
            host: "127.0.0.1:8080",
            path: "/echo",
            headers,
            body: body.map(<[u8]>::to_vec),
            close: false,
        }
    }

    #[test]
    fn the_default_request_is_the_old_one() {
        let (bytes, head) = build(spec("GET", &[], None)).unwrap();
        assert_eq!(bytes, b"GET /echo HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n");
        assert!(!head);
    }

    #[test]
    fn method_headers_and_body() {
        let headers = ["X-A: 1".to_string(), "host: example".to_string()];
        let (bytes, head) = build(spec("POST", &headers, Some(b"hello"))).unwrap();
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            "POST /echo HTTP/1.1\r\nX-A: 1\r\nhost: example\r\nContent-Length: 5\r\n\r\nhello"
        );
        assert!(!head);
        let (bytes, head) = build(spec("HEAD", &[], None)).unwrap();
        assert!(bytes.starts_with(b"HEAD /echo"));
        assert!(head);
        let (bytes, _) = build(spec("PUT", &[], None)).unwrap();
        assert!(bytes.ends_with(b"Content-Length: 0\r\n\r\n"));
    }

    #[test]
    fn bad_methods_and_headers_are_refused() {
        assert!(build(spec("GE T", &[], None)).is_err());
        assert!(build(spec("", &[], None)).is_err());
        for bad in [
            "NoColon",
            "Bad Name: x",
            "X: a\rb",
            "Content-Length: 3",
            "transfer-encoding: chunked",
        ] {
            assert!(
                build(spec("GET", &[bad.to_string()], None)).is_err(),
                "{bad}"
            );
        }
    }
}
