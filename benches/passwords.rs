//! Password verification per hash type at the cost tokengate uses: argon2id
//! with the parameters `tokengate hash-password` writes, and bcrypt at the
//! cost `htpasswd -B` uses by default (5) and at a common hardened cost (10).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use tokengate::credentials::{PasswordHash, hash_password};

fn passwords(c: &mut Criterion) {
    let mut group = c.benchmark_group("password_verify");
    group.sample_size(20);
    let argon2 = PasswordHash::parse(&hash_password("hunter2")).unwrap();
    group.bench_function("argon2id_default", |b| {
        b.iter(|| black_box(argon2.verify(black_box("hunter2"))))
    });
    for cost in [5, 10] {
        let bcrypt = PasswordHash::parse(&bcrypt::hash("hunter2", cost).unwrap()).unwrap();
        group.bench_function(format!("bcrypt_cost_{cost}"), |b| {
            b.iter(|| black_box(bcrypt.verify(black_box("hunter2"))))
        });
    }
    group.finish();
}

criterion_group!(benches, passwords);
criterion_main!(benches);
