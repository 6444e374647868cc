//! The `oxicam` binary as a Unix command: a reader that goes away (`oxicam analyze ... | head`)
//! ends the command quietly instead of a panic about a broken pipe.

use std::process::{Command, Stdio};

use oxicam_testkit::fixtures::write_embedded_trace_csv;

#[test]
fn analyze_into_a_closed_pipe_exits_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("trace.csv");
    write_embedded_trace_csv(&csv);
    for format in [&["--json"][..], &[]] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_oxicam"))
            .arg("analyze")
            .arg(&csv)
            .args(format)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The reader goes away before the analysis is done, so every write meets a closed pipe.
        drop(child.stdout.take());
        let output = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success(),
            "{format:?}: {:?}: {stderr}",
            output.status
        );
        assert!(stderr.is_empty(), "{format:?}: {stderr}");
    }
}
