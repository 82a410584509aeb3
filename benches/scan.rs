//! How fast `hbx-sa scan` reads (`cargo bench --bench scan`): a tree of 2,000
//! files (about 20 MB of text full of look-alikes) with one real token, and
//! the same text searched in memory. The suite checks what the scan finds
//! (`tests/suite/operations/scan.rs`); its speed is measured here.

use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hbx_service_accounts::cli::args::ScanArgs;
use hbx_service_accounts::cli::scan::scan;
use hbx_service_accounts::token::scan::find_tokens;
use hbx_service_accounts::token::{self, TokenPrefix};

const FILES: usize = 2000;

fn filler() -> String {
    "lorem ipsum hbxsa_ not a token, dolor sit amet 0123456789\n".repeat(170)
}

fn scanning(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let filler = filler();
    for i in 0..FILES {
        let sub = dir.path().join(format!("d{}", i % 20));
        std::fs::create_dir_all(&sub).unwrap();
        std::fs::write(sub.join(format!("f{i}.txt")), &filler).unwrap();
    }
    let leaked = token::generate(&TokenPrefix::default())
        .plaintext
        .into_exposed();
    std::fs::write(dir.path().join("d7/leak.txt"), &leaked).unwrap();
    let args = ScanArgs {
        paths: vec![dir.path().to_path_buf()],
        token_prefix: TokenPrefix::default(),
    };

    let mut group = c.benchmark_group("scan");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    group.throughput(Throughput::Bytes((filler.len() * FILES) as u64));
    group.bench_function("a tree of 2,000 files with one token", |b| {
        b.iter(|| assert_eq!(scan(&args).findings.len(), 1));
    });
    let text = filler.repeat(FILES);
    group.bench_function("the same text in memory", |b| {
        b.iter(|| {
            find_tokens(
                std::hint::black_box(text.as_bytes()),
                &TokenPrefix::default(),
            )
        });
    });
    group.finish();
}

criterion_group!(benches, scanning);
criterion_main!(benches);
