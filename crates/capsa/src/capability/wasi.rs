//! The WASI view of a call: stdio, arguments, granted env vars and granted directories.

use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p2::pipe::MemoryInputPipe;
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

use crate::error::{Error, Result};
use crate::output::{Capture, Stream};
use crate::sandbox::Call;

/// Builds the WASI context of one call. The guest gets the call's stdin, its arguments, exactly the
/// granted env vars and mounts, and stdout/stderr that write into `capture`.
pub(crate) fn wasi_context(call: &Call, capture: &Capture) -> Result<WasiP1Ctx> {
    let mut builder = WasiCtxBuilder::new();
    builder
        .stdin(MemoryInputPipe::new(call.stdin.clone()))
        .stdout(capture.stream(Stream::Stdout, call.listener.clone()))
        .stderr(capture.stream(Stream::Stderr, call.listener.clone()))
        .arg(&call.program_name)
        .args(&call.args);
    for (key, value) in &call.grants.env {
        builder.env(key, value);
    }
    for dir in &call.grants.dirs {
        let perms = if dir.read_only {
            FsPerms::ReadOnly
        } else {
            FsPerms::ReadWrite
        };
        builder
            .preopened_dir(&dir.host_path, &dir.guest_path, perms)
            .map_err(|e| {
                Error::invalid_input(format!(
                    "cannot mount `{}` at `{}`: {e:#}",
                    dir.host_path.display(),
                    dir.guest_path
                ))
            })?;
    }
    Ok(builder.build_p1())
}
