//! Where the demo stack finds the checkout's artifacts: the checkout this
//! tool was built from (an installed binary too), each overridable with an
//! environment variable, which the Makefile does not need to set.

use std::path::PathBuf;

/// The workspace root: the checkout this crate was compiled in.
pub fn root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.join("../..").canonicalize().unwrap_or(manifest)
}

fn from_env(var: &str, default: PathBuf) -> PathBuf {
    std::env::var_os(var).map(PathBuf::from).unwrap_or(default)
}

/// The Envoy binary: `ENVOY_BIN`, else the Makefile's venv.
pub fn envoy() -> PathBuf {
    from_env("ENVOY_BIN", root().join(".venv/bin/envoy"))
}

/// The `.wasm` files: `WASM_DIR`, else `build/wasm` (written by `make wasm`).
pub fn wasm_dir() -> PathBuf {
    from_env("WASM_DIR", root().join("build/wasm"))
}

/// The bundle able to crash on request (tests/crash-bundle, `make
/// crash-bundle`): `CRASH_WASM_DIR`, else `build/wasm-crash`.
pub fn crash_wasm_dir() -> PathBuf {
    from_env("CRASH_WASM_DIR", root().join("build/wasm-crash"))
}

/// The fake provider server: `FAKE_PROVIDER_BIN`, else cargo's debug build,
/// which `cargo test` and `make tools` keep current (benchmarks point the
/// variable at a release build).
pub fn fake_provider() -> PathBuf {
    from_env(
        "FAKE_PROVIDER_BIN",
        root().join("target/debug/fake-provider"),
    )
}

/// The Envoy config templates and filter configurations.
pub fn envoy_dir() -> PathBuf {
    root().join("envoy")
}
