//! The `oxicam` command line: analyze, serve, eval, train, synth and smoke.
//! Each subcommand is a thin layer over the library crates.

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "oxicam", version, about = "Heart rate and SpO2 from a fingertip video")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {}
}
