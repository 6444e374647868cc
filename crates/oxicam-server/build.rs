//! Build script: records the git commit the binary was built from, for `GET /version`.
//! `OXICAM_GIT_SHA` at build time wins (CI and Docker builds have no .git); otherwise git is asked.

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=OXICAM_GIT_SHA");
    let sha = std::env::var("OXICAM_GIT_SHA")
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| {
            let out = Command::new("git")
                .args(["rev-parse", "HEAD"])
                .output()
                .ok()?;
            out.status
                .success()
                .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
        })
        .unwrap_or_else(|| "unknown".to_string());
    if let Ok(out) = Command::new("git")
        .args(["rev-parse", "--git-dir"])
        .output()
    {
        if out.status.success() {
            let git_dir = String::from_utf8_lossy(&out.stdout).trim().to_string();
            println!("cargo:rerun-if-changed={git_dir}/HEAD");
            println!("cargo:rerun-if-changed={git_dir}/refs/heads");
        }
    }
    println!("cargo:rustc-env=OXICAM_BUILD_GIT_SHA={sha}");
}
