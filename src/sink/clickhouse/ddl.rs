//! DDL generated from the same `TableDef`s as the Parquet files: idempotent
//! `CREATE … IF NOT EXISTS`, `ReplacingMergeTree(_version)` so a replayed page replaces its
//! rows, and a `<table>_latest` view that returns only the newest version of each key.
//!
//! Owns: SQL text for schema objects and identifier quoting. Must not touch: sockets.

use super::types::ChType;
use crate::schema::{ALL_TABLES, TableDef};

/// Session setting that lets 18.x servers create LowCardinality columns.
pub const LEGACY_LOW_CARDINALITY_SETTING: &str = "allow_experimental_low_cardinality_type";

/// Database names we accept: what ClickHouse accepts unquoted, so no quoting surprises.
pub fn validate_identifier(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is not a valid database name: use letters, digits and _, not starting with a digit"
        ))
    }
}

/// Backtick-quotes an identifier (validated names never need the escapes, but be safe).
pub fn quote(name: &str) -> String {
    format!("`{}`", name.replace('\\', "\\\\").replace('`', "\\`"))
}

/// A single-quoted SQL string literal.
pub fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// The ClickHouse type of each column of `table`.
pub fn column_types(table: &TableDef, legacy: bool) -> Vec<String> {
    table
        .columns
        .iter()
        .map(|c| c.ty.clickhouse_type(c.nullable, legacy))
        .collect()
}

/// The ClickHouse types of `table`'s columns, parsed for the encoder.
pub fn parsed_types(table: &TableDef, legacy: bool) -> Result<Vec<ChType>, String> {
    column_types(table, legacy)
        .iter()
        .map(|n| ChType::parse(n))
        .collect()
}

pub fn create_database(db: &str) -> String {
    format!("CREATE DATABASE IF NOT EXISTS {}", quote(db))
}

pub fn create_table(db: &str, table: &TableDef, legacy: bool) -> String {
    let columns: Vec<String> = table
        .columns
        .iter()
        .zip(column_types(table, legacy))
        .map(|(c, ty)| format!("    {} {ty}", quote(c.name)))
        .collect();
    let key: Vec<String> = table.key.iter().map(|k| quote(k)).collect();
    format!(
        "CREATE TABLE IF NOT EXISTS {}.{} (\n{}\n) ENGINE = ReplacingMergeTree({})\nPARTITION BY {}\nORDER BY ({})",
        quote(db),
        quote(table.name),
        columns.join(",\n"),
        quote(table.version),
        table.partition_by,
        key.join(", ")
    )
}

/// The view that returns the newest version of each key (merges may not have run yet).
pub fn create_latest_view(db: &str, table: &TableDef) -> String {
    format!(
        "CREATE VIEW IF NOT EXISTS {}.{} AS SELECT * FROM {}.{} FINAL",
        quote(db),
        quote(&format!("{}_latest", table.name)),
        quote(db),
        quote(table.name)
    )
}

/// Every statement, in order: database, tables, views.
pub fn statements(db: &str, legacy: bool) -> Vec<String> {
    let mut out = vec![create_database(db)];
    out.extend(ALL_TABLES.iter().map(|t| create_table(db, t, legacy)));
    out.extend(ALL_TABLES.iter().map(|t| create_latest_view(db, t)));
    out
}

/// The script `genesys-etl ddl` prints: runnable with `clickhouse-client --multiquery`.
pub fn script(db: &str, legacy: bool) -> String {
    let mut out = String::new();
    if legacy {
        out.push_str(&format!(
            "-- legacy server (no DateTime64): timestamps are DateTime('UTC'), whole seconds\nSET {LEGACY_LOW_CARDINALITY_SETTING} = 1;\n\n"
        ));
    }
    for s in statements(db, legacy) {
        out.push_str(&s);
        out.push_str(";\n\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::SEGMENTS;

    #[test]
    fn tables_replace_by_version_and_sort_by_their_key() {
        let sql = create_table("cx", &SEGMENTS, false);
        assert!(sql.starts_with("CREATE TABLE IF NOT EXISTS `cx`.`segments` ("));
        assert!(sql.contains("ENGINE = ReplacingMergeTree(`_version`)"));
        assert!(sql.contains("PARTITION BY toYYYYMM(conversation_start)"));
        assert!(sql.contains("`conversation_start` DateTime64(3, 'UTC')"));
        assert!(
            create_table("cx", &SEGMENTS, true).contains("`conversation_start` DateTime('UTC')")
        );
        assert!(sql.ends_with(&format!(
            "ORDER BY ({})",
            SEGMENTS.key.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")
        )));
    }

    #[test]
    fn database_names_are_validated_and_literals_escaped() {
        assert!(validate_identifier("genesys_cx").is_ok());
        for bad in ["", "1db", "a-b", "a`b", "x; DROP TABLE y"] {
            assert!(validate_identifier(bad).is_err(), "{bad}");
        }
        assert_eq!(literal("it's"), "'it\\'s'");
    }
}
