//! The exchange as a library: the Aeron transport the services use, and [`stack`], the whole
//! exchange in one process for end-to-end tests and benchmarks.

pub mod stack;
pub mod transport;
