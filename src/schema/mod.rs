//! Table definitions: the one place a column is declared.
//!
//! Owns: every output table's columns (name, API source, Arrow type, nullability), its key,
//! partition and version column. The transform's builders, the Parquet writer and the
//! ClickHouse DDL are all generated from these definitions; nothing else lists columns.
//! Must not touch: I/O, parsing, or any other module (this is a leaf).

mod tables;

use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};

pub use tables::{
    ALL_TABLES, CONVERSATIONS, PARTICIPANT_ATTRIBUTES, PARTICIPANTS, SEGMENTS, SESSION_METRICS,
    SESSIONS, TableId,
};

/// Logical column type. Each maps to one Arrow type and one ClickHouse type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColumnType {
    /// Free text or ids.
    Utf8,
    /// An id every child row repeats from its enclosing record (`conversation_id` on a
    /// segment). Stored and served as text (`String`), but held in memory as a dictionary
    /// of the parents in order with a 4-byte key per row: a copy of a 36-byte id per row
    /// was half the Arrow memory of `session_metrics` and `segments`, and an eighth of the
    /// page transform. Keys never decrease, so the Parquet sink finds the runs in them.
    /// Its Arrow type, `Dictionary(UInt32, Utf8)`, is this column type's alone.
    ParentId,
    /// An API enumeration kept as the API's string (dictionary / LowCardinality).
    Enum,
    /// Text from the org's configuration that recurs across rows: ids and names of queues,
    /// agents, teams, flows, edges, wrap-up codes, campaigns, attribute names. Stored and
    /// served as text (`String`), like `Utf8`, but built in memory as a dictionary with a
    /// 4-byte key per row and written to Parquet as dictionary pages: the same few hundred
    /// ids repeated as 36-byte copies were about a seventh of a month's uncompressed column
    /// bytes, copied into PLAIN pages for zstd to find the repeats again. Its in-memory Arrow type is the
    /// enumerations' (`Dictionary(Int32, Utf8)`); the field's `STORED_AS_TEXT` metadata
    /// tells `stored_schema` to declare it as text.
    Label,
    /// ISO-8601 instant stored as epoch milliseconds, UTC.
    TimestampMs,
    Int32,
    Int64,
    UInt32,
    UInt64,
    Float64,
    Bool,
    /// Array of strings.
    Utf8List,
}

/// Where a column's value comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// A field of this record's own JSON object (camelCase API name).
    Field(&'static str),
    /// A field of a nested object of this record (`flow.entryReason` → `("flow", "entryReason")`).
    Nested(&'static str, &'static str),
    /// Inherited from an enclosing record (parent ids, `conversation_start`) or the position
    /// of this record in its parent's array, or a map key/value; filled by the transform.
    Context,
    /// Extraction time in ms; the newest copy wins in `ReplacingMergeTree(_version)`.
    Version,
    /// JSON object holding the fields of this level that the schema does not type.
    Extra,
}

#[derive(Clone, Copy, Debug)]
pub struct ColumnDef {
    pub name: &'static str,
    pub ty: ColumnType,
    pub nullable: bool,
    pub source: Source,
}

#[derive(Debug)]
pub struct TableDef {
    pub id: TableId,
    pub name: &'static str,
    pub columns: &'static [ColumnDef],
    /// Sort key (ClickHouse `ORDER BY`); together it identifies a row.
    pub key: &'static [&'static str],
    /// ClickHouse partition expression.
    pub partition_by: &'static str,
    /// Column whose value decides which copy of a key is newest.
    pub version: &'static str,
}

/// Name of the column every table carries with the extraction time.
pub const VERSION_COLUMN: &str = "_version";
/// Name of the column every table carries with untyped fields as JSON.
pub const EXTRA_COLUMN: &str = "_extra";
/// Column that decides a row's Hive `date=` partition and ClickHouse partition.
pub const PARTITION_COLUMN: &str = "conversation_start";

/// Arrow type of `ColumnType::ParentId` columns.
pub fn parent_id_type() -> DataType {
    DataType::Dictionary(Box::new(DataType::UInt32), Box::new(DataType::Utf8))
}

/// Field metadata key of `ColumnType::Label` columns in the in-memory schema: files
/// declare these as text (`stored_schema`).
pub const STORED_AS_TEXT: &str = "genesys_etl.stored_as_text";

/// `schema` as files declare it: parent ids and labels as the text they are (`Utf8`), so
/// readers see strings, not the in-memory dictionaries.
pub fn stored_schema(schema: &Schema) -> Schema {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| {
            if *f.data_type() == parent_id_type() || f.metadata().contains_key(STORED_AS_TEXT) {
                let mut metadata = f.metadata().clone();
                metadata.remove(STORED_AS_TEXT);
                f.as_ref()
                    .clone()
                    .with_data_type(DataType::Utf8)
                    .with_metadata(metadata)
            } else {
                f.as_ref().clone()
            }
        })
        .collect();
    Schema::new_with_metadata(fields, schema.metadata().clone())
}

impl ColumnType {
    pub fn arrow_type(self) -> DataType {
        match self {
            ColumnType::Utf8 => DataType::Utf8,
            ColumnType::ParentId => parent_id_type(),
            ColumnType::Enum | ColumnType::Label => {
                DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
            }
            ColumnType::TimestampMs => {
                DataType::Timestamp(TimeUnit::Millisecond, Some(Arc::from("UTC")))
            }
            ColumnType::Int32 => DataType::Int32,
            ColumnType::Int64 => DataType::Int64,
            ColumnType::UInt32 => DataType::UInt32,
            ColumnType::UInt64 => DataType::UInt64,
            ColumnType::Float64 => DataType::Float64,
            ColumnType::Bool => DataType::Boolean,
            ColumnType::Utf8List => {
                DataType::List(Arc::new(Field::new("item", DataType::Utf8, true)))
            }
        }
    }

    /// ClickHouse type for this column. `legacy` targets servers without `DateTime64`
    /// (Debian's 18.16), where timestamps are second-resolution `DateTime('UTC')`.
    pub fn clickhouse_type(self, nullable: bool, legacy: bool) -> String {
        let base = match self {
            ColumnType::Utf8 | ColumnType::ParentId | ColumnType::Label => "String",
            ColumnType::Enum => {
                return if nullable {
                    "LowCardinality(Nullable(String))".into()
                } else {
                    "LowCardinality(String)".into()
                };
            }
            ColumnType::TimestampMs if legacy => "DateTime('UTC')",
            ColumnType::TimestampMs => "DateTime64(3, 'UTC')",
            ColumnType::Int32 => "Int32",
            ColumnType::Int64 => "Int64",
            ColumnType::UInt32 => "UInt32",
            ColumnType::UInt64 => "UInt64",
            ColumnType::Float64 => "Float64",
            ColumnType::Bool => "UInt8",
            // ClickHouse arrays cannot be Nullable; an absent array is stored empty.
            ColumnType::Utf8List => return "Array(String)".into(),
        };
        if nullable {
            format!("Nullable({base})")
        } else {
            base.to_string()
        }
    }
}

impl TableDef {
    /// Arrow schema of this table, in declaration order.
    pub fn arrow_schema(&self) -> SchemaRef {
        let fields: Vec<Field> = self
            .columns
            .iter()
            .map(|c| {
                let field = Field::new(c.name, c.ty.arrow_type(), c.nullable);
                if c.ty == ColumnType::Label {
                    field.with_metadata(
                        arrow_schema::Metadata::default().with(STORED_AS_TEXT, "true"),
                    )
                } else {
                    field
                }
            })
            .collect();
        Arc::new(Schema::new(fields))
    }

    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }
}

/// Converts an API camelCase field name into the snake_case column name used everywhere
/// (`mediaStatsMinConversationMos` → `media_stats_min_conversation_mos`).
pub fn snake_case(camel: &str) -> String {
    let mut out = String::with_capacity(camel.len() + 4);
    for (i, ch) in camel.chars().enumerate() {
        if ch.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(ch.to_ascii_lowercase());
        } else {
            out.push(ch);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_names_are_the_api_names_in_snake_case() {
        for table in ALL_TABLES {
            for col in table.columns {
                let expected = match col.source {
                    Source::Field(f) => snake_case(f),
                    Source::Nested(prefix, f) => format!("{prefix}_{}", snake_case(f)),
                    _ => continue,
                };
                assert_eq!(col.name, expected, "table {}", table.name);
            }
        }
    }

    #[test]
    fn every_table_has_version_extra_key_and_partition_columns() {
        for table in ALL_TABLES {
            assert!(table.index_of(VERSION_COLUMN).is_some(), "{}", table.name);
            assert!(table.index_of(EXTRA_COLUMN).is_some(), "{}", table.name);
            assert!(table.index_of(PARTITION_COLUMN).is_some(), "{}", table.name);
            for k in table.key {
                let idx = table
                    .index_of(k)
                    .unwrap_or_else(|| panic!("{}: key {k}", table.name));
                assert!(
                    !table.columns[idx].nullable,
                    "{}: key {k} nullable",
                    table.name
                );
            }
        }
    }

    #[test]
    fn column_names_are_unique_and_fit_a_bitmask() {
        for table in ALL_TABLES {
            let mut names: Vec<_> = table.columns.iter().map(|c| c.name).collect();
            names.sort_unstable();
            names.dedup();
            assert_eq!(names.len(), table.columns.len(), "{}", table.name);
            assert!(table.columns.len() <= 128, "{}", table.name);
        }
    }

    #[test]
    fn files_declare_parent_ids_and_labels_as_text_and_enumerations_as_dictionaries() {
        for table in ALL_TABLES {
            let stored = stored_schema(&table.arrow_schema());
            for (col, field) in table.columns.iter().zip(stored.fields()) {
                let expected = match col.ty {
                    ColumnType::ParentId | ColumnType::Label => DataType::Utf8,
                    other => other.arrow_type(),
                };
                assert_eq!(field.data_type(), &expected, "{}.{}", table.name, col.name);
                assert!(field.metadata().is_empty(), "{}.{}", table.name, col.name);
            }
        }
    }

    #[test]
    fn snake_case_matches_design_examples() {
        assert_eq!(snake_case("conversationStart"), "conversation_start");
        assert_eq!(
            snake_case("mediaStatsMinConversationMos"),
            "media_stats_min_conversation_mos"
        );
    }
}
