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
    /// Anything else.
    NotFound,
    /// A method other than GET and HEAD.
    MethodNotAllowed,
}

/// Route a request target (origin-form `/path?query`, or absolute-form
/// `http://host/path`, which RFC 9112 §3.2.2 says servers must accept).
pub fn route(target: &str) -> Route {
    match path_of(target) {
        "/" => Route::Hello,
        "/metrics" => Route::Metrics,
        _ => Route::NotFound,
    }
}

/// The path part of a target: without scheme and authority, query or fragment.
pub fn path_of(target: &str) -> &str {
    let without_authority = match target.split_once("://") {
        Some((_, rest)) => rest.find('/').and_then(|at| rest.get(at..)).unwrap_or("/"),
        None => target,
    };
    let end = without_authority
        .find(['?', '#'])
        .unwrap_or(without_authority.len());
    without_authority.get(..end).unwrap_or(without_authority)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_route_by_path_only() {
        assert_eq!(route("/"), Route::Hello);
        assert_eq!(route("/?x=1"), Route::Hello);
        assert_eq!(route("/metrics"), Route::Metrics);
        assert_eq!(route("/metrics?name=x#frag"), Route::Metrics);
        assert_eq!(route("http://example.com/metrics"), Route::Metrics);
        assert_eq!(route("http://example.com"), Route::Hello);
        assert_eq!(route("/nope"), Route::NotFound);
        assert_eq!(route("*"), Route::NotFound);
    }
}
