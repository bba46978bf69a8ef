//! Built-in accounts: register and log in with a password; both return a Chinwag token.

use chinwag_proto::error::ErrorCode;
use chinwag_proto::ids::{TenantId, UserId};
use chinwag_proto::rest::TokenResponse;
use chinwag_store::{Account, StoreError};

use super::Services;
use crate::auth::{hash_password, verify_password};
use crate::error::{ServiceError, ServiceResult};

impl Services {
    pub async fn register(
        &self,
        username: &str,
        password: &str,
        name: Option<&str>,
    ) -> ServiceResult<TokenResponse> {
        validate_username(username)?;
        if password.len() < 8 || password.len() > 1024 {
            return Err(ServiceError::invalid("password must be 8 to 1024 bytes long"));
        }
        if name.is_some_and(|n| n.len() > 128) {
            return Err(ServiceError::too_large("name is longer than 128 bytes"));
        }
        let tenant = TenantId::default_tenant();
        self.check_password_rate(&tenant, username)?;
        let pw = password.to_owned();
        let password_hash = self.hash_work(move || hash_password(&pw)).await??;
        // Built-in users are addressed by their username, so apps and people can name them.
        let user_id = UserId(username.to_owned());
        let account = Account {
            tenant: tenant.clone(),
            user_id: user_id.clone(),
            username: username.to_owned(),
            password_hash,
            name: name.map(str::to_owned),
        };
        match self.store.create_account(account).await {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) => {
                return Err(ServiceError::new(ErrorCode::Conflict, "username is taken"));
            }
            Err(e) => return Err(e.into()),
        }
        self.token_for(&tenant, &user_id, name)
    }

    pub async fn login(&self, username: &str, password: &str) -> ServiceResult<TokenResponse> {
        let tenant = TenantId::default_tenant();
        let refused = || ServiceError::unauthenticated("wrong username or password");
        if username.len() > 64 || password.len() > 1024 {
            return Err(refused());
        }
        self.check_password_rate(&tenant, username)?;
        let account = self.store.account_by_username(&tenant, username).await?;
        let Some(account) = account else {
            return Err(refused());
        };
        let (pw, hash) = (password.to_owned(), account.password_hash.clone());
        let ok = self.hash_work(move || verify_password(&pw, &hash)).await?;
        if !ok {
            return Err(refused());
        }
        self.token_for(&tenant, &account.user_id, account.name.as_deref())
    }

    fn check_password_rate(&self, tenant: &TenantId, username: &str) -> ServiceResult<()> {
        self.password_rate
            .check(tenant, &UserId(username.to_owned()))
            .map_err(|wait| ServiceError::rate_limited(wait.as_millis().max(1) as u64))
    }

    /// Run argon2 on a blocking thread, at most `CONCURRENT_PASSWORD_HASHES` at once.
    async fn hash_work<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> ServiceResult<T> {
        let _permit = self
            .hashing
            .acquire()
            .await
            .map_err(|_| ServiceError::new(ErrorCode::Unavailable, "shutting down"))?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| ServiceError::new(ErrorCode::Internal, e.to_string()))
    }

    /// Issue a token for a user (built-in accounts and the server API).
    pub fn token_for(
        &self,
        tenant: &TenantId,
        user: &UserId,
        name: Option<&str>,
    ) -> ServiceResult<TokenResponse> {
        self.token_with_ttl(tenant, user, name, None)
    }

    pub fn token_with_ttl(
        &self,
        tenant: &TenantId,
        user: &UserId,
        name: Option<&str>,
        ttl_secs: Option<u64>,
    ) -> ServiceResult<TokenResponse> {
        let (token, expires_at) = self.auth.issue(tenant, user, name, ttl_secs)?;
        Ok(TokenResponse {
            token,
            expires_at,
            user: chinwag_proto::model::UserInfo {
                id: user.clone(),
                tenant: tenant.clone(),
                name: name.map(str::to_owned),
            },
        })
    }
}

fn validate_username(u: &str) -> ServiceResult<()> {
    let ok = (2..=64).contains(&u.len())
        && u.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(ServiceError::invalid(
            "username must be 2 to 64 characters of letters, digits, `_`, `-` or `.`",
        ))
    }
}
