//! The simulator: a faithful local Genesys Cloud API and the oracle tests compare against.
//!
//! `data` generates the org and conversations deterministically from a seed and profile;
//! `oracle` computes the exact expected rows from the same generator without HTTP;
//! `server` serves the real endpoint paths over loopback HTTP.

pub mod bench;
pub mod data;
pub mod faults;
pub mod oracle;
pub mod server;

pub use data::{Generator, PROFILES, Profile, profile};
pub use oracle::{Oracle, oracle};
pub use server::{SimConfig, SimServer};
