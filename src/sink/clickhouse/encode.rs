//! Arrow arrays → ClickHouse Native column bytes, one function per type, reading the Arrow
//! buffers directly (no per-value boxing, no row detour).
//!
//! Layouts (ClickHouse `Serialization*::serializeBinaryBulk`): fixed-width values are the
//! little-endian values buffer; String is varint length + bytes per row; Nullable is a
//! byte per row (1 = NULL) and then the nested column with placeholders; Array is the
//! cumulative UInt64 end offsets and then the flattened nested column; LowCardinality is a
//! UInt64 key version (the stream prefix), then UInt64 flags, the dictionary and UInt64
//! row count plus the narrowest unsigned keys.
//!
//! Owns: bytes of one column or block. Must not touch: sockets, SQL, the schema's names.

use arrow_array::cast::AsArray;
use arrow_array::types::ArrowDictionaryKeyType;
use arrow_array::types::{
    Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type, TimestampMillisecondType,
    TimestampSecondType, UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};
use arrow_array::{
    Array, ArrowPrimitiveType, DictionaryArray, PrimitiveArray, RecordBatch, StringArray,
};
use arrow_buffer::ArrowNativeType as _;
use arrow_schema::{DataType, TimeUnit};

use super::types::ChType;
use super::wire::{put_str, put_varint};

/// LowCardinality stream prefix: `SharedDictionariesWithAdditionalKeys`.
const LC_KEY_VERSION: u64 = 1;
/// LowCardinality flag: the dictionary for these rows follows inline.
const LC_HAS_ADDITIONAL_KEYS: u64 = 1 << 9;

/// One column of a block: its name, ClickHouse type and Arrow values.
pub struct BlockColumn<'a> {
    pub name: &'a str,
    pub ty: &'a ChType,
    pub array: &'a dyn Array,
}

/// Encodes a block. `block_info` is true on the wire (client revision > 0) and false for
/// `FORMAT Native` files.
pub fn encode_block(
    columns: &[BlockColumn<'_>],
    rows: usize,
    block_info: bool,
    out: &mut Vec<u8>,
) -> Result<(), String> {
    if block_info {
        // field 1: is_overflows = false; field 2: bucket_num = -1; 0 ends the info.
        put_varint(out, 1);
        out.push(0);
        put_varint(out, 2);
        out.extend_from_slice(&(-1i32).to_le_bytes());
        put_varint(out, 0);
    }
    put_varint(out, columns.len() as u64);
    put_varint(out, rows as u64);
    for col in columns {
        if col.array.len() != rows {
            return Err(format!(
                "column `{}` has {} rows, the block {rows}",
                col.name,
                col.array.len()
            ));
        }
        put_str(out, col.name.as_bytes());
        put_str(out, col.ty.to_string().as_bytes());
        if rows > 0 {
            encode_column(col.array, col.ty, out)
                .map_err(|e| format!("column `{}`: {e}", col.name))?;
        }
    }
    Ok(())
}

/// Encodes a block of `batch`, its columns typed by `types` (same order).
pub fn encode_batch(
    batch: &RecordBatch,
    types: &[ChType],
    block_info: bool,
    out: &mut Vec<u8>,
) -> Result<(), String> {
    let schema = batch.schema();
    let columns: Vec<BlockColumn<'_>> = schema
        .fields()
        .iter()
        .zip(batch.columns())
        .zip(types)
        .map(|((f, a), ty)| BlockColumn {
            name: f.name(),
            ty,
            array: a.as_ref(),
        })
        .collect();
    encode_block(&columns, batch.num_rows(), block_info, out)
}

/// Encodes `array` as a column of type `ty` (prefix included for LowCardinality).
pub fn encode_column(array: &dyn Array, ty: &ChType, out: &mut Vec<u8>) -> Result<(), String> {
    match ty {
        ChType::Nullable(inner) => nullable(array, inner, out),
        ChType::Array(inner) => list(array, inner, out),
        ChType::LowCardinality(inner) => low_cardinality(array, inner, out),
        ChType::String => string(array, out),
        ChType::DateTime(_) => date_time(array, out),
        ChType::DateTime64(3, _) => date_time64_ms(array, out),
        ChType::UInt8 if matches!(array.data_type(), DataType::Boolean) => boolean(array, out),
        ChType::UInt8 => fixed::<UInt8Type>(array, out),
        ChType::UInt16 => fixed::<UInt16Type>(array, out),
        ChType::UInt32 => fixed::<UInt32Type>(array, out),
        ChType::UInt64 => fixed::<UInt64Type>(array, out),
        ChType::Int8 => fixed::<Int8Type>(array, out),
        ChType::Int16 => fixed::<Int16Type>(array, out),
        ChType::Int32 => fixed::<Int32Type>(array, out),
        ChType::Int64 => fixed::<Int64Type>(array, out),
        ChType::Float32 => fixed::<Float32Type>(array, out),
        ChType::Float64 => fixed::<Float64Type>(array, out),
        other => Err(format!("encoding {other} is not supported")),
    }
}

fn mismatch(array: &dyn Array, ty: &str) -> String {
    format!("Arrow {} cannot be written as {ty}", array.data_type())
}

/// Fixed width: the values buffer is already the Native layout (little-endian targets).
fn fixed<T: ArrowPrimitiveType>(array: &dyn Array, out: &mut Vec<u8>) -> Result<(), String> {
    let a: &PrimitiveArray<T> = array
        .as_primitive_opt::<T>()
        .ok_or_else(|| mismatch(array, &T::DATA_TYPE.to_string()))?;
    out.extend_from_slice(a.values().inner().as_slice());
    Ok(())
}

fn boolean(array: &dyn Array, out: &mut Vec<u8>) -> Result<(), String> {
    let a = array
        .as_boolean_opt()
        .ok_or_else(|| mismatch(array, "UInt8"))?;
    out.extend(a.values().iter().map(u8::from));
    Ok(())
}

fn string(array: &dyn Array, out: &mut Vec<u8>) -> Result<(), String> {
    // Parent ids (`schema::ColumnType::ParentId`, UInt32 keys) and labels (`Label`, Int32
    // keys): each row's value from the dictionary.
    if let Some(d) = array.as_dictionary_opt::<UInt32Type>() {
        return dictionary_strings(d, out);
    }
    if let Some(d) = array.as_dictionary_opt::<Int32Type>() {
        return dictionary_strings(d, out);
    }
    let a: &StringArray = array
        .as_string_opt::<i32>()
        .ok_or_else(|| mismatch(array, "String"))?;
    let offsets = a.value_offsets();
    let values = a.values().as_slice();
    out.reserve(values.len() + a.len());
    for w in offsets.windows(2) {
        // Null slots hold an empty or arbitrary range; Nullable's map says they are NULL.
        put_str(out, &values[w[0] as usize..w[1] as usize]);
    }
    Ok(())
}

/// `String` rows from a dictionary of strings: each row's entry.
fn dictionary_strings<K: ArrowDictionaryKeyType>(
    d: &DictionaryArray<K>,
    out: &mut Vec<u8>,
) -> Result<(), String> {
    let values = d
        .values()
        .as_string_opt::<i32>()
        .ok_or_else(|| mismatch(d, "String"))?;
    let keys = d.keys();
    for (i, k) in keys.values().iter().enumerate() {
        // A null row (Nullable's map marks it) gets a placeholder, as in `string`.
        let v = match k.to_usize() {
            Some(k) if keys.is_valid(i) && k < values.len() => values.value(k).as_bytes(),
            _ => b"",
        };
        put_str(out, v);
    }
    Ok(())
}

/// DateTime: UInt32 seconds. Milliseconds are floored; instants outside 1970..2106 clamp.
fn date_time(array: &dyn Array, out: &mut Vec<u8>) -> Result<(), String> {
    let secs = |v: i64| v.clamp(0, i64::from(u32::MAX)) as u32;
    match array.data_type() {
        DataType::Timestamp(TimeUnit::Millisecond, _) => {
            let a = array.as_primitive::<TimestampMillisecondType>();
            out.reserve(a.len() * 4);
            for v in a.values() {
                out.extend_from_slice(&secs(v.div_euclid(1000)).to_le_bytes());
            }
        }
        DataType::Timestamp(TimeUnit::Second, _) => {
            let a = array.as_primitive::<TimestampSecondType>();
            out.reserve(a.len() * 4);
            for v in a.values() {
                out.extend_from_slice(&secs(*v).to_le_bytes());
            }
        }
        _ => return Err(mismatch(array, "DateTime")),
    }
    Ok(())
}

/// DateTime64(3): Int64 milliseconds, the Arrow buffer as is.
fn date_time64_ms(array: &dyn Array, out: &mut Vec<u8>) -> Result<(), String> {
    let a = array
        .as_primitive_opt::<TimestampMillisecondType>()
        .ok_or_else(|| mismatch(array, "DateTime64(3)"))?;
    out.extend_from_slice(a.values().inner().as_slice());
    Ok(())
}

fn nullable(array: &dyn Array, inner: &ChType, out: &mut Vec<u8>) -> Result<(), String> {
    match array.logical_nulls() {
        Some(nulls) => out.extend(nulls.iter().map(|valid| u8::from(!valid))),
        None => out.resize(out.len() + array.len(), 0),
    }
    encode_column(array, inner, out)
}

/// Array(T): end offsets relative to the first, then the nested values of those rows.
/// A NULL list is written as an empty array (ClickHouse arrays are not Nullable).
fn list(array: &dyn Array, inner: &ChType, out: &mut Vec<u8>) -> Result<(), String> {
    let a = array
        .as_list_opt::<i32>()
        .ok_or_else(|| mismatch(array, "Array"))?;
    let offsets = a.value_offsets();
    let first = offsets.first().copied().unwrap_or(0);
    let last = offsets.last().copied().unwrap_or(0);
    for end in &offsets[1..] {
        out.extend_from_slice(&((end - first) as u64).to_le_bytes());
    }
    let values = a.values().slice(first as usize, (last - first) as usize);
    encode_column(values.as_ref(), inner, out)
}

/// LowCardinality(String) and LowCardinality(Nullable(String)) from a dictionary array
/// (or a plain string array, dictionary-encoded here). For the Nullable form, dictionary
/// slot 0 stands for NULL and slot 1 for the default value, as ClickHouse lays it out.
fn low_cardinality(array: &dyn Array, inner: &ChType, out: &mut Vec<u8>) -> Result<(), String> {
    let nullable = match inner {
        ChType::String => false,
        ChType::Nullable(t) if **t == ChType::String => true,
        other => return Err(format!("LowCardinality({other}) is not supported")),
    };
    let (dict, keys): (StringArray, Vec<Option<u64>>) = match array.as_dictionary_opt::<Int32Type>()
    {
        Some(d) => {
            let values = d
                .values()
                .as_string_opt::<i32>()
                .ok_or_else(|| mismatch(d.values().as_ref(), "LowCardinality(String)"))?
                .clone();
            let keys = d.keys().iter().map(|k| k.map(|k| k as u64)).collect();
            (values, keys)
        }
        None => {
            let a = array
                .as_string_opt::<i32>()
                .ok_or_else(|| mismatch(array, "LowCardinality(String)"))?;
            let mut seen = std::collections::HashMap::new();
            let mut values: Vec<&str> = Vec::new();
            let keys = a
                .iter()
                .map(|v| {
                    v.map(|s| {
                        *seen.entry(s).or_insert_with(|| {
                            values.push(s);
                            values.len() as u64 - 1
                        })
                    })
                })
                .collect();
            (StringArray::from(values), keys)
        }
    };
    let shift = if nullable { 2 } else { 0 };
    let dict_len = dict.len() as u64 + shift;
    let (key_type, width) = match dict_len {
        0..=0x100 => (0u64, 1usize),
        0x101..=0x1_0000 => (1, 2),
        _ => (2, 4),
    };
    out.extend_from_slice(&LC_KEY_VERSION.to_le_bytes());
    out.extend_from_slice(&(LC_HAS_ADDITIONAL_KEYS | key_type).to_le_bytes());
    out.extend_from_slice(&dict_len.to_le_bytes());
    if nullable {
        put_str(out, b"");
        put_str(out, b"");
    }
    string(&dict, out)?;
    out.extend_from_slice(&(keys.len() as u64).to_le_bytes());
    for key in keys {
        let k = match key {
            Some(k) => k + shift,
            None if nullable => 0,
            None => return Err("NULL in a LowCardinality(String) (not Nullable) column".into()),
        };
        out.extend_from_slice(&k.to_le_bytes()[..width]);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::builder::{ListBuilder, StringBuilder, StringDictionaryBuilder};
    use arrow_array::{
        ArrayRef, BooleanArray, Float64Array, Int8Array, Int64Array, TimestampMillisecondArray,
        UInt16Array, UInt32Array,
    };

    use super::*;
    use crate::sink::clickhouse::decode::{Value, read_block};

    fn round_trip(array: ArrayRef, ty: &str) -> Vec<Value> {
        let ty = ChType::parse(ty).unwrap_or(ChType::String);
        let mut out = Vec::new();
        let col = BlockColumn {
            name: "c",
            ty: &ty,
            array: array.as_ref(),
        };
        let r = encode_block(&[col], array.len(), true, &mut out);
        assert_eq!(r, Ok(()));
        let mut input = &out[..];
        let block = read_block(&mut input, true).map_err(|e| e.to_string());
        assert!(input.is_empty(), "trailing bytes");
        let block = block.unwrap_or_default();
        assert_eq!(block.columns, [("c".to_string(), ty.to_string())]);
        block.data.into_iter().next().unwrap_or_default()
    }

    fn s(v: &str) -> Value {
        Value::Str(v.into())
    }

    #[test]
    fn fixed_width_columns_are_the_arrow_values() {
        assert_eq!(
            round_trip(Arc::new(UInt16Array::from(vec![0, 65535])), "UInt16"),
            [Value::UInt(0), Value::UInt(65535)]
        );
        assert_eq!(
            round_trip(Arc::new(Int8Array::from(vec![-128, 5])), "Int8"),
            [Value::Int(-128), Value::Int(5)]
        );
        assert_eq!(
            round_trip(Arc::new(Float64Array::from(vec![1.5, -0.25])), "Float64"),
            [Value::Float(1.5), Value::Float(-0.25)]
        );
        assert_eq!(
            round_trip(Arc::new(BooleanArray::from(vec![true, false])), "UInt8"),
            [Value::UInt(1), Value::UInt(0)]
        );
        // A slice starts at its offset, not at the buffer's start.
        let sliced = UInt32Array::from(vec![7, 8, 9]).slice(1, 2);
        assert_eq!(
            round_trip(Arc::new(sliced), "UInt32"),
            [Value::UInt(8), Value::UInt(9)]
        );
    }

    #[test]
    fn timestamps_become_datetime_seconds_or_datetime64_millis() {
        let ts = || {
            Arc::new(
                TimestampMillisecondArray::from(vec![1_709_546_400_123, 1_709_546_401_999])
                    .with_timezone("UTC"),
            ) as ArrayRef
        };
        assert_eq!(
            round_trip(ts(), "DateTime('UTC')"),
            [Value::UInt(1_709_546_400), Value::UInt(1_709_546_401)]
        );
        assert_eq!(
            round_trip(ts(), "DateTime64(3, 'UTC')"),
            [Value::Int(1_709_546_400_123), Value::Int(1_709_546_401_999)]
        );
    }

    #[test]
    fn nullable_strings_and_numbers_keep_their_nulls() {
        let a = StringArray::from(vec![Some("a"), None, Some("ccc")]);
        assert_eq!(
            round_trip(Arc::new(a), "Nullable(String)"),
            [s("a"), Value::Null, s("ccc")]
        );
        let n = Int64Array::from(vec![None, Some(-3)]);
        assert_eq!(
            round_trip(Arc::new(n), "Nullable(Int64)"),
            [Value::Null, Value::Int(-3)]
        );
    }

    #[test]
    fn lists_become_arrays_and_a_null_list_is_empty() {
        let mut b = ListBuilder::new(StringBuilder::new());
        b.values().append_value("x");
        b.values().append_value("y");
        b.append(true);
        b.append(false);
        b.append(true);
        b.values().append_value("z");
        b.append(true);
        let list = b.finish().slice(0, 4);
        assert_eq!(
            round_trip(Arc::new(list), "Array(String)"),
            [
                Value::Array(vec![s("x"), s("y")]),
                Value::Array(vec![]),
                Value::Array(vec![]),
                Value::Array(vec![s("z")]),
            ]
        );
    }

    #[test]
    fn dictionaries_become_low_cardinality_with_and_without_nulls() {
        let mut b = StringDictionaryBuilder::<Int32Type>::new();
        b.append_value("voice");
        b.append_null();
        b.append_value("chat");
        b.append_value("voice");
        let dict: ArrayRef = Arc::new(b.finish());
        assert_eq!(
            round_trip(dict, "LowCardinality(Nullable(String))"),
            [s("voice"), Value::Null, s("chat"), s("voice")]
        );
        let mut b = StringDictionaryBuilder::<Int32Type>::new();
        for i in 0..300 {
            b.append_value(format!("v{i}"));
        }
        let wide: ArrayRef = Arc::new(b.finish());
        let back = round_trip(wide, "LowCardinality(String)");
        assert_eq!((back.len(), &back[299]), (300, &s("v299")));
        // Plain strings are dictionary-encoded on the way.
        let plain: ArrayRef = Arc::new(StringArray::from(vec!["a", "b", "a"]));
        assert_eq!(
            round_trip(plain, "LowCardinality(String)"),
            [s("a"), s("b"), s("a")]
        );
    }

    #[test]
    fn labels_and_parent_ids_become_strings_from_their_dictionaries() {
        // A label column (`ColumnType::Label`): Int32 keys, nullable.
        let mut b = StringDictionaryBuilder::<Int32Type>::new();
        b.append_value("queue-a");
        b.append_null();
        b.append_value("queue-b");
        b.append_value("queue-a");
        let label: ArrayRef = Arc::new(b.finish());
        assert_eq!(
            round_trip(label, "Nullable(String)"),
            [s("queue-a"), Value::Null, s("queue-b"), s("queue-a")]
        );
        // Parent ids: UInt32 keys, required.
        let mut b = StringDictionaryBuilder::<UInt32Type>::new();
        for v in ["c1", "c1", "c2"] {
            b.append_value(v);
        }
        let parents: ArrayRef = Arc::new(b.finish());
        assert_eq!(round_trip(parents, "String"), [s("c1"), s("c1"), s("c2")]);
    }

    #[test]
    fn a_type_the_array_cannot_fill_is_an_error_naming_both() {
        let mut out = Vec::new();
        let a = StringArray::from(vec!["x"]);
        let e = encode_column(&a, &ChType::UInt64, &mut out);
        assert_eq!(e, Err("Arrow Utf8 cannot be written as UInt64".into()));
    }
}
