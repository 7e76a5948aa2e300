//! Reassembling messages that Aeron split into fragments (longer than the MTU), per publisher
//! session. Aeron's own assembler holds raw pointers and so cannot move between threads; this
//! one is plain data.

use std::collections::HashMap;

use rusteron_client::AeronHeader;

const BEGIN_FRAGMENT: u8 = 0x80;
const END_FRAGMENT: u8 = 0x40;

#[derive(Debug, Default)]
pub(crate) struct Reassembler {
    partial: HashMap<i32, Vec<u8>>,
    /// Fragments dropped because their message's beginning was never seen.
    pub broken: u64,
}

impl Reassembler {
    /// Takes one fragment; calls `on_message` when it completes a message.
    pub(crate) fn on_fragment(&mut self, fragment: &[u8], header: &AeronHeader, on_message: impl FnOnce(&[u8])) {
        let flags = header.get_values().map_or(BEGIN_FRAGMENT | END_FRAGMENT, |v| v.frame.flags);
        let begin = flags & BEGIN_FRAGMENT != 0;
        let end = flags & END_FRAGMENT != 0;
        if begin && end {
            on_message(fragment);
            return;
        }
        let session = header.session_id().unwrap_or(0);
        if begin {
            let mut buf = self.partial.remove(&session).map_or_else(Vec::new, |old| {
                self.broken += 1;
                old
            });
            buf.clear();
            buf.extend_from_slice(fragment);
            self.partial.insert(session, buf);
            return;
        }
        let Some(buf) = self.partial.get_mut(&session) else {
            self.broken += 1;
            return;
        };
        buf.extend_from_slice(fragment);
        if end {
            if let Some(whole) = self.partial.remove(&session) {
                on_message(&whole);
            }
        }
    }
}
