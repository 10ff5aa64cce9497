//! Embeds the commit being built as `TOKENGATE_COMMIT`, for the
//! `tokengate_build_info` metric: the `TOKENGATE_COMMIT` variable when set
//! (the Docker build passes it as a build argument, having no `.git`), else
//! `git rev-parse`, else `unknown`.

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=TOKENGATE_COMMIT");
    let commit = std::env::var("TOKENGATE_COMMIT")
        .ok()
        .filter(|commit| !commit.trim().is_empty())
        .or_else(|| git(&["rev-parse", "--short=12", "HEAD"]))
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=TOKENGATE_COMMIT={}", commit.trim());
    // Rebuild when HEAD moves: HEAD itself (a branch switch) and the ref it names.
    // A path that does not exist (a packed ref) would rerun this every build.
    let reference = git(&["symbolic-ref", "-q", "HEAD"]);
    for name in ["HEAD"].into_iter().chain(reference.as_deref()) {
        if let Some(path) = git(&["rev-parse", "--git-path", name])
            && std::path::Path::new(&path).exists()
        {
            println!("cargo:rerun-if-changed={path}");
        }
    }
}

fn git(args: &[&str]) -> Option<String> {
    let output = Command::new("git").args(args).output().ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
        .filter(|out| !out.is_empty())
}
