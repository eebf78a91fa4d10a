//! Which handler answers which request target.
//!
//! Without --root there are two routes, `/` and `/metrics`. Static files
//! (--root) slot in here as one more route: whatever the built-in routes
//! don't claim goes to the file tree, and /metrics stays reachable.

/// The handlers this server has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `GET /`: a short plain-text hello.
    Hello,
    /// `GET /metrics`: the counters, in the Prometheus text format.
    Metrics,
    /// Anything else, when --root is set: a static file.
    Static,
    /// Anything else, without --root.
    NotFound,
    /// A method RFC 9110 defines, other than GET and HEAD: 405 with Allow.
    MethodNotAllowed,
    /// A method this server doesn't know: 501 (RFC 9110 §9.1, §15.6.2).
    NotImplemented,
    /// `/echo` and anything beneath `/echo/`, with GET, HEAD, POST or PUT:
    /// the benchmark target (see `echo`). Shadows files of that name, like
    /// /metrics.
    Echo,
    /// `/echo` with any other method: 405 with `Allow: GET, HEAD, POST, PUT`.
    EchoMethodNotAllowed,
}

/// True for `/echo` and paths beneath `/echo/` (not `/echoes`).
pub fn is_echo(target: &str) -> bool {
    after_merged(path_of(target), "/echo")
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// The route of an /echo request, by its method.
pub fn echo_route(method: &str) -> Route {
    match method {
        "GET" | "HEAD" | "POST" | "PUT" => Route::Echo,
        _ => Route::EchoMethodNotAllowed,
    }
}

/// Route a request target (origin-form `/path?query`, or absolute-form
/// `http://host/path`, which RFC 9112 §3.2.2 says servers must accept).
/// With `static_files`, /metrics stays reachable (shadowing a file named
/// `metrics` at the root) and everything else is a file.
pub fn route(target: &str, static_files: bool) -> Route {
    let path = path_of(target);
    if after_merged(path, "/metrics") == Some("") {
        return Route::Metrics;
    }
    match (path, static_files) {
        (_, true) => Route::Static,
        ("/", false) => Route::Hello,
        (_, false) => Route::NotFound,
    }
}

/// The path part of a target: without scheme and authority, query or fragment.
pub fn path_of(target: &str) -> &str {
    // Origin-form (`/path`) is the common case; only look for a scheme
    // otherwise (a substring search per request showed up in callgrind:
    // docs/benchmarks.md, "Efficiency").
    let without_authority = if target.starts_with('/') {
        target
    } else {
        match target.split_once("://") {
            Some((_, rest)) => rest.find('/').and_then(|at| rest.get(at..)).unwrap_or("/"),
            None => target,
        }
    };
    let end = without_authority
        .find(['?', '#'])
        .unwrap_or(without_authority.len());
    without_authority.get(..end).unwrap_or(without_authority)
}

/// What follows `prefix` at the start of `path`, comparing as if runs of
/// `/` in `path` were one: the file tree merges them (`//metrics` names the
/// file `metrics`), so the routes that shadow files must match the same
/// spellings, or `//metrics` would reach a file the route hides.
fn after_merged<'p>(path: &'p str, prefix: &str) -> Option<&'p str> {
    let bytes = path.as_bytes();
    let mut at = 0;
    for &want in prefix.as_bytes() {
        if want == b'/' {
            // One or more slashes in the path stand for this one.
            let run = bytes.get(at..)?.iter().take_while(|&&b| b == b'/').count();
            if run == 0 {
                return None;
            }
            at += run;
        } else if bytes.get(at) == Some(&want) {
            at += 1;
        } else {
            return None;
        }
    }
    path.get(at..)
}

/// The query of a target: what follows the `?` of its path, up to any
/// fragment. `None` when there is no `?`; `Some("")` for a bare `?`, which
/// RFC 3986 tells apart from no query at all.
pub fn query_of(target: &str) -> Option<&str> {
    let (before, after) = target.split_once('?')?;
    if before.contains('#') {
        return None;
    }
    Some(after.split_once('#').map_or(after, |(query, _)| query))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_route_by_path_only() {
        assert_eq!(route("/", false), Route::Hello);
        assert_eq!(route("/?x=1", false), Route::Hello);
        assert_eq!(route("/metrics", false), Route::Metrics);
        assert_eq!(route("/metrics?name=x#frag", false), Route::Metrics);
        assert_eq!(route("http://example.com/metrics", false), Route::Metrics);
        assert_eq!(route("http://example.com", false), Route::Hello);
        assert_eq!(route("/nope", false), Route::NotFound);
        assert_eq!(route("*", false), Route::NotFound);
        assert_eq!(route("/", true), Route::Static);
        assert_eq!(route("/metrics", true), Route::Metrics);
    }

    #[test]
    fn routes_that_shadow_files_match_the_spellings_the_file_tree_merges() {
        for target in ["//metrics", "///metrics?x", "http://h//metrics"] {
            assert_eq!(route(target, true), Route::Metrics, "{target}");
        }
        assert_eq!(route("/metrics/", true), Route::Static);
        assert_eq!(route("/metricsx", true), Route::Static);
        for yes in ["//echo", "/echo//a", "//echo//"] {
            assert!(is_echo(yes), "{yes}");
        }
        for no in ["//echoes", "//x//echo"] {
            assert!(!is_echo(no), "{no}");
        }
    }

    #[test]
    fn echo_is_its_path_and_everything_beneath_it() {
        for yes in ["/echo", "/echo?x", "/echo/", "/echo/a/b?c", "http://h/echo"] {
            assert!(is_echo(yes), "{yes}");
        }
        for no in ["/echoes", "/", "/metrics", "/x/echo", "/Echo"] {
            assert!(!is_echo(no), "{no}");
        }
        assert_eq!(echo_route("PUT"), Route::Echo);
        assert_eq!(echo_route("DELETE"), Route::EchoMethodNotAllowed);
        assert_eq!(echo_route("BREW"), Route::EchoMethodNotAllowed);
    }

    #[test]
    fn the_query_is_what_follows_the_question_mark() {
        assert_eq!(query_of("/sub?q=1"), Some("q=1"));
        assert_eq!(query_of("/sub?q=1#frag"), Some("q=1"));
        assert_eq!(query_of("/sub?a=1?b=2"), Some("a=1?b=2"));
        assert_eq!(query_of("/sub?"), Some(""));
        assert_eq!(query_of("http://example.com/sub?q=1"), Some("q=1"));
        assert_eq!(query_of("/sub"), None);
        assert_eq!(query_of("/sub#frag?x"), None);
    }
}
