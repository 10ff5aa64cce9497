# tokengate: multi-stage build. The base images are build arguments so a
# machine without registry access can supply its own under other tags.
ARG RUST_IMAGE=rust:1.95-bookworm

FROM ${RUST_IMAGE} AS builder
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
WORKDIR /build
# A static binary (glibc linked in), so the runtime image needs no libraries.
# glibc 2.34+ has its "files" and "dns" name services built in, so a static
# binary still resolves service names (redis, tokengate-1) through /etc/hosts
# and the container's DNS; it only cannot load other NSS modules (LDAP,
# mDNS), which a container does not use. The flag applies to --target
# artifacts only, so build scripts and proc macros stay dynamic.
ENV RUSTFLAGS="-C target-feature=+crt-static"
# Dependencies get their own layer: built against stub sources, so a change
# under src/ reuses it and recompiles only tokengate itself.
COPY Cargo.toml Cargo.lock ./
# Cargo.toml declares the benches and the bench peer example, and cargo reads
# no manifest whose targets are missing.
COPY benches benches
COPY bench/peers/bare_actix.rs bench/peers/bare_actix.rs
RUN mkdir src \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs \
    && target="$(rustc -vV | sed -n 's/^host: //p')" \
    && cargo build --release --locked --bin tokengate --target "$target" \
    && rm -rf src
# The rest of the context: build.rs, src/, templates/, config/ (see .dockerignore).
COPY . .
# The commit for the tokengate_build_info metric (no .git in the context):
# docker build --build-arg TOKENGATE_COMMIT=$(git rev-parse --short=12 HEAD).
# A commit id, not a secret (hadolint reads "TOKEN" in the name as one).
# hadolint ignore=DL3064
ARG TOKENGATE_COMMIT=unknown
# COPY keeps the context's mtimes, which can be older than the stub build.
# The runtime's /etc: a passwd and group entry for the unprivileged user
# (uid 65532, named so `ps` and audit logs show a name), and the name
# service order the static glibc follows.
RUN touch src/main.rs src/lib.rs \
    && target="$(rustc -vV | sed -n 's/^host: //p')" \
    && cargo build --release --locked --bin tokengate --target "$target" \
    && mkdir -p /runtime/usr/local/bin /runtime/etc \
    && install -m 0755 "target/$target/release/tokengate" /runtime/usr/local/bin/tokengate \
    && echo 'tokengate:x:65532:65532:tokengate:/nonexistent:/sbin/nologin' > /runtime/etc/passwd \
    && echo 'tokengate:x:65532:' > /runtime/etc/group \
    && echo 'hosts: files dns' > /runtime/etc/nsswitch.conf \
    && /runtime/usr/local/bin/tokengate --version

# Nothing but the binary, its config layers and /etc above: no shell, no
# package manager, no libraries.
FROM scratch
COPY --from=builder /runtime /
WORKDIR /app
COPY config config
# Production refuses the development secret and the demo users: the secret
# comes from TOKENGATE__JWT__SECRET or a mounted jwt.secret_file, the users
# from a file mounted at /etc/tokengate/users. Nothing secret is in the image.
# DL3064 reads "TOKEN" in the variable prefix TOKENGATE_ as a credential.
# hadolint ignore=DL3064
ENV TOKENGATE_ENV=production \
    TOKENGATE_CONFIG_DIR=/app/config
USER 65532:65532
EXPOSE 8080
# No shell and no curl in the image: the binary asks its own /healthz.
HEALTHCHECK --interval=5s --timeout=3s --start-period=10s --retries=3 \
    CMD ["/usr/local/bin/tokengate", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/tokengate"]
CMD ["serve"]
