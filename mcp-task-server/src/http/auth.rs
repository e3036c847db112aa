//! Bearer tokens: who is calling.
//!
//! With tokens configured, a request must carry `Authorization: Bearer TOKEN` with a known
//! token, else it gets HTTP 401 and reaches nothing; the token's principal owns the tasks the
//! request creates. Without tokens every caller is the one anonymous owner. Tokens never
//! appear in a message or a log.

use super::tasks::Owner;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rmcp::ErrorData;
use rmcp::service::{RequestContext, RoleServer};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

/// The known tokens and their principals.
#[derive(Debug, Default)]
pub struct Tokens {
    principals: HashMap<String, String>,
}

impl Tokens {
    /// Reads `TOKEN=PRINCIPAL` pairs from `--auth-token` values and `--auth-file` files (one
    /// pair a line; blank lines and lines starting with `#` are skipped). A pair is split at
    /// its last `=`, so a token may end in base64 padding. Errors name the option, file and
    /// line, never a token.
    pub fn load(pairs: &[String], files: &[impl AsRef<Path>]) -> Result<Self, String> {
        let mut tokens = Tokens::default();
        for (index, pair) in pairs.iter().enumerate() {
            tokens
                .add(pair)
                .map_err(|problem| format!("--auth-token #{}: {problem}", index + 1))?;
        }
        for file in files {
            let file = file.as_ref();
            let text = std::fs::read_to_string(file)
                .map_err(|error| format!("--auth-file {}: {error}", file.display()))?;
            for (index, line) in text.lines().enumerate() {
                let line = line.trim();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                tokens.add(line).map_err(|problem| {
                    format!(
                        "--auth-file {} line {}: {problem}",
                        file.display(),
                        index + 1
                    )
                })?;
            }
        }
        Ok(tokens)
    }

    fn add(&mut self, pair: &str) -> Result<(), String> {
        let Some((token, principal)) = pair.rsplit_once('=') else {
            return Err("expected TOKEN=PRINCIPAL".into());
        };
        if token.is_empty() || !token.bytes().all(|byte| byte.is_ascii_graphic()) {
            return Err("a token is one or more visible ASCII characters".into());
        }
        task_core::backend::validate::owner(principal)
            .map_err(|error| format!("principal: {error}"))?;
        if self
            .principals
            .insert(token.to_owned(), principal.to_owned())
            .is_some()
        {
            return Err("this token is given twice".into());
        }
        Ok(())
    }

    /// How many tokens are known.
    pub fn len(&self) -> usize {
        self.principals.len()
    }

    /// The principal of the bearer token in `value`, an `Authorization` header.
    fn principal(&self, value: &HeaderValue) -> Option<&str> {
        let value = value.to_str().ok()?;
        let (scheme, token) = value.split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return None;
        }
        self.principals.get(token.trim()).map(String::as_str)
    }
}

/// The owner of a request, put in its HTTP extensions by [`authenticate`].
#[derive(Clone, Debug)]
pub struct Caller(pub Owner);

/// Admits a request with a known bearer token (or any request when no tokens are configured)
/// and records its [`Caller`]; answers anything else with 401.
pub async fn authenticate(
    State(tokens): State<Option<Arc<Tokens>>>,
    mut request: Request,
    next: Next,
) -> Response {
    let caller = match &tokens {
        None => Caller(None),
        Some(tokens) => {
            let mut values = request.headers().get_all(header::AUTHORIZATION).iter();
            let principal = match (values.next(), values.next()) {
                (Some(value), None) => tokens.principal(value),
                _ => None,
            };
            match principal {
                Some(principal) => Caller(Some(principal.to_owned())),
                None => return unauthorized(),
            }
        }
    };
    request.extensions_mut().insert(caller);
    next.run(request).await
}

fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer")],
        "a known bearer token is required\n",
    )
        .into_response()
}

/// The owner of the request behind `cx`. Fails closed: a request that did not pass
/// [`authenticate`] has no owner and is refused.
pub fn owner(cx: &RequestContext<RoleServer>) -> Result<Owner, ErrorData> {
    cx.extensions
        .get::<axum::http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<Caller>())
        .map(|caller| caller.0.clone())
        .ok_or_else(|| ErrorData::internal_error("the request has no authenticated caller", None))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(pairs: &[&str]) -> Result<Tokens, String> {
        let pairs: Vec<String> = pairs.iter().map(|pair| (*pair).to_owned()).collect();
        Tokens::load(&pairs, &[] as &[&Path])
    }

    fn principal<'a>(tokens: &'a Tokens, header: &str) -> Option<&'a str> {
        tokens.principal(&HeaderValue::from_str(header).ok()?)
    }

    #[test]
    fn a_pair_splits_at_its_last_equals_sign() {
        let tokens = load(&["c2VjcmV0==alice", "tok-2=bob"]).unwrap();
        assert_eq!(principal(&tokens, "Bearer c2VjcmV0="), Some("alice"));
        assert_eq!(principal(&tokens, "bearer tok-2"), Some("bob"));
        assert_eq!(principal(&tokens, "Basic tok-2"), None);
        assert_eq!(principal(&tokens, "Bearer tok-3"), None);
        assert_eq!(principal(&tokens, "Bearertok-2"), None);
    }

    #[test]
    fn errors_never_show_the_token() {
        for pair in [
            "s3cret-no-principal",
            "s3cret word=alice",
            "s3cret=",
            "=alice",
        ] {
            let error = load(&[pair]).unwrap_err();
            assert!(error.starts_with("--auth-token #1: "), "{error}");
            assert!(!error.contains("s3cret"), "{error}");
        }
        let error = load(&["s3cret=alice", "s3cret=bob"]).unwrap_err();
        assert_eq!(error, "--auth-token #2: this token is given twice");
    }

    #[test]
    fn a_file_holds_one_pair_a_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens");
        std::fs::write(&path, "# who may call\n\ntok-a=alice\n  tok-b=bob  \n").unwrap();
        let tokens = Tokens::load(&[], &[&path]).unwrap();
        assert_eq!(tokens.len(), 2);
        assert_eq!(principal(&tokens, "Bearer tok-b"), Some("bob"));

        std::fs::write(&path, "tok-a=alice\ns3cret\n").unwrap();
        let error = Tokens::load(&[], &[&path]).unwrap_err();
        assert_eq!(
            error,
            format!(
                "--auth-file {} line 2: expected TOKEN=PRINCIPAL",
                path.display()
            )
        );
    }
}
