//! oxicam-testkit: helpers the test suites of several oxicam crates share, so each exists once.
//! A dev-dependency only; nothing here ships.
//!
//! # Layout
//!
//! - [`fixtures`]: test videos with known truth, rendered from the embedded real trace
//!   (`oxicam_video::synth`) or made with the ffmpeg CLI, cached per test binary.
//! - [`http`]: raw HTTP/1.1 requests (multipart uploads byte by byte, so malformed ones too)
//!   and a parser for the answers, for tests that talk to a real socket.

pub mod fixtures;
pub mod http;
