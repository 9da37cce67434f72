//! The oracle: exact expected rows per table for a day range, computed by the generator
//! without HTTP. Tests compare every sink's output against it; nothing hard-codes a count.

use std::collections::BTreeMap;

use serde::Serialize;

use super::data::{Generator, MS_PER_DAY};

#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
pub struct Oracle {
    pub seed: u64,
    pub profile: String,
    pub from: String,
    pub to: String,
    /// Rows per table for conversations starting in `[from, to)`.
    pub tables: BTreeMap<String, u64>,
    /// Checksums an independent reader can recompute from the output.
    pub checks: BTreeMap<String, i64>,
    /// Conversations daily jobs return although they started in another window: the
    /// pipeline must drop exactly these (window ownership).
    pub returned_outside_window: u64,
}

/// Expected output for the UTC days `[from_day, to_day)` (epoch days), after windows were
/// extracted again with a restatement share of `restate` (0: extracted once).
pub fn oracle(generator: &Generator, from_day: i64, to_day: i64, restate: f64) -> Oracle {
    let mut tables: BTreeMap<String, u64> = crate::schema::ALL_TABLES
        .iter()
        .map(|t| (t.name.to_string(), 0))
        .collect();
    let mut checks: BTreeMap<String, i64> = BTreeMap::new();
    let mut count = |name: &str, n: usize| *tables.entry(name.to_string()).or_default() += n as u64;
    let (mut open, mut metric_sum, mut seg_ms, mut start_s) = (0i64, 0i64, 0i64, 0i64);
    let mut outside = 0u64;
    for day in from_day..to_day {
        let (ws, we) = (day * MS_PER_DAY, (day + 1) * MS_PER_DAY);
        for d in Generator::days_overlapping(ws, we) {
            if d == day {
                continue;
            }
            outside += generator
                .day(d)
                .iter()
                .filter(|c| Generator::overlaps(c, ws, we))
                .count() as u64;
        }
        for c in generator.day(day) {
            let c = if generator.is_restated(&c, restate) {
                generator.restate(c)
            } else {
                c
            };
            count("conversations", 1);
            open += i64::from(c.end_ms.is_none());
            start_s += c.start_ms / 1000;
            count("participants", c.participants.len());
            for p in &c.participants {
                count("participant_attributes", p.attributes.len());
                count("sessions", p.sessions.len());
                for s in &p.sessions {
                    count("segments", s.segments.len());
                    count("session_metrics", s.metrics.len());
                    metric_sum += s.metrics.iter().map(|m| m.value).sum::<i64>();
                    seg_ms += s
                        .segments
                        .iter()
                        .filter_map(|g| g.end_ms.map(|e| e - g.start_ms))
                        .sum::<i64>();
                }
            }
        }
    }
    checks.insert("conversations.open".into(), open);
    checks.insert("conversations.start_seconds_sum".into(), start_s);
    checks.insert("session_metrics.value_sum".into(), metric_sum);
    checks.insert("segments.duration_ms_sum".into(), seg_ms);
    Oracle {
        seed: generator.seed,
        profile: generator.profile.name.to_string(),
        from: super::data::iso(from_day * MS_PER_DAY)[..10].to_string(),
        to: super::data::iso(to_day * MS_PER_DAY)[..10].to_string(),
        tables,
        checks,
        returned_outside_window: outside,
    }
}
