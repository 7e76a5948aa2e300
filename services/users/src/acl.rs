//! Roles and per-resource authorization.
//!
//! A user holds one or more roles; an action is allowed when any of them allows it. Each
//! (role, action) pair has a scope: `-` never, `own` only on resources the caller owns,
//! `others` only on resources someone else owns, `all` on any. Actions on exchange-wide
//! resources (instruments, halts, the market session) have no owner and read only
//! "allowed or not".
//!
//! | action             | trader | admin  | risk | support |
//! |--------------------|--------|--------|------|---------|
//! | ReadProfile        | own    | all    | all  | all     |
//! | UpdateProfile      | own    | all    | -    | -       |
//! | ReadKyc            | own    | all    | all  | all     |
//! | SubmitKyc          | own    | all    | -    | -       |
//! | ReviewKyc          | -      | others | -    | -       |
//! | ManageApiKeys      | own    | all    | -    | -       |
//! | ReadOrders         | own    | all    | all  | all     |
//! | PlaceOrders        | own    | all    | -    | -       |
//! | CancelOrders       | own    | all    | all  | -       |
//! | ReadTrades         | own    | all    | all  | all     |
//! | ReadPositions      | own    | all    | all  | all     |
//! | ReadHoldings       | own    | all    | all  | all     |
//! | ReadFunds          | own    | all    | all  | all     |
//! | MoveFunds          | own    | all    | -    | -       |
//! | SetLimits          | -      | all    | all  | -       |
//! | SuspendAccount     | -      | all    | all  | -       |
//! | ManageUsers        | -      | all    | -    | -       |
//! | HaltInstrument     | -      | all    | all  | -       |
//! | ManageInstruments  | -      | all    | -    | -       |
//! | ManageSession      | -      | all    | -    | -       |
//!
//! Notes. *Trader*: their own orders, trades, positions, holdings and funds, nothing of anyone
//! else's and nothing exchange-wide. *Admin*: everything, except reviewing their own KYC (four
//! eyes: an admin's own KYC needs another admin). *Risk*: halts and resumes, account limits and
//! suspensions, cancelling anyone's orders (kill switch), and reading everything; never places
//! orders or moves money. *Support*: read-only on user information (profile, KYC status, orders,
//! trades, positions, holdings, funds); changes nothing, and never moves funds.

use serde::{Deserialize, Serialize};

use crate::jwt::Claims;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Trader,
    Admin,
    Risk,
    Support,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Trader, Role::Admin, Role::Risk, Role::Support];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Trader => "trader",
            Role::Admin => "admin",
            Role::Risk => "risk",
            Role::Support => "support",
        }
    }

    pub fn parse(text: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == text)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Action {
    ReadProfile,
    UpdateProfile,
    ReadKyc,
    SubmitKyc,
    ReviewKyc,
    ManageApiKeys,
    ReadOrders,
    /// Place and modify.
    PlaceOrders,
    /// Cancel, including mass cancel.
    CancelOrders,
    ReadTrades,
    ReadPositions,
    ReadHoldings,
    ReadFunds,
    /// Deposits and withdrawals.
    MoveFunds,
    SetLimits,
    /// Suspend and reinstate an account.
    SuspendAccount,
    /// Roles of other users.
    ManageUsers,
    /// Halt and resume an instrument. Exchange-wide.
    HaltInstrument,
    /// Add instruments, fee schedule. Exchange-wide.
    ManageInstruments,
    /// Open and close the market session, MIS square-off. Exchange-wide.
    ManageSession,
}

impl Action {
    pub const ALL: [Action; 20] = [
        Action::ReadProfile,
        Action::UpdateProfile,
        Action::ReadKyc,
        Action::SubmitKyc,
        Action::ReviewKyc,
        Action::ManageApiKeys,
        Action::ReadOrders,
        Action::PlaceOrders,
        Action::CancelOrders,
        Action::ReadTrades,
        Action::ReadPositions,
        Action::ReadHoldings,
        Action::ReadFunds,
        Action::MoveFunds,
        Action::SetLimits,
        Action::SuspendAccount,
        Action::ManageUsers,
        Action::HaltInstrument,
        Action::ManageInstruments,
        Action::ManageSession,
    ];

    /// Exchange-wide actions have no resource owner.
    pub fn is_exchange_wide(self) -> bool {
        matches!(self, Action::HaltInstrument | Action::ManageInstruments | Action::ManageSession)
    }
}

/// Which resources a role may act on for one action.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    None,
    Own,
    Others,
    All,
}

/// The matrix in the module documentation, as code.
pub fn scope(role: Role, action: Action) -> Scope {
    use Action as A;
    use Scope::{All, None, Others, Own};
    match role {
        Role::Trader => match action {
            A::ReadProfile
            | A::UpdateProfile
            | A::ReadKyc
            | A::SubmitKyc
            | A::ManageApiKeys
            | A::ReadOrders
            | A::PlaceOrders
            | A::CancelOrders
            | A::ReadTrades
            | A::ReadPositions
            | A::ReadHoldings
            | A::ReadFunds
            | A::MoveFunds => Own,
            _ => None,
        },
        Role::Admin => match action {
            A::ReviewKyc => Others,
            _ => All,
        },
        Role::Risk => match action {
            A::ReadProfile
            | A::ReadKyc
            | A::ReadOrders
            | A::CancelOrders
            | A::ReadTrades
            | A::ReadPositions
            | A::ReadHoldings
            | A::ReadFunds
            | A::SetLimits
            | A::SuspendAccount
            | A::HaltInstrument => All,
            _ => None,
        },
        Role::Support => match action {
            A::ReadProfile
            | A::ReadKyc
            | A::ReadOrders
            | A::ReadTrades
            | A::ReadPositions
            | A::ReadHoldings
            | A::ReadFunds => All,
            _ => None,
        },
    }
}

/// Refusal of [`authorize`]. Carries what was asked, for the caller's audit log.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{user_id} may not {action:?}{}", owner.as_ref().map(|o| format!(" on {o}'s resources")).unwrap_or_default())]
pub struct Forbidden {
    pub user_id: String,
    pub action: Action,
    pub owner: Option<String>,
}

/// May the holder of `claims` perform `action` on a resource owned by `resource_owner` (a
/// user id; `None` for exchange-wide resources, or for "all users' resources" such as a list of
/// every order)? Only roles in verified claims count.
pub fn authorize(claims: &Claims, action: Action, resource_owner: Option<&str>) -> Result<(), Forbidden> {
    let allowed = claims.roles.iter().any(|&role| {
        let scope = scope(role, action);
        if action.is_exchange_wide() {
            return scope != Scope::None;
        }
        let own = resource_owner == Some(claims.sub.as_str());
        let other = resource_owner.is_some_and(|o| o != claims.sub);
        match scope {
            Scope::None => false,
            Scope::Own => own,
            Scope::Others => other,
            // "All" also covers owner-less queries over everyone's resources.
            Scope::All => true,
        }
    });
    if allowed {
        Ok(())
    } else {
        Err(Forbidden { user_id: claims.sub.clone(), action, owner: resource_owner.map(str::to_string) })
    }
}
