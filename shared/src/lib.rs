//! Wire types and the token model shared by the control plane and the data planes.
//!
//! Everything that crosses the boundary between the two planes is defined here: the
//! configuration a data plane receives ([`push`]), the node API it calls back with
//! ([`node`]), and the tokens both sides mint or check ([`token`], [`refresh`]). Keeping them
//! in one crate means a change to the protocol is one change, seen by both sides at compile
//! time.
//!
//! Two small runtime modules live here as well because both binaries need them the same way:
//! layered configuration ([`settings`]) and logging setup ([`telemetry`]).

pub mod aead;
pub mod clock;
pub mod error;
pub mod ids;
pub mod node;
pub mod push;
pub mod refresh;
pub mod secret;
pub mod settings;
pub mod telemetry;
pub mod token;
pub mod x509;

pub use clock::Clock;
