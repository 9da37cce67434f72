//! ISO-8601 → epoch milliseconds (UTC). A fixed-layout fast path covers what the API sends
//! (`2024-03-05T14:02:11.347Z`, crates.md §8: ~11 ns); anything else (offsets, other
//! fraction lengths) goes through chrono's RFC 3339 parser and is converted to UTC.

use std::cell::Cell;

const MS_PER_DAY: i64 = 86_400_000;

/// Parses an ISO-8601 instant into epoch milliseconds, or `None` if it is not one.
#[inline]
pub fn parse_iso_ms(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if ((b.len() == 24 && b[19] == b'.' && b[23] == b'Z') || (b.len() == 20 && b[19] == b'Z'))
        && let Some(v) = fast(b)
    {
        return Some(v);
    }
    slow(s)
}

#[inline]
fn digits<const N: usize>(b: &[u8], at: usize) -> Option<i64> {
    let mut v: i64 = 0;
    for i in 0..N {
        let d = b.get(at + i)?.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        v = v * 10 + i64::from(d);
    }
    Some(v)
}

thread_local! {
    /// The date part (`YYYY-MM-DD` as two integers) of the last instant parsed on this
    /// thread and its day number. A page's timestamps fall on one or two days, so the
    /// date is validated and converted once per run of them, not per value (the calendar
    /// arithmetic was a third of timestamp parsing in perf). (0, 0) matches no date.
    static LAST_DATE: Cell<(u64, u16, i64)> = const { Cell::new((0, 0, 0)) };
}

#[inline]
fn fast(b: &[u8]) -> Option<i64> {
    if b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let mut head = [0u8; 8];
    head.copy_from_slice(&b[..8]);
    let key = (u64::from_le_bytes(head), u16::from_le_bytes([b[8], b[9]]));
    let (k0, k1, cached) = LAST_DATE.with(Cell::get);
    let days = if (k0, k1) == key {
        cached
    } else {
        let days = date(b)?;
        LAST_DATE.with(|c| c.set((key.0, key.1, days)));
        days
    };
    let hour = digits::<2>(b, 11)?;
    let minute = digits::<2>(b, 14)?;
    let second = digits::<2>(b, 17)?;
    let millis = if b.len() == 24 {
        digits::<3>(b, 20)?
    } else {
        0
    };
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    Some(days * MS_PER_DAY + ((hour * 60 + minute) * 60 + second) * 1000 + millis)
}

/// Day number of the valid date `YYYY-MM-DD` at the start of `b`.
fn date(b: &[u8]) -> Option<i64> {
    let year = digits::<4>(b, 0)?;
    let month = digits::<2>(b, 5)?;
    let day = digits::<2>(b, 8)?;
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    Some(days_from_civil(year, month, day))
}

fn slow(s: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|d| d.timestamp_millis())
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
pub fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Formats epoch ms as the API's `yyyy-MM-ddTHH:mm:ss.SSSZ`.
pub fn format_iso_ms(ms: i64) -> String {
    match chrono::DateTime::from_timestamp_millis(ms) {
        Some(d) => d.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        None => format!("<invalid epoch ms {ms}>"),
    }
}

/// `YYYY-MM-DD` of the UTC day containing `ms`.
pub fn format_date(ms: i64) -> String {
    match chrono::DateTime::from_timestamp_millis(ms) {
        Some(d) => d.format("%Y-%m-%d").to_string(),
        None => format!("invalid-{ms}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_path_agrees_with_chrono() {
        for s in [
            "2024-03-05T14:02:11.347Z",
            "1970-01-01T00:00:00.000Z",
            "2000-02-29T23:59:59.999Z",
            "2024-12-31T00:00:00Z",
            "1969-12-31T23:59:59.001Z",
        ] {
            assert_eq!(fast(s.as_bytes()), slow(s), "{s}");
        }
    }

    #[test]
    fn offsets_are_converted_to_utc() {
        assert_eq!(
            parse_iso_ms("2024-03-05T16:02:11.347+02:00"),
            parse_iso_ms("2024-03-05T14:02:11.347Z")
        );
        assert_eq!(
            parse_iso_ms("2024-03-05T14:02:11.3Z"),
            parse_iso_ms("2024-03-05T14:02:11.300Z")
        );
    }

    #[test]
    fn the_cached_date_never_outlives_its_bytes() {
        // Same date, other times; then invalid times and dates right after a valid one.
        assert_eq!(
            parse_iso_ms("2024-03-05T00:00:00.001Z"),
            slow("2024-03-05T00:00:00.001Z")
        );
        assert_eq!(
            parse_iso_ms("2024-03-05T23:59:59.999Z"),
            slow("2024-03-05T23:59:59.999Z")
        );
        assert_eq!(parse_iso_ms("2024-03-05T24:00:00.000Z"), None);
        assert_eq!(parse_iso_ms("2024-03-0xT10:00:00.000Z"), None);
        assert_eq!(
            parse_iso_ms("2024-03-06T10:00:00.000Z"),
            slow("2024-03-06T10:00:00.000Z")
        );
        assert_eq!(parse_iso_ms("2023-02-29T10:00:00.000Z"), None);
        assert_eq!(
            parse_iso_ms("2024-03-06T10:00:00Z"),
            slow("2024-03-06T10:00:00Z")
        );
    }

    #[test]
    fn invalid_instants_are_rejected() {
        for s in [
            "",
            "yesterday",
            "2024-02-30T00:00:00.000Z",
            "2024-13-01T00:00:00.000Z",
        ] {
            assert_eq!(parse_iso_ms(s), None, "{s}");
        }
    }

    #[test]
    fn formatting_round_trips() {
        let ms = parse_iso_ms("2024-03-05T14:02:11.347Z");
        assert_eq!(
            ms.map(format_iso_ms).as_deref(),
            Some("2024-03-05T14:02:11.347Z")
        );
        assert_eq!(ms.map(format_date).as_deref(), Some("2024-03-05"));
    }
}
