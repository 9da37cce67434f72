//! Arrow → ClickHouse Native encode throughput, one core: the six tables of a results page
//! of `CONVERSATIONS` simulator conversations (medium profile), in the modern types
//! (DateTime64, copied buffers) and the legacy ones (DateTime seconds, converted).
//! Reports bytes of Native output per second.

#![allow(clippy::panic, reason = "a benchmark stops on any failure")]

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use genesys_etl::schema::ALL_TABLES;
use genesys_etl::sim::{Generator, profile};
use genesys_etl::sink::clickhouse::{ddl, encode, types::ChType};
use genesys_etl::transform::{PageInput, PageRef, Transformer};

const SEED: u64 = 42;
const DAY: i64 = 19_787; // 2024-03-05
const CONVERSATIONS: usize = 1000;

fn encode_native(c: &mut Criterion) {
    let generator = Generator::new(
        SEED,
        profile("medium").unwrap_or(genesys_etl::sim::PROFILES[1]),
    );
    let convs: Vec<_> = generator.day(DAY).into_iter().take(CONVERSATIONS).collect();
    let mut page =
        serde_json::to_vec(&serde_json::json!({ "conversations": convs })).unwrap_or_default();
    let Ok(out) = Transformer::new().transform(PageInput {
        page: PageRef::default(),
        bytes: &mut page,
        items: None,
        window: None,
        version: 1,
    }) else {
        panic!("the bench page does not transform");
    };
    let mut group = c.benchmark_group("encode_native");
    group.sample_size(30);
    for legacy in [false, true] {
        let types: Vec<Vec<ChType>> = ALL_TABLES
            .iter()
            .map(|t| ddl::parsed_types(t, legacy).unwrap_or_else(|e| panic!("{e}")))
            .collect();
        let mut buf = Vec::new();
        let encode_all = |buf: &mut Vec<u8>| {
            buf.clear();
            for (batch, types) in out.batches.iter().zip(&types) {
                let r = encode::encode_batch(batch, types, true, buf);
                assert!(r.is_ok(), "{r:?}");
            }
            buf.len()
        };
        let bytes = encode_all(&mut buf);
        group.throughput(Throughput::Bytes(bytes as u64));
        let name = if legacy {
            "legacy_types"
        } else {
            "modern_types"
        };
        group.bench_function(
            format!("page_of_{CONVERSATIONS}_conversations_{name}"),
            |b| b.iter(|| encode_all(&mut buf)),
        );
    }
    group.finish();
}

criterion_group!(benches, encode_native);
criterion_main!(benches);
