//! Seeded users (demo and test environments): given credentials that log in through the Kite
//! flow, the registration path's checks and side effects, KYC recorded as verified so that the
//! engine account is activated, idempotence, and validation.

mod common;

use std::time::Duration;

use common::*;
use engine_core::{AccountStatus, Command, Engine, Limits};
use services_core::{EventBatch, MemoryFeed, ServiceRunner};
use services_users::{
    session_checksum, totp, EngineStatus, KycStatus, Role, SeedOutcome, SeedUser, Users, UsersError, UsersService,
};

/// An obviously-demo TOTP secret: base32 of the 20 ASCII bytes "demo-totp-secret-001".
const TOTP: &str = "MRSW23ZNORXXI4BNONSWG4TFOQWTAMBR";
const API_KEY: &str = "demo_api_key_0001";
const API_SECRET: &str = "demo_api_secret_0001_not_for_prod";
const SEED_PASSWORD: &str = "demo-password-1";

fn seed(user_id: &'static str, roles: &'static [Role]) -> SeedUser<'static> {
    SeedUser {
        user_id,
        name: "Asha Demo",
        email: "asha.demo@example.com",
        phone: "90000 00001",
        password: SEED_PASSWORD,
        totp_secret: TOTP,
        api_key: API_KEY,
        api_secret: API_SECRET,
        roles,
        kyc_verified: true,
    }
}

fn setup() -> (tempfile::TempDir, Recorder, Users) {
    let dir = tempfile::tempdir().expect("tempdir");
    let sink = Recorder::default();
    let users = open(&dir.path().join("users.db"), &sink);
    (dir, sink, users)
}

/// The Kite login with the seed's own credentials, as a client reading the seed file does it.
fn kite_login(users: &mut Users, s: &SeedUser<'_>, now: u64) -> services_users::Session {
    let request_id = users.login(s.user_id, s.password, now).expect("login");
    let code = totp::code_for(s.totp_secret, now).expect("the seed's TOTP secret is base32");
    let request_token = users.twofa(s.user_id, &request_id, &code, now).expect("twofa");
    let checksum = session_checksum(s.api_key, &request_token, s.api_secret);
    users.create_session(s.api_key, &request_token, &checksum, now).expect("session")
}

#[test]
fn a_seeded_user_logs_in_with_the_given_credentials() {
    let (_dir, sink, mut users) = setup();
    let s = seed("dt0001", &[Role::Trader, Role::Admin]);
    assert_eq!(users.seed_user(&s, T0).expect("seed"), SeedOutcome::Created { account_id: 1 });
    assert_eq!(sink.commands(), vec![Command::CreateAccount { account: 1, limits: Default::default() }]);

    let profile = users.profile("DT0001").expect("the user id is normalized");
    assert_eq!(profile.account_id, 1);
    assert_eq!(profile.roles, vec![Role::Trader, Role::Admin]);
    assert_eq!(profile.kyc, KycStatus::Verified);
    assert_eq!(profile.email, "asha.demo@example.com");
    assert_eq!(profile.phone, "+919000000001");
    let kyc = users.kyc("DT0001").expect("kyc");
    assert_eq!(kyc.reviewed_by.as_deref(), Some("seed"));
    assert_eq!(kyc.reviewed_at, Some(T0));
    assert_eq!(users.api_key_of("DT0001").expect("key").as_deref(), Some(API_KEY));

    let now = T0 + 30;
    let session = kite_login(&mut users, &SeedUser { user_id: "DT0001", ..s }, now);
    assert_eq!(session.user_id, "DT0001");
    assert_eq!(session.api_key, API_KEY);
    let claims = users.verify_access_token(API_KEY, &session.access_token, now).expect("verify");
    assert_eq!((claims.sub.as_str(), claims.acc), ("DT0001", 1));
    assert_eq!(claims.roles, vec![Role::Trader, Role::Admin]);

    // The secrets are sealed like a registered user's: not in the database in the clear.
    let conn = users.connection();
    let stored: Vec<u8> =
        conn.query_row("SELECT secret FROM api_keys WHERE api_key = ?1", [API_KEY], |r| r.get(0)).expect("api key row");
    assert!(!stored.windows(API_SECRET.len()).any(|w| w == API_SECRET.as_bytes()));
    let hash: String =
        conn.query_row("SELECT password_hash FROM users WHERE user_id = 'DT0001'", [], |r| r.get(0)).expect("hash");
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    let audit: (String, String) = conn
        .query_row("SELECT actor, action FROM audit_log WHERE target = 'DT0001'", [], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("audit row");
    assert_eq!(audit, ("seed".to_string(), "seed".to_string()));
}

#[test]
fn seeding_again_is_exists_and_changes_nothing() {
    let (_dir, sink, mut users) = setup();
    let s = seed("DT0001", &[Role::Trader]);
    users.seed_user(&s, T0).expect("seed");
    let before = services_core::testkit::dump(users.connection());
    let commands = sink.commands().len();

    // Same user id, even with another password and TOTP secret: nothing changes.
    let again = SeedUser { password: "another password", totp_secret: "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", ..s };
    assert_eq!(users.seed_user(&again, T0 + 100).expect("reseed"), SeedOutcome::Exists { account_id: 1 });
    assert_eq!(services_core::testkit::dump(users.connection()), before, "no row changed");
    assert_eq!(sink.commands().len(), commands, "no command queued");
    kite_login(&mut users, &s, T0 + 130);

    // Another API key for an existing user is refused, not overwritten.
    let other_key = SeedUser { api_key: "demo_api_key_9999", ..s };
    match users.seed_user(&other_key, T0 + 200) {
        Err(e @ UsersError::SeedConflict { field: "api_key", .. }) => {
            assert!(e.to_string().contains("DT0001"), "{e}");
            assert_eq!(e.kite_error_type(), "InputException");
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(users.api_key_of("DT0001").expect("key").as_deref(), Some(API_KEY));
}

#[test]
fn seeded_and_registered_users_share_the_uniqueness_checks_and_account_ids() {
    let (_dir, _sink, mut users) = setup();
    let first = register(&mut users, 1, T0);
    assert_eq!(first.account_id, 1);
    let s = seed("DT0001", &[Role::Trader]);
    assert_eq!(users.seed_user(&s, T0).expect("seed"), SeedOutcome::Created { account_id: 2 });
    let next = register(&mut users, 2, T0);
    assert_eq!(next.account_id, 3);

    let taken = |users: &mut Users, s: SeedUser<'_>| match users.seed_user(&s, T0) {
        Err(UsersError::Taken { field }) => field,
        other => panic!("expected Taken, got {other:?}"),
    };
    let other = SeedUser { user_id: "DT0002", email: "b@example.com", phone: "90000 00002", ..s };
    assert_eq!(taken(&mut users, SeedUser { email: "asha.demo@example.com", ..other }), "email");
    assert_eq!(taken(&mut users, SeedUser { phone: "+91 90000 00001", ..other }), "phone");
    assert_eq!(taken(&mut users, other), "api_key");
    assert_eq!(
        users.seed_user(&SeedUser { api_key: "demo_api_key_0002", ..other }, T0).expect("seed"),
        SeedOutcome::Created { account_id: 4 }
    );
}

#[test]
fn invalid_seeds_are_refused_before_anything_is_written() {
    let (_dir, sink, mut users) = setup();
    let s = seed("DT0001", &[Role::Trader]);
    let cases: [(SeedUser<'_>, &str); 12] = [
        (SeedUser { user_id: "D00001", ..s }, "user_id"),
        (SeedUser { email: "not-an-email", ..s }, "email"),
        (SeedUser { phone: "12", ..s }, "phone"),
        (SeedUser { name: " ", ..s }, "name"),
        (SeedUser { password: "short", ..s }, "password"),
        (SeedUser { totp_secret: "not base32!", ..s }, "totp_secret"),
        // Ten bytes: below RFC 4226's 128 bits.
        (SeedUser { totp_secret: "GEZDGNBVGY3TQOJQ", ..s }, "totp_secret"),
        (SeedUser { api_key: "short", ..s }, "api_key"),
        (SeedUser { api_key: "demo:api:key", ..s }, "api_key"),
        (SeedUser { api_secret: "demo api secret with spaces", ..s }, "api_secret"),
        (SeedUser { api_secret: "too-short", ..s }, "api_secret"),
        (SeedUser { roles: &[], ..s }, "roles"),
    ];
    for (bad, field) in cases {
        assert!(bad.validate().is_err(), "validate: {field}");
        match users.seed_user(&bad, T0) {
            Err(UsersError::InvalidInput { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{field}: expected InvalidInput, got {other:?}"),
        }
    }
    assert!(s.validate().is_ok());
    let n: i64 = users.connection().query_row("SELECT COUNT(*) FROM users", [], |r| r.get(0)).expect("count");
    assert_eq!(n, 0);
    assert!(sink.commands().is_empty());
}

#[test]
fn secrets_are_redacted_in_debug_output() {
    let s = seed("DT0001", &[Role::Trader]);
    let text = format!("{s:?}");
    for secret in [SEED_PASSWORD, TOTP, API_SECRET] {
        assert!(!text.contains(secret), "{text}");
    }
    assert!(text.contains(API_KEY), "the API key is a public identifier: {text}");
}

/// The engine creates the accounts; the users service activates the verified user's (and only
/// that one), exactly once.
#[test]
fn a_verified_seed_is_activated_once_the_engine_creates_the_account() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("users.db");
    let rec = Recorder::default();
    let mut users = open(&path, &rec);
    let mut runner =
        ServiceRunner::open(&path, UsersService::new(Some(Box::new(rec.clone())))).expect("open the users service");
    let verified = seed("DT0001", &[Role::Trader]);
    let unverified = SeedUser {
        user_id: "DT0002",
        email: "b@example.com",
        phone: "90000 00002",
        api_key: "demo_api_key_0002",
        kyc_verified: false,
        ..verified
    };
    users.seed_user(&verified, T0).expect("seed");
    users.seed_user(&unverified, T0).expect("seed");

    let mut engine: Engine = Engine::new(Limits::small());
    let mut batches: Vec<EventBatch> = Vec::new();
    let mut sent = Vec::new();
    for _ in 0..3 {
        for command in rec.drain() {
            let seq = batches.len() as u64 + 1;
            let ts_ns = T0 * 1_000_000_000 + seq;
            let mut events = Vec::new();
            engine.apply(seq, ts_ns, &command, &mut events);
            batches.push(EventBatch { seq, ts_ns, events });
            sent.push(command);
        }
        let mut feed = MemoryFeed::new(batches.clone());
        runner.resume(&mut feed).expect("resume");
        while runner.step(&mut feed, Duration::ZERO).expect("step").applied > 0 {}
        runner.step(&mut feed, Duration::ZERO).expect("idle step");
    }
    assert_eq!(
        sent,
        vec![
            Command::CreateAccount { account: 1, limits: Default::default() },
            Command::CreateAccount { account: 2, limits: Default::default() },
            Command::ActivateAccount { account: 1 },
        ]
    );
    assert_eq!(engine.account(1).map(|a| a.status), Some(AccountStatus::Active));
    assert_eq!(engine.account(2).map(|a| a.status), Some(AccountStatus::Inactive));
    assert_eq!(users.engine_account("DT0001").expect("engine").status, EngineStatus::Active);
    assert_eq!(users.engine_account("DT0002").expect("engine").status, EngineStatus::Inactive);
    assert_eq!(users.kyc("DT0002").expect("kyc").status, KycStatus::NotSubmitted);
}
