//! Native-protocol primitives: LEB128 varints, length-prefixed strings, little-endian
//! fixed-width values, and ClickHouse's checksummed LZ4 frames.
//!
//! Owns: byte-level encoding only. Must not touch: sockets, packets, Arrow.

use std::io::{self, Read};

pub fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

pub fn put_str(out: &mut Vec<u8>, s: &[u8]) {
    put_varint(out, s.len() as u64);
    out.extend_from_slice(s);
}

pub fn read_varint(r: &mut impl Read) -> io::Result<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = read_u8(r)?;
        v |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return Ok(v);
        }
    }
    Err(invalid("varint longer than 10 bytes"))
}

pub fn read_u8(r: &mut impl Read) -> io::Result<u8> {
    let mut b = [0u8; 1];
    r.read_exact(&mut b)?;
    Ok(b[0])
}

pub fn read_array<const N: usize>(r: &mut impl Read) -> io::Result<[u8; N]> {
    let mut b = [0u8; N];
    r.read_exact(&mut b)?;
    Ok(b)
}

/// Strings longer than this are a corrupt stream, not data (ClickHouse's own limit is 1 GiB).
const MAX_STRING: u64 = 1 << 30;

pub fn read_bytes(r: &mut impl Read) -> io::Result<Vec<u8>> {
    let len = read_varint(r)?;
    if len > MAX_STRING {
        return Err(invalid(&format!("string of {len} bytes")));
    }
    let mut buf = vec![0u8; len as usize];
    r.read_exact(&mut buf)?;
    Ok(buf)
}

pub fn read_string(r: &mut impl Read) -> io::Result<String> {
    Ok(String::from_utf8_lossy(&read_bytes(r)?).into_owned())
}

pub fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

/// LZ4 method byte of a ClickHouse compressed frame.
const METHOD_LZ4: u8 = 0x82;
/// Method byte of an uncompressed frame.
const METHOD_NONE: u8 = 0x02;
const HEADER: usize = 9;
/// Uncompressed bytes per frame, as ClickHouse's `max_compress_block_size` default.
pub const FRAME_BYTES: usize = 1 << 20;

/// Appends `data` as ClickHouse compressed frames: 16-byte CityHash128 (v1.0.2) of the
/// rest, method, compressed size (with the 9-byte header), uncompressed size, LZ4 block.
pub fn put_compressed(out: &mut Vec<u8>, data: &[u8]) {
    for chunk in data.chunks(FRAME_BYTES) {
        let start = out.len();
        out.extend_from_slice(&[0u8; 16]);
        let header_at = out.len();
        out.push(METHOD_LZ4);
        out.extend_from_slice(&[0u8; 8]);
        let bound = lz4_flex::block::get_maximum_output_size(chunk.len());
        out.resize(header_at + HEADER + bound, 0);
        let n = match lz4_flex::block::compress_into(chunk, &mut out[header_at + HEADER..]) {
            Ok(n) => n,
            // Cannot happen with a buffer of the maximum output size; store the chunk as is.
            Err(_) => {
                out.truncate(header_at + HEADER);
                out.extend_from_slice(chunk);
                out[header_at] = METHOD_NONE;
                chunk.len()
            }
        };
        out.truncate(header_at + HEADER + n);
        out[header_at + 1..header_at + 5].copy_from_slice(&((HEADER + n) as u32).to_le_bytes());
        out[header_at + 5..header_at + 9].copy_from_slice(&(chunk.len() as u32).to_le_bytes());
        let sum = cityhash_rs::cityhash_102_128(&out[header_at..]).rotate_right(64);
        out[start..start + 16].copy_from_slice(&sum.to_le_bytes());
    }
}

/// Reads one compressed frame and returns its uncompressed bytes; checks the checksum.
pub fn read_compressed_frame(r: &mut impl Read) -> io::Result<Vec<u8>> {
    let sum = u128::from_le_bytes(read_array::<16>(r)?);
    let header: [u8; HEADER] = read_array(r)?;
    let compressed = u32::from_le_bytes([header[1], header[2], header[3], header[4]]) as usize;
    let plain = u32::from_le_bytes([header[5], header[6], header[7], header[8]]) as usize;
    if compressed < HEADER || compressed as u64 > MAX_STRING || plain as u64 > MAX_STRING {
        return Err(invalid("compressed frame with impossible sizes"));
    }
    let mut frame = Vec::with_capacity(compressed);
    frame.extend_from_slice(&header);
    frame.resize(compressed, 0);
    r.read_exact(&mut frame[HEADER..])?;
    if cityhash_rs::cityhash_102_128(&frame).rotate_right(64) != sum {
        return Err(invalid("compressed frame checksum mismatch"));
    }
    match header[0] {
        METHOD_LZ4 => {
            let mut out = vec![0u8; plain];
            let n = lz4_flex::block::decompress_into(&frame[HEADER..], &mut out)
                .map_err(|e| invalid(&format!("LZ4 frame: {e}")))?;
            if n != plain {
                return Err(invalid("LZ4 frame shorter than its header says"));
            }
            Ok(out)
        }
        METHOD_NONE => Ok(frame[HEADER..].to_vec()),
        m => Err(invalid(&format!(
            "compression method 0x{m:02x} is not supported"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip_at_the_byte_boundaries() {
        for v in [0u64, 1, 127, 128, 16_383, 16_384, u32::MAX as u64, u64::MAX] {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            assert_eq!(read_varint(&mut &out[..]).ok(), Some(v));
        }
        let mut out = Vec::new();
        put_varint(&mut out, 300);
        assert_eq!(out, [0xac, 0x02]);
    }

    #[test]
    fn compressed_frames_round_trip_and_detect_corruption() {
        let data: Vec<u8> = (0..3 * FRAME_BYTES / 2).map(|i| (i % 251) as u8).collect();
        let mut out = Vec::new();
        put_compressed(&mut out, &data);
        let mut r = &out[..];
        let mut back = read_compressed_frame(&mut r).unwrap_or_default();
        back.extend(read_compressed_frame(&mut r).unwrap_or_default());
        assert_eq!(back, data);
        assert!(r.is_empty());
        let last = out.len() - 1;
        out[last] ^= 1;
        let mut r = &out[..];
        let _ = read_compressed_frame(&mut r);
        assert!(read_compressed_frame(&mut r).is_err());
    }
}
