//! Route patterns of `capsa.toml`: `/exact`, `/users/{id}`, `/api/*`.

use serde_json::{Map, Value};

/// Paths the gateway answers itself; a route may not shadow them.
const RESERVED: [&str; 7] = [
    "/v1",
    "/run",
    "/execute",
    "/healthz",
    "/readyz",
    "/metrics",
    "/openapi.json",
];

/// A parsed route pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    segments: Vec<Segment>,
    /// Ends in `/*`: any rest of the path matches, and is the `rest` parameter.
    rest: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param(String),
}

impl Pattern {
    /// Parses a pattern.
    ///
    /// # Errors
    ///
    /// A message naming the pattern: it must start with `/`, parameters are `{name}` whole segments,
    /// `*` only as the last segment, and it must not shadow the gateway's own paths.
    pub fn parse(pattern: &str) -> Result<Pattern, String> {
        let bad = |why: &str| format!("route `{pattern}`: {why}");
        let Some(body) = pattern.strip_prefix('/') else {
            return Err(bad("a route path starts with `/`"));
        };
        for reserved in RESERVED {
            if pattern == reserved || pattern.starts_with(&format!("{reserved}/")) {
                return Err(bad(&format!("`{reserved}` belongs to the gateway itself")));
            }
        }
        if pattern == "/*" {
            return Err(bad(
                "`/*` would shadow the gateway's own paths; route a prefix such as `/app/*`",
            ));
        }
        let mut segments = Vec::new();
        let mut rest = false;
        let parts: Vec<&str> = if body.is_empty() {
            Vec::new()
        } else {
            body.split('/').collect()
        };
        for (i, part) in parts.iter().enumerate() {
            if *part == "*" {
                if i + 1 != parts.len() {
                    return Err(bad("`*` may only be the last segment"));
                }
                rest = true;
            } else if let Some(name) = part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                if name.is_empty()
                    || name == "rest"
                    || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                {
                    return Err(bad(&format!(
                        "`{{{name}}}` is not a parameter name (letters, digits, `_`; not `rest`)"
                    )));
                }
                segments.push(Segment::Param(name.to_owned()));
            } else if part.contains(['{', '}', '*', '?', '#']) {
                return Err(bad(&format!("`{part}` mixes a parameter into a segment")));
            } else {
                segments.push(Segment::Literal((*part).to_owned()));
            }
        }
        Ok(Pattern { segments, rest })
    }

    /// The route parameters when `path` matches.
    pub fn matches(&self, path: &str) -> Option<Map<String, Value>> {
        let body = path.strip_prefix('/')?;
        let mut parts = if body.is_empty() {
            Vec::new()
        } else {
            body.split('/').collect::<Vec<_>>()
        };
        // `/a/` matches `/a` as well.
        if parts.len() > self.segments.len() && parts.last() == Some(&"") && !self.rest {
            parts.pop();
        }
        if parts.len() < self.segments.len() || (!self.rest && parts.len() != self.segments.len()) {
            return None;
        }
        let mut params = Map::new();
        for (segment, part) in self.segments.iter().zip(&parts) {
            match segment {
                Segment::Literal(literal) if literal == part => {}
                Segment::Literal(_) => return None,
                Segment::Param(_) if part.is_empty() => return None,
                Segment::Param(name) => {
                    params.insert(name.clone(), Value::from(percent_decode(part)));
                }
            }
        }
        if self.rest {
            let rest = parts[self.segments.len()..].join("/");
            params.insert("rest".into(), Value::from(percent_decode(&rest)));
        }
        Some(params)
    }
}

/// A path segment with `%XX` escapes decoded (`+` stays `+`: it is a space only in queries).
fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pattern: &str, path: &str) -> Option<Value> {
        Pattern::parse(pattern)
            .unwrap()
            .matches(path)
            .map(Value::Object)
    }

    #[test]
    fn patterns_match() {
        assert_eq!(params("/hello", "/hello"), Some(serde_json::json!({})));
        assert_eq!(params("/hello", "/hello/"), Some(serde_json::json!({})));
        assert_eq!(params("/hello", "/hello/x"), None);
        assert_eq!(params("/hello", "/hell"), None);
        assert_eq!(
            params("/users/{id}", "/users/42"),
            Some(serde_json::json!({"id": "42"}))
        );
        assert_eq!(
            params("/users/{id}", "/users/a%20b"),
            Some(serde_json::json!({"id": "a b"}))
        );
        assert_eq!(
            params("/users/{id}", "/users/a+b%2Fc"),
            Some(serde_json::json!({"id": "a+b/c"}))
        );
        assert_eq!(params("/users/{id}", "/users/"), None);
        assert_eq!(params("/users/{id}", "/users"), None);
        assert_eq!(
            params("/api/*", "/api/a/b"),
            Some(serde_json::json!({"rest": "a/b"}))
        );
        assert_eq!(
            params("/api/*", "/api"),
            Some(serde_json::json!({"rest": ""}))
        );
        assert_eq!(params("/", "/"), Some(serde_json::json!({})));
        assert_eq!(params("/", "/x"), None);
    }

    #[test]
    fn bad_patterns_are_refused() {
        for bad in [
            "",
            "x",
            "/*",
            "/a/*/b",
            "/a/{}",
            "/a/{rest}",
            "/a/x{id}",
            "/a/{i-d}",
            "/v1",
            "/v1/functions",
            "/run/x",
            "/metrics",
            "/openapi.json",
        ] {
            assert!(Pattern::parse(bad).is_err(), "{bad}");
        }
        assert!(Pattern::parse("/v10").is_ok());
        assert!(Pattern::parse("/runner").is_ok());
    }
}
