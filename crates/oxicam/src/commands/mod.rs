//! One module per subcommand; each exposes `Args` (clap) and `run(Args) -> Result<ExitCode>`.

pub mod analyze;
pub mod eval;
pub mod serve;
pub mod smoke;
pub mod synth;
pub mod train;
