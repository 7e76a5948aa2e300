//! The authorization matrix: every role x every action x own / other / no-owner resource.

use services_users::{authorize, scope, Action, Claims, Role, Scope};

/// The matrix as documented (columns: trader, admin, risk, support). `own`: own resources only;
/// `others`: other users' only; `all`: any; `-`: never. Exchange-wide actions: `all` or `-`.
const MATRIX: &[(Action, [&str; 4])] = &[
    (Action::ReadProfile, ["own", "all", "all", "all"]),
    (Action::UpdateProfile, ["own", "all", "-", "-"]),
    (Action::ReadKyc, ["own", "all", "all", "all"]),
    (Action::SubmitKyc, ["own", "all", "-", "-"]),
    (Action::ReviewKyc, ["-", "others", "-", "-"]),
    (Action::ManageApiKeys, ["own", "all", "-", "-"]),
    (Action::ReadOrders, ["own", "all", "all", "all"]),
    (Action::PlaceOrders, ["own", "all", "-", "-"]),
    (Action::CancelOrders, ["own", "all", "all", "-"]),
    (Action::ReadTrades, ["own", "all", "all", "all"]),
    (Action::ReadPositions, ["own", "all", "all", "all"]),
    (Action::ReadHoldings, ["own", "all", "all", "all"]),
    (Action::ReadFunds, ["own", "all", "all", "all"]),
    (Action::MoveFunds, ["own", "all", "-", "-"]),
    (Action::SetLimits, ["-", "all", "all", "-"]),
    (Action::SuspendAccount, ["-", "all", "all", "-"]),
    (Action::ManageUsers, ["-", "all", "-", "-"]),
    (Action::HaltInstrument, ["-", "all", "all", "-"]),
    (Action::ManageInstruments, ["-", "all", "-", "-"]),
    (Action::ManageSession, ["-", "all", "-", "-"]),
];

const ROLES: [Role; 4] = [Role::Trader, Role::Admin, Role::Risk, Role::Support];

fn claims(user: &str, roles: &[Role]) -> Claims {
    Claims {
        iss: "exchange".into(),
        sub: user.into(),
        acc: 1,
        roles: roles.to_vec(),
        api_key: "k".into(),
        iat: 0,
        exp: u64::MAX,
        jti: "j".into(),
    }
}

#[test]
fn the_matrix_covers_every_action_once() {
    assert_eq!(MATRIX.len(), Action::ALL.len());
    for action in Action::ALL {
        assert_eq!(MATRIX.iter().filter(|(a, _)| *a == action).count(), 1, "{action:?}");
    }
}

#[test]
fn every_role_every_action_own_and_other() {
    let me = "AB1234";
    let other = "CD5678";
    let mut checked = 0;
    for (action, row) in MATRIX {
        for (role, cell) in ROLES.iter().zip(row) {
            let c = claims(me, &[*role]);
            let (own, others, ownerless) = match (*cell, action.is_exchange_wide()) {
                ("-", _) => (false, false, false),
                ("all", _) => (true, true, true),
                ("own", false) => (true, false, false),
                ("others", false) => (false, true, false),
                (cell, wide) => panic!("bad cell {cell} for {action:?} (exchange-wide: {wide})"),
            };
            let expected_scope = match *cell {
                "-" => Scope::None,
                "own" => Scope::Own,
                "others" => Scope::Others,
                _ => Scope::All,
            };
            assert_eq!(scope(*role, *action), expected_scope, "{role:?} {action:?}");
            for (owner, want) in [(Some(me), own), (Some(other), others), (None, ownerless)] {
                let got = authorize(&c, *action, owner);
                assert_eq!(got.is_ok(), want, "{role:?} {action:?} owner {owner:?}: {got:?}");
                if let Err(f) = got {
                    assert_eq!((f.user_id.as_str(), f.action, f.owner.as_deref()), (me, *action, owner));
                }
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 20 * 4 * 3);
}

#[test]
fn roles_combine_as_a_union_and_no_role_means_nothing() {
    let me = "AB1234";
    let both = claims(me, &[Role::Trader, Role::Support]);
    assert!(authorize(&both, Action::PlaceOrders, Some(me)).is_ok(), "trader part");
    assert!(authorize(&both, Action::ReadOrders, Some("CD5678")).is_ok(), "support part");
    assert!(authorize(&both, Action::PlaceOrders, Some("CD5678")).is_err(), "neither");
    assert!(authorize(&both, Action::MoveFunds, Some("CD5678")).is_err(), "support never moves funds");
    let none = claims(me, &[]);
    for action in Action::ALL {
        for owner in [Some(me), Some("CD5678"), None] {
            assert!(authorize(&none, action, owner).is_err(), "{action:?} {owner:?}");
        }
    }
    let f = authorize(&claims(me, &[Role::Trader]), Action::ReadFunds, Some("CD5678")).expect_err("forbidden");
    assert_eq!(f.to_string(), "AB1234 may not ReadFunds on CD5678's resources");
}
