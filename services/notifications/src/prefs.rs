//! Per-account notification preferences, keyed by the engine's account id.
//!
//! Preferences are not engine events: whoever owns the user's profile (the users service, the
//! gateway) writes them with [`set_prefs`], on any connection to this service's database. An
//! event's messages go to the channels and addresses in force when it is applied; a change never
//! rewrites outbox rows already created.
//!
//! The service keeps the preferences it has read in memory, across transactions, and checks at
//! the start of each transaction that they are still current: triggers on `notify_prefs` bump
//! `notify_prefs_version` in the same transaction as any change (by any connection, through
//! [`set_prefs`] or plain SQL), and a changed version empties the memory. Within a transaction
//! the database cannot change under the service, so it applies exactly the preferences a query
//! per message would read.

use rusqlite::{params, Connection, OptionalExtension};

/// What a notification is about; each can be switched on or off per account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// An order was accepted by the exchange.
    Accepted,
    /// An order, modification or cancellation was rejected.
    Rejected,
    /// A fill (trade) on one of the account's orders.
    Executions,
    /// An order was cancelled (by the user, IOC remainder, square-off, ...).
    Cancels,
    /// An order was modified.
    Modified,
    /// Funds deposited or withdrawn, or a withdrawal/deposit rejected.
    Funds,
}

impl Kind {
    pub const ALL: [Kind; 6] =
        [Kind::Accepted, Kind::Rejected, Kind::Executions, Kind::Cancels, Kind::Modified, Kind::Funds];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Accepted => "accepted",
            Kind::Rejected => "rejected",
            Kind::Executions => "execution",
            Kind::Cancels => "cancelled",
            Kind::Modified => "modified",
            Kind::Funds => "funds",
        }
    }

    fn column(self) -> &'static str {
        match self {
            Kind::Accepted => "on_accepted",
            Kind::Rejected => "on_rejected",
            Kind::Executions => "on_executions",
            Kind::Cancels => "on_cancels",
            Kind::Modified => "on_modified",
            Kind::Funds => "on_funds",
        }
    }
}

/// Which kinds an account wants, as a small set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Kinds(u8);

impl Kinds {
    pub const NONE: Kinds = Kinds(0);
    pub const ALL: Kinds = Kinds(0b11_1111);

    pub fn only(kinds: &[Kind]) -> Kinds {
        kinds.iter().fold(Kinds::NONE, |k, &x| k.with(x))
    }
    pub fn with(self, kind: Kind) -> Kinds {
        Kinds(self.0 | 1 << kind as u8)
    }
    pub fn without(self, kind: Kind) -> Kinds {
        Kinds(self.0 & !(1 << kind as u8))
    }
    pub fn contains(self, kind: Kind) -> bool {
        self.0 & 1 << kind as u8 != 0
    }
}

impl Default for Kinds {
    fn default() -> Kinds {
        Kinds::ALL
    }
}

/// One account's preferences. A channel sends only when it is on *and* has an address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prefs {
    pub account: u32,
    pub email: Option<String>,
    /// E.164 phone number, e.g. `+919812345678`.
    pub phone: Option<String>,
    pub email_on: bool,
    pub sms_on: bool,
    pub kinds: Kinds,
}

impl Prefs {
    /// E-mail only, every kind.
    pub fn email(account: u32, address: &str) -> Prefs {
        Prefs {
            account,
            email: Some(address.to_string()),
            phone: None,
            email_on: true,
            sms_on: false,
            kinds: Kinds::ALL,
        }
    }

    /// Where `kind` goes for this account: `(channel, recipient)` pairs.
    pub fn targets(&self, kind: Kind) -> impl Iterator<Item = (crate::Channel, &str)> {
        let on = self.kinds.contains(kind);
        let email = self.email.as_deref().filter(|a| on && self.email_on && !a.is_empty());
        let sms = self.phone.as_deref().filter(|p| on && self.sms_on && !p.is_empty());
        email.map(|a| (crate::Channel::Email, a)).into_iter().chain(sms.map(|p| (crate::Channel::Sms, p)))
    }
}

pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS notify_prefs (
    account       INTEGER PRIMARY KEY CHECK (account >= 0),
    email         TEXT,
    phone         TEXT,
    email_on      INTEGER NOT NULL DEFAULT 1 CHECK (email_on IN (0, 1)),
    sms_on        INTEGER NOT NULL DEFAULT 0 CHECK (sms_on IN (0, 1)),
    on_accepted   INTEGER NOT NULL DEFAULT 1 CHECK (on_accepted IN (0, 1)),
    on_rejected   INTEGER NOT NULL DEFAULT 1 CHECK (on_rejected IN (0, 1)),
    on_executions INTEGER NOT NULL DEFAULT 1 CHECK (on_executions IN (0, 1)),
    on_cancels    INTEGER NOT NULL DEFAULT 1 CHECK (on_cancels IN (0, 1)),
    on_modified   INTEGER NOT NULL DEFAULT 1 CHECK (on_modified IN (0, 1)),
    on_funds      INTEGER NOT NULL DEFAULT 1 CHECK (on_funds IN (0, 1))
);
CREATE TABLE IF NOT EXISTS notify_prefs_version (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
);
INSERT OR IGNORE INTO notify_prefs_version (id, version) VALUES (1, 0);
CREATE TRIGGER IF NOT EXISTS notify_prefs_inserted AFTER INSERT ON notify_prefs
    BEGIN UPDATE notify_prefs_version SET version = version + 1; END;
CREATE TRIGGER IF NOT EXISTS notify_prefs_updated AFTER UPDATE ON notify_prefs
    BEGIN UPDATE notify_prefs_version SET version = version + 1; END;
CREATE TRIGGER IF NOT EXISTS notify_prefs_deleted AFTER DELETE ON notify_prefs
    BEGIN UPDATE notify_prefs_version SET version = version + 1; END;
";

/// A number that changes whenever `notify_prefs` changes, by whatever connection (triggers bump
/// it in the writer's own transaction). `None` if its row was deleted: then nothing is kept.
pub(crate) fn prefs_version(conn: &Connection) -> rusqlite::Result<Option<i64>> {
    conn.prepare_cached("SELECT version FROM notify_prefs_version WHERE id = 1")?.query_row([], |r| r.get(0)).optional()
}

/// Creates or replaces `prefs.account`'s preferences.
pub fn set_prefs(conn: &Connection, prefs: &Prefs) -> rusqlite::Result<()> {
    let k = |kind| prefs.kinds.contains(kind);
    conn.execute(
        "INSERT INTO notify_prefs (account, email, phone, email_on, sms_on,
             on_accepted, on_rejected, on_executions, on_cancels, on_modified, on_funds)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
         ON CONFLICT (account) DO UPDATE SET
             email = excluded.email, phone = excluded.phone,
             email_on = excluded.email_on, sms_on = excluded.sms_on,
             on_accepted = excluded.on_accepted, on_rejected = excluded.on_rejected,
             on_executions = excluded.on_executions, on_cancels = excluded.on_cancels,
             on_modified = excluded.on_modified, on_funds = excluded.on_funds",
        params![
            prefs.account,
            prefs.email,
            prefs.phone,
            prefs.email_on,
            prefs.sms_on,
            k(Kind::Accepted),
            k(Kind::Rejected),
            k(Kind::Executions),
            k(Kind::Cancels),
            k(Kind::Modified),
            k(Kind::Funds),
        ],
    )?;
    Ok(())
}

/// Removes an account's preferences: it gets no further notifications.
pub fn delete_prefs(conn: &Connection, account: u32) -> rusqlite::Result<bool> {
    Ok(conn.execute("DELETE FROM notify_prefs WHERE account = ?1", params![account])? > 0)
}

/// An account's preferences, if it has any.
pub fn get_prefs(conn: &Connection, account: u32) -> rusqlite::Result<Option<Prefs>> {
    static SQL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let sql = SQL.get_or_init(|| {
        format!(
            "SELECT account, email, phone, email_on, sms_on, {} FROM notify_prefs WHERE account = ?1",
            Kind::ALL.iter().map(|k| k.column()).collect::<Vec<_>>().join(", ")
        )
    });
    conn.prepare_cached(sql)?
        .query_row(params![account], |r| {
            let mut kinds = Kinds::NONE;
            for (i, kind) in Kind::ALL.iter().enumerate() {
                if r.get::<_, bool>(5 + i)? {
                    kinds = kinds.with(*kind);
                }
            }
            Ok(Prefs {
                account: r.get(0)?,
                email: r.get(1)?,
                phone: r.get(2)?,
                email_on: r.get(3)?,
                sms_on: r.get(4)?,
                kinds,
            })
        })
        .optional()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefs_round_trip_and_update() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(SCHEMA).unwrap();
        assert_eq!(get_prefs(&conn, 7).unwrap(), None);
        let mut p = Prefs::email(7, "a@example.com");
        set_prefs(&conn, &p).unwrap();
        assert_eq!(get_prefs(&conn, 7).unwrap(), Some(p.clone()));
        p.phone = Some("+919800000007".into());
        p.sms_on = true;
        p.kinds = Kinds::only(&[Kind::Executions, Kind::Funds]);
        set_prefs(&conn, &p).unwrap();
        assert_eq!(get_prefs(&conn, 7).unwrap(), Some(p.clone()));
        let t: Vec<_> = p.targets(Kind::Funds).collect();
        assert_eq!(t, vec![(crate::Channel::Email, "a@example.com"), (crate::Channel::Sms, "+919800000007")]);
        assert_eq!(p.targets(Kind::Accepted).count(), 0);
        assert!(delete_prefs(&conn, 7).unwrap());
        assert_eq!(get_prefs(&conn, 7).unwrap(), None);
    }
}
