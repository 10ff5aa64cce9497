# tokengate: multi-stage build. The base images are build arguments so a
# machine without registry access can supply its own under other tags.
ARG RUST_IMAGE=rust:1.95-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

FROM ${RUST_IMAGE} AS builder
WORKDIR /build
# Dependencies get their own layer: built against stub sources, so a change
# under src/ reuses it and recompiles only tokengate itself.
COPY Cargo.toml Cargo.lock ./
# Cargo.toml declares the benches, and cargo reads no manifest whose targets
# are missing.
COPY benches benches
RUN mkdir src \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs \
    && cargo build --release --locked --bin tokengate \
    && rm -rf src
# The rest of the context: build.rs, src/, templates/, config/ (see .dockerignore).
COPY . .
# The commit for the tokengate_build_info metric (no .git in the context):
# docker build --build-arg TOKENGATE_COMMIT=$(git rev-parse --short=12 HEAD).
ARG TOKENGATE_COMMIT=unknown
# COPY keeps the context's mtimes, which can be older than the stub build.
RUN touch src/main.rs src/lib.rs \
    && cargo build --release --locked --bin tokengate \
    && install -m 0755 target/release/tokengate /usr/local/bin/tokengate

FROM ${RUNTIME_IMAGE}
WORKDIR /app
COPY --from=builder /usr/local/bin/tokengate /usr/local/bin/tokengate
COPY config config
# Production refuses the development secret and the demo users: the secret
# comes from TOKENGATE__JWT__SECRET or a mounted jwt.secret_file, the users
# from a file mounted at /etc/tokengate/users. Nothing secret is in the image.
# DL3064 reads "TOKEN" in the variable prefix TOKENGATE_ as a credential.
# hadolint ignore=DL3064
ENV TOKENGATE_ENV=production \
    TOKENGATE_CONFIG_DIR=/app/config
# A numeric unprivileged user needs no passwd entry, so any base image works.
USER 65532:65532
EXPOSE 8080
# No curl in the image: the binary asks its own /healthz.
HEALTHCHECK --interval=5s --timeout=3s --start-period=10s --retries=3 \
    CMD ["tokengate", "healthcheck"]
ENTRYPOINT ["tokengate"]
CMD ["serve"]
