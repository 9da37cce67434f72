//! ClickHouse Native blocks → plain values: what the client needs to read query results,
//! INSERT headers and server log blocks, and what the tests use to check the encoder.
//!
//! Owns: parsing a block from bytes. Must not touch: sockets, Arrow.

use std::io::{self, Read};

use super::types::ChType;
use super::wire::{invalid, read_array, read_bytes, read_u8, read_varint};

/// One decoded cell.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    UInt(u64),
    Int(i64),
    Float(f64),
    Str(String),
    Array(Vec<Value>),
}

impl Value {
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Value::UInt(v) => Some(*v),
            Value::Int(v) => u64::try_from(*v).ok(),
            _ => None,
        }
    }
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
}

/// A decoded block: column names and types, and the values column by column.
#[derive(Debug, Default)]
pub struct Block {
    pub columns: Vec<(String, String)>,
    pub data: Vec<Vec<Value>>,
    pub rows: usize,
}

impl Block {
    /// Row `i` as a vector of values.
    pub fn row(&self, i: usize) -> Vec<Value> {
        self.data.iter().map(|c| c[i].clone()).collect()
    }
}

/// Reads a block; `block_info` as in `encode_block`.
pub fn read_block(r: &mut impl Read, block_info: bool) -> io::Result<Block> {
    if block_info {
        loop {
            match read_varint(r)? {
                0 => break,
                1 => {
                    read_u8(r)?;
                }
                2 => {
                    read_array::<4>(r)?;
                }
                f => return Err(invalid(&format!("unknown block info field {f}"))),
            }
        }
    }
    let ncols = read_varint(r)? as usize;
    let rows = read_varint(r)? as usize;
    let mut block = Block {
        rows,
        ..Default::default()
    };
    for _ in 0..ncols {
        let name = String::from_utf8_lossy(&read_bytes(r)?).into_owned();
        let ty_name = String::from_utf8_lossy(&read_bytes(r)?).into_owned();
        let values = if rows == 0 {
            Vec::new()
        } else {
            let ty = ChType::parse(&ty_name).map_err(|e| invalid(&e))?;
            read_column(r, &ty, rows)?
        };
        block.columns.push((name, ty_name));
        block.data.push(values);
    }
    Ok(block)
}

/// Reads `rows` values of type `ty`.
pub fn read_column(r: &mut impl Read, ty: &ChType, rows: usize) -> io::Result<Vec<Value>> {
    if let Some(width) = ty.fixed_width() {
        let mut buf = vec![0u8; width * rows];
        r.read_exact(&mut buf)?;
        return Ok(buf
            .chunks_exact(width)
            .map(|b| fixed_value(ty, b))
            .collect());
    }
    match ty {
        ChType::String => (0..rows)
            .map(|_| {
                Ok(Value::Str(
                    String::from_utf8_lossy(&read_bytes(r)?).into_owned(),
                ))
            })
            .collect(),
        ChType::Nullable(inner) => {
            let mut map = vec![0u8; rows];
            r.read_exact(&mut map)?;
            let values = read_column(r, inner, rows)?;
            Ok(values
                .into_iter()
                .zip(map)
                .map(|(v, null)| if null == 0 { v } else { Value::Null })
                .collect())
        }
        ChType::Array(inner) => {
            let mut ends = Vec::with_capacity(rows);
            for _ in 0..rows {
                ends.push(u64::from_le_bytes(read_array(r)?) as usize);
            }
            let total = ends.last().copied().unwrap_or(0);
            let mut flat = read_column(r, inner, total)?.into_iter();
            let mut start = 0;
            let mut out = Vec::with_capacity(rows);
            for end in ends {
                if end < start {
                    return Err(invalid("decreasing array offsets"));
                }
                out.push(Value::Array(flat.by_ref().take(end - start).collect()));
                start = end;
            }
            Ok(out)
        }
        ChType::LowCardinality(inner) => {
            let _key_version = u64::from_le_bytes(read_array(r)?);
            let flags = u64::from_le_bytes(read_array(r)?);
            if flags & (1 << 9) == 0 {
                return Err(invalid("LowCardinality without inline dictionary"));
            }
            let width = 1usize << (flags & 0xff);
            let dict_len = u64::from_le_bytes(read_array(r)?) as usize;
            let (nested, nullable) = match &**inner {
                ChType::Nullable(t) => (&**t, true),
                t => (t, false),
            };
            let dict = read_column(r, nested, dict_len)?;
            let n = u64::from_le_bytes(read_array(r)?) as usize;
            if n != rows {
                return Err(invalid("LowCardinality row count differs from the block's"));
            }
            let mut out = Vec::with_capacity(rows);
            for _ in 0..rows {
                let mut k = [0u8; 8];
                r.read_exact(&mut k[..width])?;
                let k = u64::from_le_bytes(k) as usize;
                if nullable && k == 0 {
                    out.push(Value::Null);
                } else {
                    out.push(
                        dict.get(k)
                            .cloned()
                            .ok_or_else(|| invalid("LowCardinality key outside the dictionary"))?,
                    );
                }
            }
            Ok(out)
        }
        other => Err(invalid(&format!("decoding {other} is not supported"))),
    }
}

fn fixed_value(ty: &ChType, b: &[u8]) -> Value {
    let mut le = [0u8; 8];
    le[..b.len()].copy_from_slice(b);
    let u = u64::from_le_bytes(le);
    let sign_extend = |bits: u32| ((u << (64 - bits)) as i64) >> (64 - bits);
    match ty {
        ChType::Int8 => Value::Int(sign_extend(8)),
        ChType::Int16 => Value::Int(sign_extend(16)),
        ChType::Int32 => Value::Int(sign_extend(32)),
        ChType::Int64 | ChType::DateTime64(..) => Value::Int(u as i64),
        ChType::Float32 => Value::Float(f64::from(f32::from_bits(u as u32))),
        ChType::Float64 => Value::Float(f64::from_bits(u)),
        _ => Value::UInt(u),
    }
}
