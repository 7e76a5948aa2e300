//! Shared test support: a naive reference book, a seeded command generator and invariant checks.
//! Each test binary uses a different subset, hence the `dead_code` allowance.
#![allow(dead_code)]

pub mod coverage;
pub mod gen;
pub mod invariants;
pub mod naive_book;
pub mod oracle;
