# Campanile: one static-ish binary plus its web pages and geodata.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked

# The pages' libraries (MapLibre GL, h3-js) from the committed lock file.
FROM node:20-bookworm-slim AS web
WORKDIR /web
COPY web/package.json web/package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --home /srv/campanile campanile
WORKDIR /srv/campanile
COPY --from=build /src/target/release/campanile /usr/local/bin/campanile
COPY web ./web
COPY --from=web /web/node_modules ./web/node_modules
COPY geodata ./geodata
# The embedded engine's default data directory (./campanile-data): a volume,
# so that a container started again keeps what the last one acknowledged.
RUN mkdir campanile-data && chown campanile campanile-data
VOLUME /srv/campanile/campanile-data
USER campanile
ENV CAMPANILE_LISTEN=0.0.0.0:8080
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --retries=3 CMD curl -fsS http://127.0.0.1:8080/healthz || exit 1
ENTRYPOINT ["campanile"]
CMD ["serve"]
