//! genesys-etl: Genesys Cloud CX analytics into Parquet and ClickHouse, exactly once.
//!
//! The module tree is the pipeline: `genesys` (fetch) → `pipeline` (channel, pool, reorder,
//! checkpoint) → `transform` (JSON → Arrow) → `sink`; `schema` is the leaf everything
//! reads; `sim` is the local Genesys API used as test oracle and benchmark source.

#![cfg_attr(test, allow(clippy::panic, clippy::unwrap_used, clippy::expect_used))]

pub mod alloc;
pub mod checkpoint;
pub mod cli;
pub mod genesys;
pub mod interrupt;
pub mod page;
pub mod pipeline;
pub mod progress;
pub mod run;
pub mod schema;
pub mod sim;
pub mod sink;
pub mod transform;
