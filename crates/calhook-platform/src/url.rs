//! A request's path and query, read from the URL string the runtime gives.
//!
//! The runtime has already parsed and serialized the URL (WHATWG), so nothing
//! here parses a host: workers-rs's `Request::url` would parse it again with
//! the `url` crate, whose IDNA and Unicode tables were 60 KB of the admin
//! worker's wasm. The query is decoded by `form_urlencoded`, as `url` does.

/// The path of a URL as the runtime serializes it (`https://host/path?query`):
/// the first `/` after the host starts it, `?` or `#` ends it (both are
/// percent-encoded inside a path), as workers-rs's own `Request::path` does.
pub fn path_of(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    let rest = &url[after_scheme..];
    let Some(start) = rest.find('/') else {
        return "/";
    };
    let path = &rest[start..];
    &path[..path.find(['?', '#']).unwrap_or(path.len())]
}

/// The decoded `name=value` pairs of the URL's query, in order.
pub fn query_pairs(url: &str) -> form_urlencoded::Parse<'_> {
    let query = url.split_once('?').map_or("", |(_, q)| q);
    let query = query.split_once('#').map_or(query, |(q, _)| q);
    form_urlencoded::parse(query.as_bytes())
}

/// The decoded `name=value` pairs of a form body (`application/x-www-form-urlencoded`).
pub fn form_pairs(body: &str) -> form_urlencoded::Parse<'_> {
    form_urlencoded::parse(body.as_bytes())
}

/// The `host[:port]` of a URL as the runtime serializes it.
pub fn host_of(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    let rest = &url[after_scheme..];
    &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_path_is_what_lies_between_the_host_and_the_query() {
        assert_eq!(path_of("https://h.example/webhooks/cal"), "/webhooks/cal");
        assert_eq!(
            path_of("http://127.0.0.1:8787/webhooks/cal/acme?x=/y#z"),
            "/webhooks/cal/acme"
        );
        assert_eq!(path_of("https://h.example"), "/");
        assert_eq!(path_of("https://h.example/?a"), "/");
    }

    #[test]
    fn the_host_keeps_its_port() {
        assert_eq!(host_of("http://127.0.0.1:8787/admin/"), "127.0.0.1:8787");
        assert_eq!(host_of("https://h.example"), "h.example");
    }

    #[test]
    fn query_pairs_are_decoded_and_stop_at_the_fragment() {
        let pairs: Vec<(String, String)> =
            query_pairs("https://h.example/admin/bookings?status=accepted&after=a%2Fb+c&x#f=1")
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
        assert_eq!(
            pairs,
            [
                ("status".to_owned(), "accepted".to_owned()),
                ("after".to_owned(), "a/b c".to_owned()),
                ("x".to_owned(), String::new()),
            ]
        );
        assert_eq!(query_pairs("https://h.example/admin").count(), 0);
    }
}
