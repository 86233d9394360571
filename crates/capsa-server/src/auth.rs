//! Bearer tokens (SPEC §8 Auth): from `[auth] tokens` and `CAPSA_TOKEN` (comma-separated).

use axum::http::{HeaderMap, header};
use capsa::ErrorCode;
use sha2::{Digest, Sha256};

use crate::config::{AuthConfig, expand_env};
use crate::error::ApiError;

/// The accepted tokens, kept as SHA-256 digests and compared without early exit.
pub struct Auth {
    tokens: Vec<[u8; 32]>,
    protect_invoke: bool,
}

/// What a request wants to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Invoke a route or `/run/…`: public unless `protect_invoke`.
    Invoke,
    /// Registry writes and reads, run-now: always a token.
    Admin,
}

impl Auth {
    /// The tokens of the config and of `CAPSA_TOKEN`.
    ///
    /// # Errors
    ///
    /// `invalid_input` for an empty token or an unset `${env.NAME}`.
    pub fn from_config(config: &AuthConfig) -> Result<Auth, ApiError> {
        let mut tokens = Vec::new();
        for token in &config.tokens {
            tokens.push(expand_env(token)?);
        }
        if let Ok(env) = std::env::var("CAPSA_TOKEN") {
            tokens.extend(
                env.split(',')
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .map(str::to_owned),
            );
        }
        if tokens.iter().any(|t| t.trim().is_empty()) {
            return Err(ApiError::invalid_input("an auth token is empty"));
        }
        Ok(Auth {
            tokens: tokens.iter().map(|t| Sha256::digest(t).into()).collect(),
            protect_invoke: config.protect_invoke,
        })
    }

    /// Whether invoking functions needs a token.
    pub fn protects_invoke(&self) -> bool {
        self.protect_invoke
    }

    /// Whether any token is configured.
    pub fn has_tokens(&self) -> bool {
        !self.tokens.is_empty()
    }

    /// Checks the request's token as for admin access, and gives its owner key
    /// ([`owner_key`](crate::sessions::owner_key)): whose sessions and snapshots the request may see.
    ///
    /// # Errors
    ///
    /// As [`Auth::check`] for [`Access::Admin`].
    pub fn owner(&self, headers: &HeaderMap) -> Result<String, ApiError> {
        self.check(headers, Access::Admin)?;
        bearer(headers)
            .map(crate::sessions::owner_key)
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::Unauthorized,
                    "missing `Authorization: Bearer TOKEN`",
                )
            })
    }

    /// Checks the request's `Authorization` for `access`.
    ///
    /// # Errors
    ///
    /// `401 unauthorized` when a token is needed and missing or wrong. Admin access on a gateway with
    /// no tokens at all is refused too: it listens on loopback only, but the registry and run-now
    /// stay closed until a token is set.
    pub fn check(&self, headers: &HeaderMap, access: Access) -> Result<(), ApiError> {
        if access == Access::Invoke && !self.protect_invoke {
            return Ok(());
        }
        if self.tokens.is_empty() {
            return Err(ApiError::new(
                ErrorCode::Unauthorized,
                "this gateway has no tokens: start it with CAPSA_TOKEN or [auth] tokens to use the registry and run-now",
            ));
        }
        let Some(presented) = bearer(headers) else {
            return Err(ApiError::new(
                ErrorCode::Unauthorized,
                "missing `Authorization: Bearer TOKEN`",
            ));
        };
        let digest: [u8; 32] = Sha256::digest(presented).into();
        let mut matched = false;
        for token in &self.tokens {
            let same = token
                .iter()
                .zip(&digest)
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0;
            matched |= same;
        }
        if matched {
            Ok(())
        } else {
            Err(ApiError::new(
                ErrorCode::Unauthorized,
                "the token is not valid",
            ))
        }
    }
}

/// The token of `Authorization: Bearer TOKEN`, if any.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(auth: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(auth).unwrap());
        h
    }

    #[test]
    fn tokens_are_checked() {
        let auth = Auth::from_config(&AuthConfig {
            tokens: vec!["s3cret".into()],
            protect_invoke: false,
        })
        .unwrap();
        auth.check(&headers("Bearer s3cret"), Access::Admin)
            .unwrap();
        for bad in ["Bearer wrong", "s3cret", "Basic s3cret", "Bearer "] {
            let err = auth.check(&headers(bad), Access::Admin).unwrap_err();
            assert_eq!(err.code, ErrorCode::Unauthorized, "{bad}");
        }
        assert!(auth.check(&HeaderMap::new(), Access::Admin).is_err());
        auth.check(&HeaderMap::new(), Access::Invoke).unwrap();
        assert_eq!(
            auth.owner(&headers("Bearer s3cret")).unwrap(),
            crate::sessions::owner_key("s3cret")
        );
        assert!(auth.owner(&headers("Bearer wrong")).is_err());
    }

    #[test]
    fn protected_invoke_and_no_tokens() {
        let protected = Auth::from_config(&AuthConfig {
            tokens: vec!["t".into()],
            protect_invoke: true,
        })
        .unwrap();
        assert!(protected.check(&HeaderMap::new(), Access::Invoke).is_err());
        protected
            .check(&headers("Bearer t"), Access::Invoke)
            .unwrap();
        let none = Auth {
            tokens: Vec::new(),
            protect_invoke: false,
        };
        assert!(none.check(&headers("Bearer x"), Access::Admin).is_err());
        none.check(&HeaderMap::new(), Access::Invoke).unwrap();
        assert!(
            Auth::from_config(&AuthConfig {
                tokens: vec![" ".into()],
                protect_invoke: false
            })
            .is_err()
        );
    }
}
