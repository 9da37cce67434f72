//! Deterministic org and conversation generator: the simulator's data and the tests' oracle.
//!
//! Everything derives from `(seed, profile)`: the org (queues, agents, wrap-up codes, flows)
//! and, independently per `(day, index)`, each conversation, so any day can be generated
//! alone and any two runs agree. Conversations follow genesys-api.md §4: customer → IVR →
//! ACD → agent legs, optional fields omitted, participant attributes, conversations that
//! cross midnight, and open ones without `conversationEnd`.
//! Must not touch: HTTP (see `server`), the pipeline.

use std::collections::BTreeMap;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::transform::timestamp::days_from_civil;

pub const MS_PER_DAY: i64 = 86_400_000;
/// Longest lifetime of a generated conversation, and how long an open one keeps being
/// returned by jobs whose interval starts after it. Bounds how far back a job looks.
pub const MAX_LIFETIME_MS: i64 = 2 * MS_PER_DAY;

/// An org profile: size and media mix.
#[derive(Clone, Copy, Debug)]
pub struct Profile {
    pub name: &'static str,
    pub conversations_per_day: u32,
    pub queues: u32,
    pub agents: u32,
    /// Weights of voice, message, email, chat, callback.
    pub media_mix: [u32; 5],
}

pub const PROFILES: [Profile; 3] = [
    Profile {
        name: "small",
        conversations_per_day: 400,
        queues: 4,
        agents: 25,
        media_mix: [70, 12, 8, 6, 4],
    },
    Profile {
        name: "medium",
        conversations_per_day: 4_000,
        queues: 20,
        agents: 200,
        media_mix: [65, 15, 10, 6, 4],
    },
    Profile {
        name: "large",
        conversations_per_day: 20_000,
        queues: 60,
        agents: 800,
        media_mix: [60, 18, 12, 6, 4],
    },
];

pub fn profile(name: &str) -> Option<Profile> {
    PROFILES.iter().copied().find(|p| p.name == name)
}

#[derive(Serialize, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub struct Conversation {
    pub conversation_id: String,
    pub conversation_start: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conversation_end: Option<String>,
    pub originating_direction: &'static str,
    pub division_ids: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub media_stats_min_conversation_mos: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub media_stats_min_conversation_r_factor: Option<f64>,
    pub conversation_initiator: &'static str,
    pub customer_participation: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_tag: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evaluations: Option<Vec<Evaluation>>,
    pub participants: Vec<Participant>,
    /// Not serialized: generator bookkeeping.
    #[serde(skip)]
    pub start_ms: i64,
    #[serde(skip)]
    pub end_ms: Option<i64>,
}

#[derive(Serialize, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub struct Evaluation {
    pub evaluation_id: String,
    pub form_name: &'static str,
    pub evaluator_id: String,
    pub evaluation_status: &'static str,
    pub event_time: String,
    pub o_total_score: i64,
}

#[derive(Serialize, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub struct Participant {
    pub participant_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub participant_name: Option<String>,
    pub purpose: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_contact_id: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
    pub sessions: Vec<Session>,
}

#[derive(Serialize, Clone, Debug, Default)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    pub session_id: String,
    pub media_type: &'static str,
    pub direction: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ani: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dnis: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address_from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address_to: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub edge_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requested_routings: Option<Vec<&'static str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub used_routing: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selected_agent_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active_skill_ids: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recording: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flow: Option<Flow>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proposed_agents: Option<Vec<ProposedAgent>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub media_endpoint_stats: Option<Vec<MediaEndpointStat>>,
    pub segments: Vec<Segment>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub metrics: Vec<Metric>,
}

#[derive(Serialize, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub struct Flow {
    pub flow_id: String,
    pub flow_name: String,
    pub flow_version: &'static str,
    pub flow_type: &'static str,
    pub entry_type: &'static str,
    pub entry_reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_reason: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transfer_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transfer_target_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transfer_target_address: Option<String>,
    pub starting_language: &'static str,
    pub ending_language: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub outcomes: Vec<FlowOutcome>,
}

#[derive(Serialize, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub struct FlowOutcome {
    pub flow_outcome: &'static str,
    pub flow_outcome_id: String,
    pub flow_outcome_value: &'static str,
    pub flow_outcome_start_timestamp: String,
    pub flow_outcome_end_timestamp: String,
}

#[derive(Serialize, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub struct ProposedAgent {
    pub proposed_agent_id: String,
    pub agent_rank: u32,
}

#[derive(Serialize, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub struct MediaEndpointStat {
    pub codecs: Vec<&'static str>,
    pub min_mos: f64,
    pub min_r_factor: f64,
    pub max_latency_ms: u32,
    pub received_packets: u32,
    pub event_time: String,
}

#[derive(Serialize, Clone, Debug, Default)]
#[serde(rename_all = "camelCase")]
pub struct Segment {
    pub segment_start: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub segment_end: Option<String>,
    pub segment_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disconnect_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wrap_up_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wrap_up_note: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conference: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requested_routing_skill_ids: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sip_response_codes: Option<Vec<u32>>,
    #[serde(skip)]
    pub start_ms: i64,
    #[serde(skip)]
    pub end_ms: Option<i64>,
}

#[derive(Serialize, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub struct Metric {
    pub name: &'static str,
    pub value: i64,
    pub emit_date: String,
}

struct Named {
    id: String,
    name: String,
}

/// The org: ids and names derived from the seed.
pub struct Org {
    queues: Vec<Named>,
    agents: Vec<Named>,
    wrapup_codes: Vec<String>,
    divisions: Vec<String>,
    flows: Vec<Named>,
    skills: Vec<String>,
    edges: Vec<String>,
}

/// The generator: a profile and a seed.
pub struct Generator {
    pub seed: u64,
    pub profile: Profile,
    org: Org,
}

fn rng_for(seed: u64, a: u64, b: u64) -> ChaCha8Rng {
    // SplitMix-style mixing so neighbouring (day, index) pairs get unrelated streams.
    let mut z =
        seed ^ a.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ b.wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    ChaCha8Rng::seed_from_u64(z ^ (z >> 31))
}

fn uuid(rng: &mut ChaCha8Rng) -> String {
    let a: u128 = rng.random();
    let a = (a & !(0xF000u128 << 64)) | (0x4000u128 << 64); // version 4
    let a = (a & !(0xC000u128 << 48)) | (0x8000u128 << 48); // variant
    let h = format!("{a:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// Formats epoch ms as `yyyy-MM-ddTHH:mm:ss.SSSZ` without chrono (hot in the generator).
/// How much later a restated conversation ends (and how long its added segment lasts).
pub const RESTATE_EXTRA_MS: i64 = 60_000;

pub fn iso(ms: i64) -> String {
    let days = ms.div_euclid(MS_PER_DAY);
    let rem = ms.rem_euclid(MS_PER_DAY);
    let (y, m, d) = civil_from_days(days);
    let (h, mi, s, milli) = (
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1000 % 60,
        rem % 1000,
    );
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{milli:03}Z")
}

/// Inverse of `days_from_civil`.
pub fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Epoch day of `YYYY-MM-DD`.
pub fn parse_day(s: &str) -> Option<i64> {
    if s.len() != 10 {
        return None;
    }
    let d = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
    use chrono::Datelike as _;
    Some(days_from_civil(
        i64::from(d.year()),
        i64::from(d.month()),
        i64::from(d.day()),
    ))
}

fn pick<'a, T>(rng: &mut ChaCha8Rng, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len())]
}

/// Log-normal-ish duration in ms, clamped to `[lo, hi]`.
fn duration(rng: &mut ChaCha8Rng, median_ms: f64, spread: f64, lo: i64, hi: i64) -> i64 {
    let u: f64 = rng.random_range(-1.0..1.0);
    let v: f64 = rng.random_range(-1.0..1.0);
    let z = (u + v) * 1.2; // triangular stand-in for a normal: cheap and bounded
    ((median_ms * (z * spread).exp()) as i64).clamp(lo, hi)
}

const WRAPUP_NOTES: [&str; 4] = [
    "customer called back",
    "billing question",
    "escalated",
    "resolved first contact",
];
const ATTR_TIERS: [&str; 3] = ["gold", "silver", "bronze"];
const LANGUAGES: [&str; 3] = ["en-us", "es-us", "fr-ca"];

impl Generator {
    pub fn new(seed: u64, profile: Profile) -> Self {
        let mut rng = rng_for(seed, u64::MAX, 0);
        let named = |rng: &mut ChaCha8Rng, n: u32, prefix: &str| {
            (0..n)
                .map(|i| Named {
                    id: uuid(rng),
                    name: format!("{prefix} {}", i + 1),
                })
                .collect::<Vec<_>>()
        };
        let queues = named(&mut rng, profile.queues, "Queue");
        let agents = named(&mut rng, profile.agents, "Agent");
        let flows = named(&mut rng, 3, "Main IVR");
        let wrapup_codes = (0..12).map(|_| uuid(&mut rng)).collect();
        let divisions = (0..2).map(|_| uuid(&mut rng)).collect();
        let skills = (0..8).map(|_| uuid(&mut rng)).collect();
        let edges = (0..2).map(|_| uuid(&mut rng)).collect();
        Self {
            seed,
            profile,
            org: Org {
                queues,
                agents,
                wrapup_codes,
                divisions,
                flows,
                skills,
                edges,
            },
        }
    }

    /// Number of conversations that start on epoch day `day` (weekends are quieter).
    pub fn count_for_day(&self, day: i64) -> u32 {
        let mut rng = rng_for(self.seed, day as u64, u64::MAX);
        let weekday = (day + 4).rem_euclid(7); // 1970-01-01 was a Thursday; 0 = Sunday
        let base = f64::from(self.profile.conversations_per_day);
        let factor = if weekday == 0 || weekday == 6 {
            0.45
        } else {
            1.0
        };
        let noise: f64 = rng.random_range(0.9..1.1);
        (base * factor * noise).round() as u32
    }

    /// All conversations that start on epoch day `day`, ordered by start then id.
    pub fn day(&self, day: i64) -> Vec<Conversation> {
        let n = self.count_for_day(day);
        let mut out: Vec<Conversation> = (0..n).map(|i| self.conversation(day, i)).collect();
        out.sort_by(|a, b| {
            a.start_ms
                .cmp(&b.start_ms)
                .then_with(|| a.conversation_id.cmp(&b.conversation_id))
        });
        out
    }

    /// Whether a later extraction returns `c` restated, for a restatement share `rate`
    /// (only closed conversations change: open ones have nothing to restate yet).
    pub fn is_restated(&self, c: &Conversation, rate: f64) -> bool {
        rate > 0.0
            && c.end_ms.is_some()
            && super::faults::fraction(self.seed, &c.conversation_id) < rate
    }

    /// The nightly restatement (genesys-api.md §12) of a conversation: it ends a minute
    /// later, its last session gains a wrap-up segment for that minute, and a field changes.
    /// Nothing is removed, so an idempotent sink only adds and replaces rows.
    pub fn restate(&self, mut c: Conversation) -> Conversation {
        let Some(end) = c.end_ms else { return c };
        let new_end = end + RESTATE_EXTRA_MS;
        c.end_ms = Some(new_end);
        c.conversation_end = Some(iso(new_end));
        c.external_tag = Some("restated".into());
        if let Some(session) = c
            .participants
            .iter_mut()
            .rev()
            .find_map(|p| p.sessions.last_mut())
        {
            session.segments.push(Segment {
                segment_start: iso(end),
                segment_end: Some(iso(new_end)),
                segment_type: "wrapup",
                start_ms: end,
                end_ms: Some(new_end),
                ..Default::default()
            });
        }
        c
    }

    /// Epoch days whose conversations can overlap `[start, end)`.
    pub fn days_overlapping(start_ms: i64, end_ms: i64) -> std::ops::RangeInclusive<i64> {
        (start_ms - MAX_LIFETIME_MS).div_euclid(MS_PER_DAY)..=(end_ms - 1).div_euclid(MS_PER_DAY)
    }

    /// Whether a conversation is returned by a details job over `[start, end)`: its lifetime
    /// overlaps the interval (an open one counts as lasting `MAX_LIFETIME_MS`).
    pub fn overlaps(c: &Conversation, start_ms: i64, end_ms: i64) -> bool {
        let end = c.end_ms.unwrap_or(c.start_ms + MAX_LIFETIME_MS);
        c.start_ms < end_ms && end > start_ms
    }

    fn conversation(&self, day: i64, index: u32) -> Conversation {
        let rng = &mut rng_for(self.seed, day as u64, u64::from(index));
        let org = &self.org;
        let day_start = day * MS_PER_DAY;
        // Traffic peaks in business hours; a slice arrives late evening so some calls cross midnight.
        let start_ms = if rng.random_bool(0.04) {
            day_start + rng.random_range(22 * 3_600_000..MS_PER_DAY)
        } else {
            let hour: f64 = 7.0 + rng.random_range(0.0..6.0) + rng.random_range(0.0..6.0);
            day_start + (hour * 3_600_000.0) as i64 + rng.random_range(0..3_600_000)
        };
        let mix = self.profile.media_mix;
        let total: u32 = mix.iter().sum();
        let mut roll = rng.random_range(0..total);
        let mut kind = 0;
        while roll >= mix[kind] {
            roll -= mix[kind];
            kind += 1;
        }
        let media = ["voice", "message", "email", "chat", "callback"][kind];
        let outbound = media == "voice" && rng.random_bool(0.12);
        let direction = if outbound { "outbound" } else { "inbound" };
        let queue = pick(rng, &org.queues);
        let customer_addr = format!(
            "tel:+1{}",
            rng.random_range(2_000_000_000u64..9_999_999_999)
        );
        let dnis = "tel:+18005550199".to_string();

        let mut t = start_ms;
        let mut participants = Vec::new();
        let mut customer = Participant {
            participant_id: uuid(rng),
            participant_name: Some("Customer".into()),
            purpose: if outbound { "external" } else { "customer" },
            user_id: None,
            external_contact_id: rng.random_bool(0.3).then(|| uuid(rng)),
            attributes: BTreeMap::new(),
            sessions: Vec::new(),
        };
        for _ in 0..rng.random_range(0..5u32) {
            let k = rng.random_range(0..4u32);
            let (key, value) = match k {
                0 => ("CustomerTier", pick(rng, &ATTR_TIERS).to_string()),
                1 => (
                    "AccountNumber",
                    format!("A-{}", rng.random_range(100_000..999_999)),
                ),
                2 => ("ivr.Language", pick(rng, &LANGUAGES).to_string()),
                _ => ("Reason", "Billing \"dispute\" / ümlaut".to_string()),
            };
            customer.attributes.insert(key.into(), value);
        }

        // IVR leg for inbound voice.
        if media == "voice" && !outbound {
            let flow = pick(rng, &org.flows);
            let ivr_ms = duration(rng, 35_000.0, 0.5, 5_000, 240_000);
            let exit = t + ivr_ms;
            participants.push(Participant {
                participant_id: uuid(rng),
                participant_name: Some(flow.name.clone()),
                purpose: "ivr",
                user_id: None,
                external_contact_id: None,
                attributes: BTreeMap::new(),
                sessions: vec![Session {
                    session_id: uuid(rng),
                    media_type: media,
                    direction,
                    ani: Some(customer_addr.clone()),
                    dnis: Some(dnis.clone()),
                    provider: Some("Edge"),
                    flow: Some(Flow {
                        flow_id: flow.id.clone(),
                        flow_name: flow.name.clone(),
                        flow_version: "12.0",
                        flow_type: "INBOUNDCALL",
                        entry_type: "dnis",
                        entry_reason: dnis.clone(),
                        exit_reason: Some("TRANSFER"),
                        transfer_type: Some("ACD"),
                        transfer_target_name: Some(queue.name.clone()),
                        transfer_target_address: Some(queue.id.clone()),
                        starting_language: "en-us",
                        ending_language: LANGUAGES[rng.random_range(0..LANGUAGES.len())],
                        outcomes: if rng.random_bool(0.3) {
                            vec![FlowOutcome {
                                flow_outcome: "Authenticated",
                                flow_outcome_id: uuid(rng),
                                flow_outcome_value: "SUCCESS",
                                flow_outcome_start_timestamp: iso(t),
                                flow_outcome_end_timestamp: iso(exit),
                            }]
                        } else {
                            Vec::new()
                        },
                    }),
                    segments: vec![seg(t, Some(exit), "ivr", None, Some("transfer"))],
                    metrics: vec![
                        metric("nFlow", 1, t),
                        metric("tFlow", ivr_ms, exit),
                        metric("tIvr", ivr_ms, exit),
                    ],
                    ..Default::default()
                }],
            });
            t = exit;
        }

        // ACD leg: queue wait, then answered or abandoned.
        let long_media = matches!(media, "message" | "email");
        let wait = if long_media {
            duration(rng, 600_000.0, 1.2, 10_000, 6 * 3_600_000)
        } else {
            duration(rng, 40_000.0, 1.0, 1_000, 1_800_000)
        };
        let abandoned = !outbound && rng.random_bool(0.08);
        let answered_at = t + wait;
        let acd_segment_end = answered_at;
        let mut acd_metrics = vec![
            metric("nOffered", 1, t),
            metric("tAcd", wait, acd_segment_end),
        ];
        if abandoned {
            acd_metrics.push(metric("tAbandon", wait, acd_segment_end));
            if wait < 5_000 {
                acd_metrics.push(metric("tShortAbandon", wait, acd_segment_end));
            }
        } else {
            acd_metrics.push(metric("tAnswered", wait, acd_segment_end));
            if wait > 20_000 {
                acd_metrics.push(metric("nOverSla", 1, acd_segment_end));
            }
        }
        let agent = pick(rng, &org.agents);
        if !outbound {
            let skills: Vec<String> = (0..rng.random_range(0..3))
                .map(|_| pick(rng, &org.skills).clone())
                .collect();
            participants.push(Participant {
                participant_id: uuid(rng),
                participant_name: Some(queue.name.clone()),
                purpose: "acd",
                user_id: None,
                external_contact_id: None,
                attributes: BTreeMap::new(),
                sessions: vec![Session {
                    session_id: uuid(rng),
                    media_type: media,
                    direction,
                    ani: (media == "voice").then(|| customer_addr.clone()),
                    dnis: (media == "voice").then(|| dnis.clone()),
                    requested_routings: Some(vec!["Standard"]),
                    used_routing: (!abandoned).then_some("Standard"),
                    selected_agent_id: (!abandoned).then(|| agent.id.clone()),
                    active_skill_ids: (!skills.is_empty()).then(|| skills.clone()),
                    proposed_agents: (!abandoned && rng.random_bool(0.4)).then(|| {
                        vec![ProposedAgent {
                            proposed_agent_id: agent.id.clone(),
                            agent_rank: 1,
                        }]
                    }),
                    segments: vec![Segment {
                        requested_routing_skill_ids: (!skills.is_empty()).then_some(skills),
                        ..seg(
                            t,
                            Some(acd_segment_end),
                            "interact",
                            Some(&queue.id),
                            Some(if abandoned { "peer" } else { "transfer" }),
                        )
                    }],
                    metrics: acd_metrics,
                    ..Default::default()
                }],
            });
        }
        t = answered_at;

        // Agent leg.
        let mut open = false;
        if !abandoned {
            let alert = duration(rng, 6_000.0, 0.6, 1_000, 30_000);
            let talk = if long_media {
                duration(rng, 3_600_000.0, 1.0, 60_000, 40 * 3_600_000)
            } else {
                duration(rng, 240_000.0, 0.8, 15_000, 5_400_000)
            };
            let held = rng
                .random_bool(0.2)
                .then(|| duration(rng, 45_000.0, 0.7, 5_000, 600_000));
            let acw = duration(rng, 30_000.0, 0.8, 2_000, 600_000);
            open = long_media && rng.random_bool(0.04);
            let mut segments = vec![seg(
                t,
                Some(t + alert),
                if outbound { "dialing" } else { "alert" },
                Some(&queue.id),
                None,
            )];
            let mut metrics = vec![metric("tAlert", alert, t + alert)];
            let mut u = t + alert;
            metrics.push(metric("nConnected", 1, u));
            let first_talk = held.map_or(talk, |_| talk / 2);
            if open {
                // Still interacting: the segment has no end, no completion metrics.
                segments.push(seg(u, None, "interact", Some(&queue.id), None));
            } else {
                segments.push(seg(
                    u,
                    Some(u + first_talk),
                    "interact",
                    Some(&queue.id),
                    None,
                ));
                u += first_talk;
                if let Some(h) = held {
                    segments.push(seg(u, Some(u + h), "hold", Some(&queue.id), None));
                    metrics.push(metric("tHeld", h, u + h));
                    metrics.push(metric("tHeldComplete", h, u + h));
                    u += h;
                    segments.push(seg(
                        u,
                        Some(u + talk - first_talk),
                        "interact",
                        Some(&queue.id),
                        Some("peer"),
                    ));
                    u += talk - first_talk;
                } else if let Some(last) = segments.last_mut() {
                    last.disconnect_type = Some(if rng.random_bool(0.003) {
                        "callerHungUpEarly"
                    } else {
                        "peer"
                    });
                }
                metrics.push(metric("tTalk", talk, u));
                metrics.push(metric("tTalkComplete", talk, u));
                let mut wrap = seg(u, Some(u + acw), "wrapup", Some(&queue.id), None);
                wrap.wrap_up_code = Some(pick(rng, &org.wrapup_codes).clone());
                wrap.wrap_up_note = rng
                    .random_bool(0.1)
                    .then(|| pick(rng, &WRAPUP_NOTES).to_string());
                segments.push(wrap);
                metrics.push(metric("tAcw", acw, u + acw));
                metrics.push(metric("tHandle", talk + held.unwrap_or(0) + acw, u + acw));
                u += acw;
            }
            participants.push(Participant {
                participant_id: uuid(rng),
                participant_name: Some(agent.name.clone()),
                purpose: "agent",
                user_id: Some(agent.id.clone()),
                external_contact_id: None,
                attributes: BTreeMap::new(),
                sessions: vec![Session {
                    session_id: uuid(rng),
                    media_type: media,
                    direction,
                    address_from: (media == "email").then(|| "support@example.com".to_string()),
                    address_to: (media == "email").then(|| "customer@example.net".to_string()),
                    edge_id: (media == "voice").then(|| pick(rng, &org.edges).clone()),
                    recording: (media == "voice").then_some(true),
                    media_endpoint_stats: (media == "voice").then(|| {
                        vec![MediaEndpointStat {
                            codecs: vec!["opus"],
                            min_mos: 4.1 + f64::from(rng.random_range(0..40u32)) / 100.0,
                            min_r_factor: 85.0 + f64::from(rng.random_range(0..900u32)) / 100.0,
                            max_latency_ms: rng.random_range(20..200),
                            received_packets: rng.random_range(1_000..90_000),
                            event_time: iso(u),
                        }]
                    }),
                    segments,
                    metrics,
                    ..Default::default()
                }],
            });
            t = u;
        }

        // The customer's leg spans the conversation.
        let end_ms = (!open).then_some(t);
        customer.sessions.push(Session {
            session_id: uuid(rng),
            media_type: media,
            direction,
            ani: (media == "voice").then(|| customer_addr.clone()),
            dnis: (media == "voice").then(|| dnis.clone()),
            address_from: (media == "email").then(|| "customer@example.net".to_string()),
            provider: Some(if media == "voice" {
                "Edge"
            } else {
                "PureCloud Messaging"
            }),
            segments: vec![Segment {
                sip_response_codes: (media == "voice").then(|| vec![200]),
                ..seg(
                    start_ms,
                    end_ms,
                    "interact",
                    None,
                    end_ms.map(|_| "endpoint"),
                )
            }],
            ..Default::default()
        });
        participants.insert(0, customer);

        let voice = media == "voice";
        Conversation {
            conversation_id: uuid(rng),
            conversation_start: iso(start_ms),
            conversation_end: end_ms.map(iso),
            originating_direction: direction,
            division_ids: vec![org.divisions[0].clone()],
            media_stats_min_conversation_mos: voice
                .then(|| 3.5 + f64::from(rng.random_range(0..100u32)) / 100.0),
            media_stats_min_conversation_r_factor: voice
                .then(|| 80.0 + f64::from(rng.random_range(0..1300u32)) / 100.0),
            conversation_initiator: if outbound { "agent" } else { "customer" },
            customer_participation: true,
            external_tag: rng
                .random_bool(0.02)
                .then(|| format!("CRM-{}", rng.random_range(1000..9999))),
            evaluations: (end_ms.is_some() && !abandoned && rng.random_bool(0.05)).then(|| {
                vec![Evaluation {
                    evaluation_id: uuid(rng),
                    form_name: "Quality 2024",
                    evaluator_id: pick(rng, &org.agents).id.clone(),
                    evaluation_status: "Finished",
                    event_time: iso(t + MS_PER_DAY / 4),
                    o_total_score: rng.random_range(40..100),
                }]
            }),
            participants,
            start_ms,
            end_ms,
        }
    }
}

fn seg(
    start: i64,
    end: Option<i64>,
    kind: &'static str,
    queue: Option<&str>,
    disconnect: Option<&'static str>,
) -> Segment {
    Segment {
        segment_start: iso(start),
        segment_end: end.map(iso),
        segment_type: kind,
        queue_id: queue.map(str::to_string),
        disconnect_type: disconnect,
        start_ms: start,
        end_ms: end,
        ..Default::default()
    }
}

fn metric(name: &'static str, value: i64, at: i64) -> Metric {
    Metric {
        name,
        value,
        emit_date: iso(at),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_data_other_seed_other_data() {
        let p = profile("small").unwrap_or(PROFILES[0]);
        let a = Generator::new(7, p).day(19_800);
        let b = Generator::new(7, p).day(19_800);
        let c = Generator::new(8, p).day(19_800);
        let ids = |v: &[Conversation]| {
            v.iter()
                .map(|c| c.conversation_id.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(&a), ids(&b));
        assert_ne!(ids(&a), ids(&c));
    }

    #[test]
    fn some_conversations_cross_midnight_and_some_are_open() {
        let g = Generator::new(1, PROFILES[1]);
        let day = 19_800;
        let convs = g.day(day);
        let next_day = (day + 1) * MS_PER_DAY;
        assert!(
            convs.iter().any(|c| c.end_ms.is_some_and(|e| e > next_day)),
            "midnight crossers"
        );
        assert!(
            convs.iter().any(|c| c.end_ms.is_none()),
            "open conversations"
        );
        assert!(
            convs
                .iter()
                .all(|c| c.start_ms.div_euclid(MS_PER_DAY) == day)
        );
    }

    #[test]
    fn iso_matches_chrono_formatting() {
        for ms in [0, 1_709_647_331_347, 951_868_799_999, -1] {
            assert_eq!(iso(ms), crate::transform::timestamp::format_iso_ms(ms));
        }
    }
}
