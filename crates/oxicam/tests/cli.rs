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

#[test]
fn trace_prints_the_body_post_v1_traces_takes() {
    let clip = oxicam_testkit::fixtures::good_clip();
    let run = |extra: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_oxicam"))
            .arg("trace")
            .arg(&clip)
            .args(extra)
            .output()
            .unwrap();
        assert!(output.status.success(), "{extra:?}: {output:?}");
        output.stdout
    };
    let plain = run(&[]);
    let delta = run(&["--delta"]);
    for (name, bytes) in [("plain", &plain), ("delta", &delta)] {
        let body: oxicam_server::trace_upload::TraceUpload =
            serde_json::from_slice(bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(body.t.len() > 800, "{name}: {} samples", body.t.len());
        assert!(body.clipped_fraction.is_some() && body.luma_grid_sd.is_some());
    }
    assert!(
        delta.len() * 2 < plain.len(),
        "{} vs {}",
        delta.len(),
        plain.len()
    );
    assert!(delta.len() < 100_000, "30 s: {} bytes", delta.len());

    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("notes.mp4");
    std::fs::write(&text, "not a video").unwrap();
    let refused = Command::new(env!("CARGO_BIN_EXE_oxicam"))
        .arg("trace")
        .arg(&text)
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("notes.mp4"));
}
