//! genesys-etl: Genesys Cloud CX analytics into Parquet and ClickHouse, exactly once.
//!
//! The module tree is the pipeline: `genesys` (fetch) → `pipeline` (channel, pool, reorder,
//! checkpoint) → `transform` (JSON → Arrow) → `sink`; `schema` is the leaf everything
//! reads; `sim` is the local Genesys API used as test oracle and benchmark source.

pub mod schema;
pub mod transform;
pub mod genesys;
pub mod sim;
