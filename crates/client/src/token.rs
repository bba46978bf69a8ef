//! Where the client gets its tokens. It asks again when the server says the token expired
//! (close `4003 token_expired`, error `token_expired`) or was refused (`4001 auth_failed`).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// A boxed, sendable future.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// The token provider could not produce a token. The client backs off and asks again.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no token: {0}")]
pub struct TokenError(pub String);

/// Supplies tokens for `auth` frames.
///
/// `refresh` is true when the server rejected the previous token as expired or invalid: a
/// provider that caches must fetch a new one then.
///
/// ```
/// use chinwag_client::token::{token_fn, TokenError, TokenProvider};
///
/// // A fixed token (a `String` is a provider).
/// let fixed: Box<dyn TokenProvider> = Box::new(String::from("eyJ..."));
/// // Or a function: fetch from the app's backend, here a stand-in.
/// let fetched = token_fn(|refresh: bool| async move {
///     if refresh { Ok("fresh".to_owned()) } else { Err(TokenError("backend down".into())) }
/// });
/// # let _ = (fixed, fetched);
/// ```
pub trait TokenProvider: Send + Sync + 'static {
    /// A token for the next `auth` frame; a fresh one when `refresh` is true.
    fn token(&self, refresh: bool) -> BoxFuture<Result<String, TokenError>>;
}

impl TokenProvider for String {
    fn token(&self, _refresh: bool) -> BoxFuture<Result<String, TokenError>> {
        let t = self.clone();
        Box::pin(async move { Ok(t) })
    }
}

impl<T: TokenProvider + ?Sized> TokenProvider for Arc<T> {
    fn token(&self, refresh: bool) -> BoxFuture<Result<String, TokenError>> {
        (**self).token(refresh)
    }
}

impl<T: TokenProvider + ?Sized> TokenProvider for Box<T> {
    fn token(&self, refresh: bool) -> BoxFuture<Result<String, TokenError>> {
        (**self).token(refresh)
    }
}

/// A provider from an async function of `refresh`.
pub fn token_fn<F, Fut>(f: F) -> FnTokens<F>
where
    F: Fn(bool) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<String, TokenError>> + Send + 'static,
{
    FnTokens(f)
}

/// See [`token_fn`].
#[derive(Debug, Clone)]
pub struct FnTokens<F>(F);

impl<F, Fut> TokenProvider for FnTokens<F>
where
    F: Fn(bool) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<String, TokenError>> + Send + 'static,
{
    fn token(&self, refresh: bool) -> BoxFuture<Result<String, TokenError>> {
        Box::pin((self.0)(refresh))
    }
}
