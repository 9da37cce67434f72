//! ClickHouse column types as the Native format needs them: parsed from the type names the
//! schema declares (and the server reports), rendered back for DDL and block headers.
//!
//! Owns: the type grammar subset we read and write. Must not touch: bytes, sockets.

use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChType {
    UInt8,
    UInt16,
    UInt32,
    UInt64,
    Int8,
    Int16,
    Int32,
    Int64,
    Float32,
    Float64,
    String,
    Date,
    /// Seconds since the epoch as UInt32; `tz` is kept verbatim (`'UTC'`).
    DateTime(Option<String>),
    /// Ticks of 10^-precision seconds as Int64.
    DateTime64(u32, Option<String>),
    Nullable(Box<ChType>),
    Array(Box<ChType>),
    LowCardinality(Box<ChType>),
}

impl ChType {
    /// Parses a type name such as `LowCardinality(Nullable(String))` or
    /// `DateTime64(3, 'UTC')`. Unknown names are an error naming them.
    pub fn parse(name: &str) -> Result<ChType, String> {
        let name = name.trim();
        let wrapped = |prefix: &str| {
            name.strip_prefix(prefix)
                .and_then(|r| r.strip_prefix('('))
                .and_then(|r| r.strip_suffix(')'))
        };
        if let Some(inner) = wrapped("Nullable") {
            return Ok(ChType::Nullable(Box::new(ChType::parse(inner)?)));
        }
        if let Some(inner) = wrapped("Array") {
            return Ok(ChType::Array(Box::new(ChType::parse(inner)?)));
        }
        if let Some(inner) = wrapped("LowCardinality") {
            return Ok(ChType::LowCardinality(Box::new(ChType::parse(inner)?)));
        }
        if let Some(args) = wrapped("DateTime64") {
            let mut parts = args.splitn(2, ',');
            let precision = parts
                .next()
                .and_then(|p| p.trim().parse().ok())
                .ok_or_else(|| format!("bad DateTime64 precision in `{name}`"))?;
            let tz = parts.next().map(|t| t.trim().to_string());
            return Ok(ChType::DateTime64(precision, tz));
        }
        if let Some(tz) = wrapped("DateTime") {
            return Ok(ChType::DateTime(Some(tz.trim().to_string())));
        }
        Ok(match name {
            "UInt8" | "Bool" => ChType::UInt8,
            "UInt16" => ChType::UInt16,
            "UInt32" => ChType::UInt32,
            "UInt64" => ChType::UInt64,
            "Int8" => ChType::Int8,
            "Int16" => ChType::Int16,
            "Int32" => ChType::Int32,
            "Int64" => ChType::Int64,
            "Float32" => ChType::Float32,
            "Float64" => ChType::Float64,
            "String" => ChType::String,
            "Date" => ChType::Date,
            "DateTime" => ChType::DateTime(None),
            other => return Err(format!("ClickHouse type `{other}` is not supported")),
        })
    }

    /// Bytes per value of a fixed-width type.
    pub fn fixed_width(&self) -> Option<usize> {
        Some(match self {
            ChType::UInt8 | ChType::Int8 => 1,
            ChType::UInt16 | ChType::Int16 | ChType::Date => 2,
            ChType::UInt32 | ChType::Int32 | ChType::Float32 | ChType::DateTime(_) => 4,
            ChType::UInt64 | ChType::Int64 | ChType::Float64 | ChType::DateTime64(..) => 8,
            _ => return None,
        })
    }
}

impl fmt::Display for ChType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChType::UInt8 => f.write_str("UInt8"),
            ChType::UInt16 => f.write_str("UInt16"),
            ChType::UInt32 => f.write_str("UInt32"),
            ChType::UInt64 => f.write_str("UInt64"),
            ChType::Int8 => f.write_str("Int8"),
            ChType::Int16 => f.write_str("Int16"),
            ChType::Int32 => f.write_str("Int32"),
            ChType::Int64 => f.write_str("Int64"),
            ChType::Float32 => f.write_str("Float32"),
            ChType::Float64 => f.write_str("Float64"),
            ChType::String => f.write_str("String"),
            ChType::Date => f.write_str("Date"),
            ChType::DateTime(None) => f.write_str("DateTime"),
            ChType::DateTime(Some(tz)) => write!(f, "DateTime({tz})"),
            ChType::DateTime64(p, None) => write!(f, "DateTime64({p})"),
            ChType::DateTime64(p, Some(tz)) => write!(f, "DateTime64({p}, {tz})"),
            ChType::Nullable(t) => write!(f, "Nullable({t})"),
            ChType::Array(t) => write!(f, "Array({t})"),
            ChType::LowCardinality(t) => write!(f, "LowCardinality({t})"),
        }
    }
}

/// Type names compare equal when they differ only in spaces (`DateTime64(3,'UTC')`).
pub fn same_type_name(a: &str, b: &str) -> bool {
    a.chars()
        .filter(|c| !c.is_whitespace())
        .eq(b.chars().filter(|c| !c.is_whitespace()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::ALL_TABLES;

    #[test]
    fn every_schema_type_parses_and_renders_back() {
        for legacy in [false, true] {
            for table in ALL_TABLES {
                for col in table.columns {
                    let name = col.ty.clickhouse_type(col.nullable, legacy);
                    let parsed = ChType::parse(&name);
                    assert!(parsed.is_ok(), "{}.{}: {name}", table.name, col.name);
                    let rendered = parsed.map(|t| t.to_string()).unwrap_or_default();
                    assert!(same_type_name(&rendered, &name), "{rendered} vs {name}");
                }
            }
        }
    }

    #[test]
    fn unknown_types_are_named_in_the_error() {
        assert_eq!(
            ChType::parse("Decimal(9, 2)"),
            Err("ClickHouse type `Decimal(9, 2)` is not supported".into())
        );
    }
}
