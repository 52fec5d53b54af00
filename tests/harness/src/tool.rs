//! The `llm-gateway` binary, run as an operator runs it.

use crate::paths;
use std::path::PathBuf;
use std::process::Command;

/// The binary: `LLM_GATEWAY_BIN`, else cargo's debug build, which `cargo
/// test` and `make tools` keep current.
pub fn binary() -> PathBuf {
    std::env::var_os("LLM_GATEWAY_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| paths::root().join("target/debug/llm-gateway"))
}

/// What a run of the tool printed, and whether it succeeded.
#[derive(Debug)]
pub struct Run {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `llm-gateway <args>` to its end.
pub fn run(args: &[&str]) -> Run {
    let output = Command::new(binary())
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", binary().display()));
    Run {
        success: output.status.success(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}
