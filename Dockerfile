# The kinbridge binary in a small runtime image.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release -p kinbridge-server --bin kinbridge

FROM debian:bookworm-slim
RUN useradd --system --home /var/lib/kinbridge --create-home kinbridge
COPY --from=build /src/target/release/kinbridge /usr/local/bin/kinbridge
USER kinbridge
WORKDIR /var/lib/kinbridge
EXPOSE 8080
ENTRYPOINT ["kinbridge"]
CMD ["serve", "--listen", "0.0.0.0:8080"]
