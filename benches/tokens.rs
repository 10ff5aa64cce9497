//! Minting and verifying one token, per algorithm, through tokengate's own
//! `Issuer` and `Verifier` (key lookup by `kid`, claim checks included).
//!
//! `cargo bench --bench tokens`; keys are generated with openssl at start.

use std::collections::HashMap;
use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tokengate::auth::{Claims, Issuer, TokenSource, TokenSources, Verifier};
use tokengate::runtime_config::RuntimeConfig;

const SECRET: &str = "benchmark-hmac-secret-0123456789abcdef";

fn openssl(args: &[&str]) {
    let status = std::process::Command::new("openssl")
        .args(args)
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl is installed");
    assert!(status.success(), "openssl {args:?}");
}

/// The `[[jwt.keys]]` entry for a fresh key of this algorithm.
fn key_entry(dir: &Path, algorithm: &str) -> String {
    let head = format!("[[jwt.keys]]\nkid = \"{algorithm}\"\nalgorithm = \"{algorithm}\"\n");
    let generate: &[&str] = match algorithm {
        "RS256" => &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
        "ES256" => &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
        "EdDSA" => &["-algorithm", "ed25519"],
        _ => return format!("{head}secret = \"{SECRET}\"\n"),
    };
    let private = dir.join(format!("{algorithm}.pem"));
    let private = private.to_str().unwrap();
    openssl(&[&["genpkey"], generate, &["-out", private]].concat());
    format!("{head}private_key_file = {private:?}\n")
}

/// An issuer and verifier signing with one key, built from settings as the service builds them.
fn pair(dir: &Path, algorithm: &str) -> (Issuer, Verifier) {
    std::fs::write(
        dir.join("default.toml"),
        format!(
            "[jwt]\nsigning_key = \"{algorithm}\"\n{}",
            key_entry(dir, algorithm)
        ),
    )
    .unwrap();
    let users = dir.join("users");
    std::fs::write(&users, "").unwrap();
    let vars = HashMap::from([(
        "TOKENGATE__USERS__FILE".to_owned(),
        users.display().to_string(),
    )]);
    let config = RuntimeConfig::load(dir, &vars).expect("benchmark settings load");
    let jwt = &config.settings.jwt;
    let keys = config.files.keys;
    let issuer = Issuer::with_keys(&keys, &jwt.issuer, &jwt.audience, Duration::from_secs(600));
    let verifier = Verifier::with_keys(
        keys,
        &jwt.issuer,
        &jwt.audience,
        Duration::ZERO,
        TokenSources::new(vec![TokenSource::Bearer], "c"),
    );
    (issuer, verifier)
}

fn tokens(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    for algorithm in ["HS256", "HS384", "HS512", "RS256", "ES256", "EdDSA"] {
        let (issuer, verifier) = pair(dir.path(), algorithm);
        let token = issuer.mint("alice").unwrap().token;
        verifier
            .verify::<Claims>(&token)
            .expect("minted token verifies");

        let mut group = c.benchmark_group(algorithm);
        group.throughput(Throughput::Elements(1));
        group.bench_function("mint", |b| {
            b.iter(|| issuer.mint(black_box("alice")).unwrap())
        });
        group.bench_function("verify", |b| {
            b.iter(|| verifier.verify::<Claims>(black_box(&token)).unwrap())
        });
        group.finish();
    }
}

criterion_group!(benches, tokens);
criterion_main!(benches);
