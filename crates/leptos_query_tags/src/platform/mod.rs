//! What differs between the browser and a native process, chosen in this one place: the clock,
//! timers, running work in a later task, and the defaults that depend on the side.
//! `browser.rs` with `hydrate` or `csr`, `native.rs` otherwise (the server, tests). The rest of
//! the crate calls these and never asks which side it runs on.

#[cfg(any(feature = "hydrate", feature = "csr"))]
#[path = "browser.rs"]
mod side;

#[cfg(not(any(feature = "hydrate", feature = "csr")))]
#[path = "native.rs"]
mod side;

pub(crate) use side::{after, now, sleep, warn, DEFAULT_RETRY};
