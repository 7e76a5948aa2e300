//! A stack dropped without `Stack::stop` (a test that panics, say) shuts itself down instead of
//! hanging the test binary.

use std::net::TcpStream;
use std::sync::mpsc;
use std::time::Duration;

use exchange::stack::Stack;

/// Long enough for a stack to start and stop on a busy 2-core machine.
const BOUND: Duration = Duration::from_secs(120);

#[test]
fn dropping_a_running_stack_stops_it() {
    let (done, finished) = mpsc::channel();
    std::thread::spawn(move || {
        let mut stack = Stack::start();
        stack.market();
        let addr = stack.addr;
        drop(stack);
        let _ = done.send(addr);
    });
    let addr = finished.recv_timeout(BOUND).expect("dropping the stack did not finish");
    assert!(TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err(), "the gateway still listens on {addr}");
}

#[test]
fn a_test_that_panics_with_a_running_stack_fails_and_does_not_hang() {
    let (done, finished) = mpsc::channel();
    std::thread::spawn(move || {
        let unwound = std::panic::catch_unwind(|| {
            let mut stack = Stack::start();
            stack.market();
            panic!("a failing assertion");
        });
        let _ = done.send(unwound.is_err());
    });
    assert!(finished.recv_timeout(BOUND).expect("unwinding past the stack did not finish"));
}
