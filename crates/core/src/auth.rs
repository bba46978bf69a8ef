//! Identity: who is on the other end of a connection or request.
//!
//! Three ways in, all ending in a [`Principal`]:
//! - tokens Chinwag issues itself (built-in accounts, server API): HS256 signed with
//!   `auth.token_secret`, `iss = "chinwag"`;
//! - tokens the app's own backend mints (HS256 shared secret, RS256 or ES256 public key), with claims
//!   `sub`, `tenant`, `name`, `exp`;
//! - API keys, each bound to one tenant, for the server API.
//!
//! `alg: none` and any algorithm without a configured key are refused.

use std::time::Duration;

use chinwag_proto::clock::now_millis;
use chinwag_proto::error::ErrorCode;
use chinwag_proto::ids::{Millis, TenantId, UserId};
use chinwag_proto::model::UserInfo;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::error::ServiceError;

/// The issuer of tokens Chinwag signs itself.
pub const CHINWAG_ISSUER: &str = "chinwag";

/// An authenticated user.
#[derive(Debug, Clone, PartialEq)]
pub struct Principal {
    pub tenant: TenantId,
    pub user: UserId,
    pub name: Option<String>,
    /// When the credential stops being valid; the WebSocket session closes then unless refreshed.
    pub expires_at: Option<Millis>,
}

impl Principal {
    pub fn info(&self) -> UserInfo {
        UserInfo { id: self.user.clone(), tenant: self.tenant.clone(), name: self.name.clone() }
    }

    /// The credential's expiry as a timer deadline for a connection that must end then (far
    /// away when it does not expire).
    pub fn expiry_deadline(&self) -> tokio::time::Instant {
        let left = match self.expires_at {
            Some(at) => Duration::from_millis(at.saturating_sub(now_millis()).max(0) as u64),
            None => Duration::from_secs(365 * 86_400),
        };
        tokio::time::Instant::now() + left
    }
}

/// An API key for the server API, valid for one tenant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKey {
    pub key: String,
    #[serde(default = "TenantId::default_tenant")]
    pub tenant: TenantId,
}

/// Identity settings; part of the server configuration (`[auth]`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// Secret for tokens Chinwag issues. Empty → generated at first start and kept in the data dir.
    pub token_secret: String,
    /// Lifetime of issued tokens, seconds (default 86400).
    pub token_ttl_secs: u64,
    /// The app backend's HS256 shared secret, if it mints tokens that way.
    pub jwt_hs256_secret: Option<String>,
    /// The app backend's RS256 public key (PEM).
    pub jwt_rs256_public_key: Option<String>,
    /// The app backend's ES256 public key (PEM).
    pub jwt_es256_public_key: Option<String>,
    /// Required `iss` of app tokens, if set.
    pub jwt_issuer: Option<String>,
    /// Required `aud` of app tokens, if set.
    pub jwt_audience: Option<String>,
    /// Clock skew tolerated on `exp`, seconds (default 30).
    pub leeway_secs: u64,
    /// Server API keys.
    pub api_keys: Vec<ApiKey>,
    /// Browser origins allowed to open WebSockets and use cookies (e.g. `https://app.example`).
    /// The server's own origin is always allowed.
    pub allowed_origins: Vec<String>,
}

impl AuthConfig {
    pub fn with_defaults(mut self) -> Self {
        if self.token_ttl_secs == 0 {
            self.token_ttl_secs = 86_400;
        }
        if self.leeway_secs == 0 {
            self.leeway_secs = 30;
        }
        self
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tenant: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    exp: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    iss: Option<String>,
}

/// Verifies tokens and API keys, and issues Chinwag's own tokens.
pub struct Authenticator {
    own_key: (EncodingKey, DecodingKey),
    app_hs256: Option<DecodingKey>,
    app_rs256: Option<DecodingKey>,
    app_es256: Option<DecodingKey>,
    config: AuthConfig,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator").finish_non_exhaustive()
    }
}

impl Authenticator {
    /// Build from configuration; bad key material is a start-up error.
    pub fn new(config: AuthConfig) -> Result<Self, String> {
        let config = config.with_defaults();
        if config.token_secret.len() < 32 {
            return Err("auth.token_secret must be at least 32 bytes".into());
        }
        let secret = config.token_secret.as_bytes();
        let pem = |what: &str,
                   pem: &Option<String>,
                   f: fn(&[u8]) -> jsonwebtoken::errors::Result<DecodingKey>| {
            pem.as_ref()
                .map(|p| {
                    f(p.as_bytes())
                        .map_err(|e| format!("auth.{what}: not a valid PEM public key: {e}"))
                })
                .transpose()
        };
        Ok(Self {
            own_key: (EncodingKey::from_secret(secret), DecodingKey::from_secret(secret)),
            app_hs256: config
                .jwt_hs256_secret
                .as_ref()
                .map(|s| DecodingKey::from_secret(s.as_bytes())),
            app_rs256: pem(
                "jwt_rs256_public_key",
                &config.jwt_rs256_public_key,
                DecodingKey::from_rsa_pem,
            )?,
            app_es256: pem(
                "jwt_es256_public_key",
                &config.jwt_es256_public_key,
                DecodingKey::from_ec_pem,
            )?,
            config,
        })
    }

    pub fn config(&self) -> &AuthConfig {
        &self.config
    }

    /// Issue a Chinwag token for a user; returns the token and its expiry (ms).
    pub fn issue(
        &self,
        tenant: &TenantId,
        user: &UserId,
        name: Option<&str>,
        ttl_secs: Option<u64>,
    ) -> Result<(String, Millis), ServiceError> {
        let ttl = ttl_secs.unwrap_or(self.config.token_ttl_secs).clamp(1, 30 * 86_400);
        let exp = now_secs() + ttl;
        let claims = Claims {
            sub: user.0.clone(),
            tenant: Some(tenant.0.clone()),
            name: name.map(str::to_owned),
            exp,
            iss: Some(CHINWAG_ISSUER.into()),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.own_key.0)
            .map_err(|e| {
                ServiceError::new(ErrorCode::Internal, format!("token signing failed: {e}"))
            })?;
        Ok((token, (exp as i64) * 1000))
    }

    /// Verify a bearer token (ours or the app's).
    pub fn verify(&self, token: &str) -> Result<Principal, ServiceError> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| ServiceError::unauthenticated("token is not a well-formed JWT"))?;
        let mut candidates: Vec<(&DecodingKey, bool)> = Vec::with_capacity(2);
        match header.alg {
            Algorithm::HS256 => {
                candidates.push((&self.own_key.1, true));
                if let Some(k) = &self.app_hs256 {
                    candidates.push((k, false));
                }
            }
            Algorithm::RS256 => candidates.extend(self.app_rs256.as_ref().map(|k| (k, false))),
            Algorithm::ES256 => candidates.extend(self.app_es256.as_ref().map(|k| (k, false))),
            _ => {}
        }
        if candidates.is_empty() {
            return Err(ServiceError::unauthenticated(format!(
                "tokens signed with {:?} are not accepted",
                header.alg
            )));
        }
        let mut last = ServiceError::unauthenticated("token signature is invalid");
        for (key, own) in candidates {
            let mut v = Validation::new(header.alg);
            v.leeway = self.config.leeway_secs;
            v.set_required_spec_claims(&["exp", "sub"]);
            if own {
                v.set_issuer(&[CHINWAG_ISSUER]);
            } else {
                if let Some(iss) = &self.config.jwt_issuer {
                    v.set_issuer(&[iss]);
                }
                match &self.config.jwt_audience {
                    Some(aud) => v.set_audience(&[aud]),
                    None => v.validate_aud = false,
                }
            }
            match jsonwebtoken::decode::<Claims>(token, key, &v) {
                Ok(data) => return principal_from(data.claims),
                Err(e) => {
                    use jsonwebtoken::errors::ErrorKind;
                    last = match e.kind() {
                        ErrorKind::ExpiredSignature => {
                            ServiceError::new(ErrorCode::TokenExpired, "token has expired")
                        }
                        ErrorKind::InvalidIssuer => {
                            ServiceError::unauthenticated("token issuer is not accepted")
                        }
                        ErrorKind::InvalidAudience => {
                            ServiceError::unauthenticated("token audience is not accepted")
                        }
                        ErrorKind::MissingRequiredClaim(c) => {
                            ServiceError::unauthenticated(format!("token lacks the `{c}` claim"))
                        }
                        _ => ServiceError::unauthenticated("token signature or claims are invalid"),
                    };
                    // An expired token with a valid signature is the definite answer.
                    if last.code == ErrorCode::TokenExpired {
                        return Err(last);
                    }
                }
            }
        }
        Err(last)
    }

    /// Check an API key; returns its tenant. Compared in constant time per key.
    pub fn verify_api_key(&self, presented: &str) -> Option<TenantId> {
        self.config
            .api_keys
            .iter()
            .find(|k| constant_time_eq(k.key.as_bytes(), presented.as_bytes()))
            .map(|k| k.tenant.clone())
    }

    /// Whether a browser `Origin` may open a WebSocket (or use a cookie): the server's own
    /// origin, the scheme (`http` or `https`, as the client reached the server), the `Host`
    /// header and its port all equal, or one of `allowed_origins`.
    pub fn origin_allowed(&self, origin: &str, scheme: &str, host: Option<&str>) -> bool {
        let same_origin = host.is_some_and(|h| {
            origin.strip_prefix(scheme).and_then(|rest| rest.strip_prefix("://")) == Some(h)
        });
        same_origin || self.config.allowed_origins.iter().any(|o| o == "*" || o == origin)
    }
}

fn principal_from(c: Claims) -> Result<Principal, ServiceError> {
    let bad =
        |what: &str| ServiceError::unauthenticated(format!("token claim `{what}` is invalid"));
    if c.sub.is_empty() || c.sub.len() > 256 {
        return Err(bad("sub"));
    }
    let tenant = match c.tenant {
        Some(t) if t.is_empty() || t.len() > 128 => return Err(bad("tenant")),
        Some(t) => TenantId(t),
        None => TenantId::default_tenant(),
    };
    Ok(Principal {
        tenant,
        user: UserId(c.sub),
        name: c.name,
        expires_at: Some(i64::try_from(c.exp).unwrap_or(i64::MAX / 1000) * 1000),
    })
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn now_secs() -> u64 {
    u64::try_from(now_millis() / 1000).unwrap_or(0)
}

/// Hash a password with argon2id (CPU-heavy: call from a blocking thread).
pub fn hash_password(password: &str) -> Result<String, ServiceError> {
    use argon2::password_hash::{PasswordHasher, SaltString, rand_core::OsRng};
    let salt = SaltString::generate(&mut OsRng);
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| {
            ServiceError::new(ErrorCode::Internal, format!("password hashing failed: {e}"))
        })
}

/// Check a password against an argon2 hash (CPU-heavy: call from a blocking thread).
pub fn verify_password(password: &str, hash: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    PasswordHash::new(hash)
        .is_ok_and(|h| argon2::Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth() -> Authenticator {
        Authenticator::new(AuthConfig {
            token_secret: "0123456789abcdef0123456789abcdef".into(),
            jwt_hs256_secret: Some("app-secret-app-secret-app-secret".into()),
            api_keys: vec![ApiKey { key: "k1".into(), tenant: "acme".into() }],
            ..Default::default()
        })
        .unwrap()
    }

    #[test]
    fn issued_tokens_verify_and_carry_tenant() {
        let a = auth();
        let (t, _) = a.issue(&"acme".into(), &"alice".into(), Some("Alice"), None).unwrap();
        let p = a.verify(&t).unwrap();
        assert_eq!(
            (p.tenant.as_str(), p.user.as_str(), p.name.as_deref()),
            ("acme", "alice", Some("Alice"))
        );
    }

    #[test]
    fn app_tokens_and_refusals() {
        let a = auth();
        let exp = now_secs() + 60;
        let claims = Claims { sub: "bob".into(), tenant: None, name: None, exp, iss: None };
        let app = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(b"app-secret-app-secret-app-secret"),
        )
        .unwrap();
        assert_eq!(a.verify(&app).unwrap().tenant, TenantId::default_tenant());
        let wrong = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(b"wrong-secret-wrong-secret-wrong!"),
        )
        .unwrap();
        assert_eq!(a.verify(&wrong).unwrap_err().code, ErrorCode::Unauthenticated);
        let expired = Claims { exp: now_secs() - 3600, ..claims };
        let expired = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &expired,
            &EncodingKey::from_secret(b"app-secret-app-secret-app-secret"),
        )
        .unwrap();
        assert_eq!(a.verify(&expired).unwrap_err().code, ErrorCode::TokenExpired);
        // alg: none, hand-made.
        use base64::Engine;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let none = format!(
            "{}.{}.",
            b64.encode(br#"{"alg":"none","typ":"JWT"}"#),
            b64.encode(format!(r#"{{"sub":"eve","exp":{exp}}}"#))
        );
        assert_eq!(a.verify(&none).unwrap_err().code, ErrorCode::Unauthenticated);
        assert_eq!(a.verify("garbage").unwrap_err().code, ErrorCode::Unauthenticated);
    }

    #[test]
    fn api_keys_and_origins() {
        let a = auth();
        assert_eq!(a.verify_api_key("k1"), Some("acme".into()));
        assert_eq!(a.verify_api_key("k2"), None);
        assert!(a.origin_allowed("http://localhost:8080", "http", Some("localhost:8080")));
        assert!(a.origin_allowed("https://localhost:8080", "https", Some("localhost:8080")));
        assert!(!a.origin_allowed("https://localhost:8080", "http", Some("localhost:8080")));
        assert!(!a.origin_allowed("http://localhost:8080", "https", Some("localhost:8080")));
        assert!(!a.origin_allowed("http://localhost:8081", "http", Some("localhost:8080")));
        assert!(!a.origin_allowed("http://localhost", "http", Some("localhost:8080")));
        assert!(!a.origin_allowed("http://evil.example", "http", Some("localhost:8080")));
    }

    #[test]
    fn passwords_hash_and_verify() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong", &h));
        assert!(!verify_password("x", "not a hash"));
    }
}
