//! Tokens minted by an app's own backend with RS256 and ES256 (test-only key pairs, generated
//! with openssl for these tests and used nowhere else).

use std::time::{SystemTime, UNIX_EPOCH};

use chinwag_core::auth::{AuthConfig, Authenticator};
use chinwag_proto::error::ErrorCode;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;

const RS_PRIVATE: &str = include_str!("keys/rs256-private.pem");
const RS_PUBLIC: &str = include_str!("keys/rs256-public.pem");
const ES_PRIVATE: &str = include_str!("keys/es256-private.pem");
const ES_PUBLIC: &str = include_str!("keys/es256-public.pem");

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

fn authenticator() -> Authenticator {
    Authenticator::new(AuthConfig {
        token_secret: "0123456789abcdef0123456789abcdef".into(),
        jwt_rs256_public_key: Some(RS_PUBLIC.into()),
        jwt_es256_public_key: Some(ES_PUBLIC.into()),
        jwt_issuer: Some("https://app.example".into()),
        ..Default::default()
    })
    .unwrap()
}

fn sign(alg: Algorithm, key: &EncodingKey, claims: serde_json::Value) -> String {
    jsonwebtoken::encode(&Header::new(alg), &claims, key).unwrap()
}

#[test]
fn rs256_and_es256_app_tokens_carry_user_tenant_and_name() {
    let auth = authenticator();
    let rs = EncodingKey::from_rsa_pem(RS_PRIVATE.as_bytes()).unwrap();
    let es = EncodingKey::from_ec_pem(ES_PRIVATE.as_bytes()).unwrap();
    let claims = json!({"sub": "seller-7", "tenant": "shop", "name": "Sam", "exp": now() + 60, "iss": "https://app.example"});
    for (alg, key) in [(Algorithm::RS256, &rs), (Algorithm::ES256, &es)] {
        let p = auth.verify(&sign(alg, key, claims.clone())).unwrap();
        assert_eq!(
            (p.user.as_str(), p.tenant.as_str(), p.name.as_deref()),
            ("seller-7", "shop", Some("Sam"))
        );
    }
}

#[test]
fn app_tokens_are_refused_when_anything_is_off() {
    let auth = authenticator();
    let rs = EncodingKey::from_rsa_pem(RS_PRIVATE.as_bytes()).unwrap();
    let es = EncodingKey::from_ec_pem(ES_PRIVATE.as_bytes()).unwrap();
    let good = json!({"sub": "u", "exp": now() + 60, "iss": "https://app.example"});
    let code = |t: String| auth.verify(&t).unwrap_err().code;
    // Wrong issuer, expired, no exp, no sub.
    assert_eq!(
        code(sign(Algorithm::RS256, &rs, json!({"sub": "u", "exp": now() + 60, "iss": "evil"}))),
        ErrorCode::Unauthenticated
    );
    assert_eq!(
        code(sign(
            Algorithm::ES256,
            &es,
            json!({"sub": "u", "exp": now() - 3600, "iss": "https://app.example"})
        )),
        ErrorCode::TokenExpired
    );
    assert_eq!(
        code(sign(Algorithm::RS256, &rs, json!({"sub": "u", "iss": "https://app.example"}))),
        ErrorCode::Unauthenticated
    );
    assert_eq!(
        code(sign(Algorithm::RS256, &rs, json!({"exp": now() + 60, "iss": "https://app.example"}))),
        ErrorCode::Unauthenticated
    );
    // A valid signature by the wrong key type for its header, and algorithms with no key.
    let mut t = sign(Algorithm::RS256, &rs, good.clone());
    t.replace_range(..t.find('.').unwrap(), "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCJ9");
    assert_eq!(code(t), ErrorCode::Unauthenticated, "RS256 signature presented as ES256");
    let hs384 = sign(
        Algorithm::HS384,
        &EncodingKey::from_secret(b"0123456789abcdef0123456789abcdef"),
        good.clone(),
    );
    assert_eq!(code(hs384), ErrorCode::Unauthenticated);
    // An app token signed with Chinwag's own secret but not claiming Chinwag as issuer is not ours.
    let forged = sign(
        Algorithm::HS256,
        &EncodingKey::from_secret(b"0123456789abcdef0123456789abcdef"),
        good,
    );
    assert_eq!(code(forged), ErrorCode::Unauthenticated);
}

#[test]
fn bad_key_material_is_a_startup_error() {
    let e = Authenticator::new(AuthConfig {
        token_secret: "0123456789abcdef0123456789abcdef".into(),
        jwt_rs256_public_key: Some("not a pem".into()),
        ..Default::default()
    })
    .unwrap_err();
    assert!(e.contains("jwt_rs256_public_key"), "{e}");
    let e = Authenticator::new(AuthConfig { token_secret: "short".into(), ..Default::default() })
        .unwrap_err();
    assert!(e.contains("token_secret"), "{e}");
}
