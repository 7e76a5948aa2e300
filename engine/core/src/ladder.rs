//! stub
use crate::book::{Book, LevelState, Link};
use crate::types::{Qty, Side};
#[derive(Debug)]
pub struct LadderBook;
impl Book for LadderBook {
    fn with_levels(_levels: u32) -> Self {
        LadderBook
    }
    fn push_back(&mut self, _l: &mut [Link], _s: Side, _v: u32, _slot: u32, _q: Qty) {}
    fn remove(&mut self, _l: &mut [Link], _s: Side, _v: u32, _slot: u32, _q: Qty) {}
    fn adjust_qty(&mut self, _s: Side, _v: u32, _d: Qty) {}
    fn best(&self, _s: Side) -> Option<u32> {
        None
    }
    fn next_level(&self, _s: Side, _v: u32) -> Option<u32> {
        None
    }
    fn front(&self, _l: &[Link], _s: Side, _v: u32) -> Option<u32> {
        None
    }
    fn visit_level<F: FnMut(u32) -> bool>(&self, _l: &[Link], _s: Side, _v: u32, _f: F) {}
    fn level(&self, _s: Side, _v: u32) -> LevelState {
        LevelState::default()
    }
    fn levels(&self) -> u32 {
        0
    }
}
