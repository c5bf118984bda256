//! The regional data plane.
