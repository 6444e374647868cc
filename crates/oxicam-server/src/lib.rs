//! oxicam-server: the HTTP service (`POST /run`, `/v1/analyses`, health, metrics) and the
//! phone web page, built on axum and tokio.
