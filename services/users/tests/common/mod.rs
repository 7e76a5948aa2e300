//! Shared test helpers: a recording command sink, a fast configuration, and the login flow.
#![allow(dead_code)]

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use engine_core::Command;
use services_core::{CommandSink, SinkError};
use services_users::{
    session_checksum, totp, ApiCredentials, Claims, NewUser, PasswordParams, Registration, Session, Users, UsersConfig,
};

/// 2023-11-14 22:13:20 UTC, aligned to a TOTP step.
pub const T0: u64 = 1_700_000_010;

pub const PASSWORD: &str = "correct horse battery";

/// Records what it is given; refuses everything while `failing` is set (the engine link is down).
#[derive(Clone, Default)]
pub struct Recorder {
    pub log: Arc<Mutex<Vec<Command>>>,
    pub failing: Arc<AtomicBool>,
}

impl CommandSink for Recorder {
    fn submit(&mut self, command: &Command) -> Result<(), SinkError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(SinkError::Transport("engine link down".into()));
        }
        self.log.lock().expect("log").push(*command);
        Ok(())
    }
}

impl Recorder {
    pub fn commands(&self) -> Vec<Command> {
        self.log.lock().expect("log").clone()
    }
    /// Takes the commands recorded so far (to feed them to an engine).
    pub fn drain(&self) -> Vec<Command> {
        std::mem::take(&mut *self.log.lock().expect("log"))
    }
    pub fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }
}

pub fn config() -> UsersConfig {
    let mut c = UsersConfig::new([42u8; 32]);
    c.password = PasswordParams::insecure_fast();
    c
}

pub fn open(path: &Path, sink: &Recorder) -> Users {
    Users::open(path, config(), Box::new(sink.clone())).expect("open users")
}

pub fn new_user<'a>(name: &'a str, email: &'a str, phone: &'a str) -> NewUser<'a> {
    NewUser { user_id: None, name, email, phone, password: PASSWORD }
}

/// Registers user number `n` (distinct e-mail and phone).
pub fn register(users: &mut Users, n: u32, now: u64) -> Registration {
    let email = format!("user{n}@example.com");
    let phone = format!("98{n:08}");
    users.register(&new_user("Ravi Kumar", &email, &phone), now).expect("register")
}

pub fn code(reg: &Registration, now: u64) -> String {
    totp::code_for(&reg.totp_secret, now).expect("totp")
}

/// Creates the user's API key at `now` (which uses up the TOTP step of `now`).
pub fn api_key(users: &mut Users, reg: &Registration, now: u64) -> ApiCredentials {
    users.create_api_key(&reg.user_id, PASSWORD, &code(reg, now), now).expect("api key")
}

/// The three steps of the login at `now` (a TOTP step not used before).
pub fn login(users: &mut Users, reg: &Registration, creds: &ApiCredentials, now: u64) -> Session {
    let request_id = users.login(&reg.user_id, PASSWORD, now).expect("login");
    let request_token = users.twofa(&reg.user_id, &request_id, &code(reg, now), now).expect("twofa");
    let checksum = session_checksum(&creds.api_key, &request_token, &creds.api_secret);
    users.create_session(&creds.api_key, &request_token, &checksum, now).expect("session")
}

/// API key and a session, 30 s apart; returns the verified claims and the session.
pub fn signed_in(users: &mut Users, reg: &Registration, now: u64) -> (Claims, Session, ApiCredentials) {
    let creds = api_key(users, reg, now);
    let session = login(users, reg, &creds, now + 30);
    let claims = users.verify_access_token(&creds.api_key, &session.access_token, now + 30).expect("verify");
    (claims, session, creds)
}

/// A well-formed code that is valid at none of the steps `now` accepts.
pub fn wrong_code(reg: &Registration, now: u64) -> String {
    let valid = [code(reg, now - 30), code(reg, now), code(reg, now + 30)];
    (0..1_000_000u32).map(|n| format!("{n:06}")).find(|c| !valid.contains(c)).expect("a wrong code")
}
