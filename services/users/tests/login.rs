//! The Kite login flow, its failure modes, lockout, access tokens, key rotation, logout.

mod common;

use common::*;
use engine_core::Command;
use services_users::{session_checksum, AccessExpiry, KeyState, NewUser, Role, Users, UsersConfig, UsersError};

fn setup() -> (tempfile::TempDir, Recorder, Users) {
    let dir = tempfile::tempdir().expect("tempdir");
    let sink = Recorder::default();
    let users = open(&dir.path().join("users.db"), &sink);
    (dir, sink, users)
}

#[test]
fn full_login_flow_happy_path() {
    let (_dir, sink, mut users) = setup();
    let reg = register(&mut users, 1, T0);
    assert_eq!(reg.account_id, 1, "first account id");
    assert!(services_users::normalize_user_id(&reg.user_id).as_deref() == Some(reg.user_id.as_str()));
    assert!(reg.totp_uri.starts_with("otpauth://totp/exchange:"));
    assert_eq!(sink.commands(), vec![Command::CreateAccount { account: 1, limits: Default::default() }]);

    let creds = api_key(&mut users, &reg, T0);
    assert_eq!(creds.api_key.len(), 16);
    assert_eq!(creds.api_secret.len(), 32);
    assert_eq!(users.api_key_of(&reg.user_id).expect("key").as_deref(), Some(creds.api_key.as_str()));

    let now = T0 + 30;
    let request_id = users.login(&reg.user_id.to_lowercase(), PASSWORD, now).expect("login (user id any case)");
    let request_token = users.twofa(&reg.user_id, &request_id, &code(&reg, now), now + 1).expect("twofa");
    let checksum = session_checksum(&creds.api_key, &request_token, &creds.api_secret);
    let session = users.create_session(&creds.api_key, &request_token, &checksum, now + 2).expect("session");
    assert_eq!(session.user_id, reg.user_id);
    assert_eq!(session.login_time, now + 2);
    let kite_expiry = AccessExpiry::DailyAt { utc_offset_secs: 19_800, at_secs: 21_600 }.expires_at(now + 2);
    assert_eq!(session.expires_at, kite_expiry);
    assert_eq!(session.profile.user_id, reg.user_id);
    assert_eq!(session.profile.user_name, "Ravi Kumar");
    assert_eq!(session.profile.user_shortname, "Ravi");
    assert_eq!(session.profile.email, "user1@example.com");
    assert_eq!(session.profile.phone, "+919800000001");
    assert_eq!(session.profile.roles, vec![Role::Trader]);
    assert_eq!(session.profile.account_id, 1);

    let claims = users.verify_access_token(&creds.api_key, &session.access_token, now + 3).expect("verify");
    assert_eq!(claims.sub, reg.user_id);
    assert_eq!(claims.acc, 1);
    assert_eq!(claims.roles, vec![Role::Trader]);
    assert_eq!(claims.api_key, creds.api_key);
    assert_eq!((claims.iat, claims.exp), (now + 2, kite_expiry));
    assert_eq!(claims.iss, "exchange");
    // Still valid one second before expiry, not at it.
    assert!(users.verify_access_token(&creds.api_key, &session.access_token, kite_expiry - 1).is_ok());
    assert!(matches!(
        users.verify_access_token(&creds.api_key, &session.access_token, kite_expiry),
        Err(UsersError::TokenExpired)
    ));
    // Nothing secret in Debug output.
    let debug = format!("{session:?} {creds:?} {reg:?}");
    for secret in [&session.access_token, &creds.api_secret, &reg.totp_secret, &reg.totp_uri] {
        assert!(!debug.contains(secret.as_str()), "Debug leaks a secret");
    }
}

#[test]
fn wrong_password_and_unknown_user_fail_alike() {
    let (_dir, _sink, mut users) = setup();
    let reg = register(&mut users, 1, T0);
    assert!(matches!(users.login(&reg.user_id, "wrong password", T0), Err(UsersError::InvalidCredentials)));
    assert!(matches!(users.login("ZZ9999", PASSWORD, T0), Err(UsersError::InvalidCredentials)));
    assert!(matches!(users.login("not an id", PASSWORD, T0), Err(UsersError::InvalidCredentials)));
    assert!(matches!(users.login(&reg.user_id, "", T0), Err(UsersError::InvalidCredentials)));
}

#[test]
fn wrong_and_replayed_totp_fail() {
    let (_dir, _sink, mut users) = setup();
    let reg = register(&mut users, 1, T0);
    let creds = api_key(&mut users, &reg, T0);
    let now = T0 + 60;
    let request_id = users.login(&reg.user_id, PASSWORD, now).expect("login");
    let right = code(&reg, now);
    let wrong = wrong_code(&reg, now);
    assert!(matches!(users.twofa(&reg.user_id, &request_id, &wrong, now), Err(UsersError::InvalidTotp)));
    assert!(matches!(users.twofa(&reg.user_id, &request_id, "12345", now), Err(UsersError::InvalidTotp)));
    // The request id survives a wrong code; the right one goes through, one step late too.
    let request_token = users.twofa(&reg.user_id, &request_id, &right, now + 30).expect("twofa, one step late");
    assert!(users
        .create_session(
            &creds.api_key,
            &request_token,
            &session_checksum(&creds.api_key, &request_token, &creds.api_secret),
            now + 31
        )
        .is_ok());
    // The same code again (same step) in a new login: replay refused.
    let request_id = users.login(&reg.user_id, PASSWORD, now + 40).expect("login");
    assert!(matches!(users.twofa(&reg.user_id, &request_id, &right, now + 40), Err(UsersError::TotpReused)));
    // A code from the past beyond the skew: wrong.
    assert!(matches!(
        users.twofa(&reg.user_id, &request_id, &code(&reg, now - 60), now + 40),
        Err(UsersError::InvalidTotp)
    ));
    // The next step's code works.
    assert!(users.twofa(&reg.user_id, &request_id, &code(&reg, now + 60), now + 60).is_ok());
}

#[test]
fn request_ids_expire_and_are_single_use_and_personal() {
    let (_dir, _sink, mut users) = setup();
    let reg = register(&mut users, 1, T0);
    let other = register(&mut users, 2, T0);
    let ttl = users.config().request_id_ttl;
    let request_id = users.login(&reg.user_id, PASSWORD, T0).expect("login");
    let late = T0 + ttl;
    assert!(matches!(
        users.twofa(&reg.user_id, &request_id, &code(&reg, late), late),
        Err(UsersError::RequestIdExpired)
    ));

    let request_id = users.login(&reg.user_id, PASSWORD, T0 + 30).expect("login");
    assert!(matches!(
        users.twofa(&other.user_id, &request_id, &code(&other, T0 + 30), T0 + 30),
        Err(UsersError::InvalidRequestId)
    ));
    assert!(matches!(
        users.twofa(&reg.user_id, "no-such-request", &code(&reg, T0 + 30), T0 + 30),
        Err(UsersError::InvalidRequestId)
    ));
    users.twofa(&reg.user_id, &request_id, &code(&reg, T0 + 30), T0 + 30).expect("twofa");
    assert!(matches!(
        users.twofa(&reg.user_id, &request_id, &code(&reg, T0 + 60), T0 + 60),
        Err(UsersError::InvalidRequestId)
    ));
}

#[test]
fn request_tokens_are_single_use_expire_and_need_the_right_checksum_and_key() {
    let (_dir, _sink, mut users) = setup();
    let reg = register(&mut users, 1, T0);
    let other = register(&mut users, 2, T0);
    let creds = api_key(&mut users, &reg, T0);
    let other_creds = api_key(&mut users, &other, T0);
    let now = T0 + 30;
    let request_id = users.login(&reg.user_id, PASSWORD, now).expect("login");
    let token = users.twofa(&reg.user_id, &request_id, &code(&reg, now), now).expect("twofa");
    let checksum = session_checksum(&creds.api_key, &token, &creds.api_secret);

    // Bad checksum: wrong secret, garbage, and a checksum made for another token.
    let wrong_secret = session_checksum(&creds.api_key, &token, &other_creds.api_secret);
    assert!(matches!(
        users.create_session(&creds.api_key, &token, &wrong_secret, now),
        Err(UsersError::InvalidChecksum)
    ));
    assert!(matches!(users.create_session(&creds.api_key, &token, "abc", now), Err(UsersError::InvalidChecksum)));
    // Unknown API key; another user's key (with its own valid checksum) cannot take this token.
    assert!(matches!(users.create_session("nosuchkey", &token, &checksum, now), Err(UsersError::InvalidApiKey)));
    let theirs = session_checksum(&other_creds.api_key, &token, &other_creds.api_secret);
    assert!(matches!(
        users.create_session(&other_creds.api_key, &token, &theirs, now),
        Err(UsersError::InvalidRequestToken)
    ));
    assert!(matches!(
        users.create_session(&creds.api_key, "no-such-token", &checksum, now),
        Err(UsersError::InvalidRequestToken)
    ));
    // None of that used the token up; upper-case hex is accepted.
    users.create_session(&creds.api_key, &token, &checksum.to_uppercase(), now).expect("session");
    // Reused.
    assert!(matches!(users.create_session(&creds.api_key, &token, &checksum, now), Err(UsersError::RequestTokenUsed)));

    // Expired.
    let later = now + 30;
    let request_id = users.login(&reg.user_id, PASSWORD, later).expect("login");
    let token = users.twofa(&reg.user_id, &request_id, &code(&reg, later), later).expect("twofa");
    let checksum = session_checksum(&creds.api_key, &token, &creds.api_secret);
    let expired = later + users.config().request_token_ttl;
    assert!(matches!(
        users.create_session(&creds.api_key, &token, &checksum, expired),
        Err(UsersError::RequestTokenExpired)
    ));
}

#[test]
fn five_failures_lock_for_fifteen_minutes_and_success_resets_the_count() {
    let (_dir, _sink, mut users) = setup();
    let reg = register(&mut users, 1, T0);
    let id = reg.user_id.as_str();

    // Four failures, a success, four more: never locked (the success reset the count).
    for i in 0..4 {
        assert!(matches!(users.login(id, "bad password", T0 + i), Err(UsersError::InvalidCredentials)));
    }
    users.login(id, PASSWORD, T0 + 5).expect("success resets");
    for i in 0..4 {
        assert!(matches!(users.login(id, "bad password", T0 + 10 + i), Err(UsersError::InvalidCredentials)));
    }
    users.login(id, PASSWORD, T0 + 20).expect("still not locked");

    // Five in a row lock; the fifth itself reports the wrong password.
    let t = T0 + 100;
    for i in 0..5 {
        assert!(matches!(users.login(id, "bad password", t + i), Err(UsersError::InvalidCredentials)));
    }
    let until = t + 4 + 15 * 60;
    // Locked: even the right password is refused (and not checked).
    assert!(matches!(users.login(id, PASSWORD, t + 10), Err(UsersError::Locked { until: u }) if u == until));
    assert!(matches!(users.login(id, "bad password", until - 1), Err(UsersError::Locked { .. })));
    // The window ends: in again, with a fresh count.
    users.login(id, PASSWORD, until).expect("unlocked after the window");
    for i in 0..4 {
        assert!(matches!(users.login(id, "bad password", until + 1 + i), Err(UsersError::InvalidCredentials)));
    }
    users.login(id, PASSWORD, until + 10).expect("four failures do not lock");
}

#[test]
fn totp_failures_count_towards_the_lockout() {
    let (_dir, _sink, mut users) = setup();
    let reg = register(&mut users, 1, T0);
    let id = reg.user_id.as_str();
    let request_id = users.login(id, PASSWORD, T0).expect("login");
    let wrong = wrong_code(&reg, T0);
    for _ in 0..5 {
        assert!(matches!(users.twofa(id, &request_id, &wrong, T0), Err(UsersError::InvalidTotp)));
    }
    assert!(matches!(users.twofa(id, &request_id, &code(&reg, T0), T0), Err(UsersError::Locked { .. })));
    assert!(matches!(users.login(id, PASSWORD, T0 + 1), Err(UsersError::Locked { .. })));
    let until = T0 + 15 * 60;
    let request_id = users.login(id, PASSWORD, until).expect("login after the window");
    users.twofa(id, &request_id, &code(&reg, until), until).expect("twofa after the window");
}

#[test]
fn signing_key_rotation_old_tokens_valid_until_retired() {
    let (_dir, _sink, mut users) = setup();
    let reg = register(&mut users, 1, T0);
    let (_, old, creds) = signed_in(&mut users, &reg, T0);
    let keys = users.signing_keys().expect("keys");
    assert_eq!(keys.len(), 1, "created on first use");
    let k1 = keys[0].kid.clone();
    assert_eq!(keys[0].state, KeyState::Active);

    let k2 = users.rotate_signing_key(T0 + 40).expect("rotate");
    assert_ne!(k1, k2);
    let new = login(&mut users, &reg, &creds, T0 + 60);
    let now = T0 + 61;
    // Both verify: the old key still verifies, the new one signs.
    users.verify_access_token(&creds.api_key, &old.access_token, now).expect("old token, old key");
    users.verify_access_token(&creds.api_key, &new.access_token, now).expect("new token, new key");
    let states: Vec<_> = users.signing_keys().expect("keys").into_iter().map(|k| (k.kid, k.state)).collect();
    assert_eq!(states, vec![(k1.clone(), KeyState::Verify), (k2.clone(), KeyState::Active)]);

    // The active key cannot be retired; an unknown one is an error.
    assert!(matches!(users.retire_signing_key(&k2, now), Err(UsersError::ActiveSigningKey)));
    assert!(matches!(users.retire_signing_key("nope", now), Err(UsersError::UnknownSigningKey)));
    users.retire_signing_key(&k1, now).expect("retire");
    users.retire_signing_key(&k1, now).expect("retiring twice is fine");
    assert!(matches!(
        users.verify_access_token(&creds.api_key, &old.access_token, now),
        Err(UsersError::SigningKeyRetired)
    ));
    users.verify_access_token(&creds.api_key, &new.access_token, now).expect("new token unaffected");
    let retired = users.signing_keys().expect("keys").into_iter().find(|k| k.kid == k1).expect("k1");
    assert_eq!((retired.state, retired.retired_at), (KeyState::Retired, Some(now)));
}

#[test]
fn logout_revokes_that_session_only() {
    let (_dir, _sink, mut users) = setup();
    let reg = register(&mut users, 1, T0);
    let (_, first, creds) = signed_in(&mut users, &reg, T0);
    let second = login(&mut users, &reg, &creds, T0 + 60);
    users.logout(&first.access_token, T0 + 61).expect("logout");
    assert!(matches!(
        users.verify_access_token(&creds.api_key, &first.access_token, T0 + 62),
        Err(UsersError::TokenRevoked)
    ));
    users.verify_access_token(&creds.api_key, &second.access_token, T0 + 62).expect("other session lives");
    users.logout(&first.access_token, T0 + 63).expect("logging out twice is fine");
    assert!(matches!(users.logout("garbage", T0 + 63), Err(UsersError::InvalidToken)));
}

#[test]
fn forged_or_misused_tokens_are_refused() {
    let (_dir, _sink, mut users) = setup();
    let reg = register(&mut users, 1, T0);
    let other = register(&mut users, 2, T0);
    let (_, session, creds) = signed_in(&mut users, &reg, T0);
    let (_, _, other_creds) = signed_in(&mut users, &other, T0);
    let now = T0 + 31;
    // Presented with another API key.
    assert!(matches!(
        users.verify_access_token(&other_creds.api_key, &session.access_token, now),
        Err(UsersError::InvalidToken)
    ));
    // Tampered with: a flipped character in the payload or signature.
    let token = &session.access_token;
    let mid = token.find('.').expect("dot") + 5;
    for i in [mid, token.len() - 2] {
        let mut bytes = token.clone().into_bytes();
        bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
        let forged = String::from_utf8(bytes).expect("ascii");
        assert!(matches!(users.verify_access_token(&creds.api_key, &forged, now), Err(UsersError::InvalidToken)));
    }
    assert!(matches!(users.verify_access_token(&creds.api_key, "", now), Err(UsersError::InvalidToken)));
    assert!(matches!(users.verify_access_token(&creds.api_key, "a.b.c", now), Err(UsersError::InvalidToken)));
}

#[test]
fn new_api_key_role_change_and_suspension_revoke_sessions() {
    let (_dir, _sink, mut users) = setup();
    let admin = register(&mut users, 1, T0);
    users.bootstrap_roles(&admin.user_id, &[Role::Admin], T0).expect("bootstrap");
    let (admin_claims, _, _) = signed_in(&mut users, &admin, T0);
    let reg = register(&mut users, 2, T0);

    // A new API key revokes sessions made with the old one.
    let (_, s1, c1) = signed_in(&mut users, &reg, T0);
    let c2 = api_key(&mut users, &reg, T0 + 60);
    assert!(matches!(users.verify_access_token(&c1.api_key, &s1.access_token, T0 + 61), Err(UsersError::TokenRevoked)));
    let s2 = login(&mut users, &reg, &c2, T0 + 90);
    // A role change revokes (the token's roles would be stale).
    users.set_roles(&admin_claims, &reg.user_id, &[Role::Trader, Role::Support], T0 + 91).expect("roles");
    assert!(matches!(users.verify_access_token(&c2.api_key, &s2.access_token, T0 + 92), Err(UsersError::TokenRevoked)));
    assert_eq!(users.roles(&reg.user_id).expect("roles"), vec![Role::Trader, Role::Support]);
    let s3 = login(&mut users, &reg, &c2, T0 + 120);
    assert_eq!(s3.profile.roles, vec![Role::Trader, Role::Support]);
    // A trader cannot change roles.
    let trader_claims = users.verify_access_token(&c2.api_key, &s3.access_token, T0 + 121).expect("claims");
    assert!(matches!(
        users.set_roles(&trader_claims, &reg.user_id, &[Role::Admin], T0 + 121),
        Err(UsersError::Forbidden(_))
    ));
    // Suspension revokes and refuses logins (after the password check); reinstatement restores.
    users.suspend_user(&admin_claims, &reg.user_id, "suspicious activity", T0 + 130).expect("suspend");
    assert!(matches!(
        users.verify_access_token(&c2.api_key, &s3.access_token, T0 + 131),
        Err(UsersError::TokenRevoked)
    ));
    assert!(matches!(users.login(&reg.user_id, PASSWORD, T0 + 131), Err(UsersError::Suspended)));
    assert!(matches!(users.login(&reg.user_id, "bad password", T0 + 131), Err(UsersError::InvalidCredentials)));
    assert!(users.profile(&reg.user_id).expect("profile").suspended);
    users.reinstate_user(&admin_claims, &reg.user_id, T0 + 140).expect("reinstate");
    login(&mut users, &reg, &c2, T0 + 150);
}

#[test]
fn registration_validates_and_assigns_dense_account_ids() {
    let (_dir, sink, mut users) = setup();
    let a = register(&mut users, 1, T0);
    let b = users
        .register(
            &NewUser {
                user_id: Some("xy0042"),
                name: "Asha Rao",
                email: "asha@example.com",
                phone: "+44 7700 900123",
                password: PASSWORD,
            },
            T0,
        )
        .expect("register with a chosen id");
    let c = register(&mut users, 3, T0);
    assert_eq!((a.account_id, b.account_id, c.account_id), (1, 2, 3));
    assert_eq!(b.user_id, "XY0042");
    assert_eq!(users.profile("XY0042").expect("profile").phone, "+447700900123");
    let creates: Vec<u32> = sink
        .commands()
        .iter()
        .filter_map(|c| match c {
            Command::CreateAccount { account, .. } => Some(*account),
            _ => None,
        })
        .collect();
    assert_eq!(creates, vec![1, 2, 3]);

    let base =
        NewUser { user_id: None, name: "Someone", email: "new@example.com", phone: "9123456789", password: PASSWORD };
    let taken = |r: Result<_, UsersError>| match r {
        Err(UsersError::Taken { field }) => field,
        other => panic!("expected Taken, got {other:?}"),
    };
    assert_eq!(taken(users.register(&NewUser { email: "USER1@example.com", ..base }, T0)), "email");
    assert_eq!(taken(users.register(&NewUser { phone: "+91 98000 00001", ..base }, T0)), "phone");
    assert_eq!(taken(users.register(&NewUser { user_id: Some("XY0042"), ..base }, T0)), "user_id");
    let invalid = |r: Result<_, UsersError>| match r {
        Err(UsersError::InvalidInput { field, .. }) => field,
        other => panic!("expected InvalidInput, got {other:?}"),
    };
    assert_eq!(invalid(users.register(&NewUser { password: "short", ..base }, T0)), "password");
    assert_eq!(invalid(users.register(&NewUser { email: "nope", ..base }, T0)), "email");
    assert_eq!(invalid(users.register(&NewUser { phone: "123", ..base }, T0)), "phone");
    assert_eq!(invalid(users.register(&NewUser { name: "  ", ..base }, T0)), "name");
    assert_eq!(invalid(users.register(&NewUser { user_id: Some("ABC"), ..base }, T0)), "user_id");
    // Nothing was half-created by the refusals: the next id is still 4.
    assert_eq!(users.register(&base, T0).expect("register").account_id, 4);
}

#[test]
fn the_database_holds_no_secret_in_the_clear_and_needs_its_master_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("users.db");
    let sink = Recorder::default();
    let mut users = open(&path, &sink);
    let reg = register(&mut users, 1, T0);
    let creds = api_key(&mut users, &reg, T0);
    let now = T0 + 30;
    let request_id = users.login(&reg.user_id, PASSWORD, now).expect("login");
    let token = users.twofa(&reg.user_id, &request_id, &code(&reg, now), now).expect("twofa");
    let session = users
        .create_session(&creds.api_key, &token, &session_checksum(&creds.api_key, &token, &creds.api_secret), now)
        .expect("session");
    drop(users);

    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(dir.path()).expect("dir") {
        bytes.extend(std::fs::read(entry.expect("entry").path()).expect("read"));
    }
    let contains = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
    assert!(contains(reg.user_id.as_bytes()), "sanity: the scan sees the data");
    let totp_raw = services_users::totp::decode_secret(&reg.totp_secret).expect("b32");
    for (what, secret) in [
        ("password", PASSWORD.as_bytes()),
        ("api secret", creds.api_secret.as_bytes()),
        ("totp secret", reg.totp_secret.as_bytes()),
        ("totp key", &totp_raw[..]),
        ("request id", request_id.as_bytes()),
        ("request token", token.as_bytes()),
        ("access token", session.access_token.as_bytes()),
    ] {
        assert!(!contains(secret), "{what} stored in the clear");
    }

    // Reopening with another master key is refused; with the right one, all still works.
    let mut wrong = UsersConfig::new([1u8; 32]);
    wrong.password = config().password;
    assert!(matches!(Users::open(&path, wrong, Box::new(sink.clone())), Err(UsersError::WrongMasterKey)));
    let users = open(&path, &sink);
    users.verify_access_token(&creds.api_key, &session.access_token, now + 1).expect("survives a restart");
}

#[test]
fn password_hashes_are_upgraded_when_the_parameters_change() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("users.db");
    let sink = Recorder::default();
    let mut users = open(&path, &sink);
    let reg = register(&mut users, 1, T0);
    drop(users);
    let mut stronger = config();
    stronger.password.m_cost_kib = 128;
    let mut users = Users::open(&path, stronger, Box::new(sink)).expect("open");
    let hash = |u: &Users| -> String {
        u.connection()
            .query_row("SELECT password_hash FROM users WHERE user_id = ?1", [&reg.user_id], |r| r.get(0))
            .expect("hash")
    };
    assert!(hash(&users).contains("m=64,"));
    users.login(&reg.user_id, PASSWORD, T0).expect("login");
    assert!(hash(&users).contains("m=128,"), "rehashed on login");
    users.login(&reg.user_id, PASSWORD, T0 + 1).expect("login with the new hash");
}

#[test]
fn nothing_secret_is_logged() {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("buf").extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buf = Buf::default();
    let writer = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let (reg, creds, request_id, token, session, sink_log) = tracing::subscriber::with_default(subscriber, || {
        let (_dir, sink, mut users) = setup();
        let reg = register(&mut users, 1, T0);
        let creds = api_key(&mut users, &reg, T0);
        let now = T0 + 30;
        let _ = users.login(&reg.user_id, "wrong password!", now);
        let request_id = users.login(&reg.user_id, PASSWORD, now).expect("login");
        let _ = users.twofa(&reg.user_id, &request_id, &wrong_code(&reg, now), now);
        let token = users.twofa(&reg.user_id, &request_id, &code(&reg, now), now).expect("twofa");
        let _ = users.create_session(&creds.api_key, &token, "bad", now);
        let checksum = session_checksum(&creds.api_key, &token, &creds.api_secret);
        let session = users.create_session(&creds.api_key, &token, &checksum, now).expect("session");
        users.logout(&session.access_token, now).expect("logout");
        (reg, creds, request_id, token, session, sink.commands())
    });
    assert!(!sink_log.is_empty());
    let logs = String::from_utf8(buf.0.lock().expect("buf").clone()).expect("utf8");
    assert!(logs.contains(&reg.user_id), "sanity: logs were captured:\n{logs}");
    for secret in [
        PASSWORD,
        "wrong password!",
        &creds.api_secret,
        &reg.totp_secret,
        &request_id,
        &token,
        &session.access_token,
        &session_checksum(&creds.api_key, &token, &creds.api_secret),
    ] {
        assert!(!logs.contains(secret), "a secret was logged:\n{logs}");
    }
}
