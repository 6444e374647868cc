//! One module per subcommand; each exposes `Args` (clap) and `run(Args) -> Result<ExitCode>`.
//! `data` holds what `eval` and `train` share: the data-folder flags and the loader; `plot`
//! draws `eval --plot`.

pub mod analyze;
pub mod data;
pub mod eval;
pub mod plot;
pub mod serve;
pub mod smoke;
pub mod synth;
pub mod trace;
pub mod train;
