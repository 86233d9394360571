//! The WASI view of a call: stdio, arguments, granted env vars and granted directories.

use std::path::Path;

use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p2::pipe::MemoryInputPipe;
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

use crate::error::{Error, Result};
use crate::output::{Capture, Stream};
use crate::sandbox::Call;

/// Builds the WASI context of one call. The guest gets the call's stdin, its arguments, exactly the
/// granted env vars and mounts, and stdout/stderr that write into `capture`.
///
/// A mount that contains capsa's artifact cache (`cache_root`) or lies inside it is refused: a guest
/// that could write compiled artifacts could run native code on the host.
pub(crate) fn wasi_context(
    call: &Call,
    capture: &Capture,
    cache_root: Option<&Path>,
) -> Result<WasiP1Ctx> {
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
        if let Some(cache) = cache_root {
            check_not_cache(&dir.host_path, cache)?;
        }
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

fn check_not_cache(host_path: &Path, cache: &Path) -> Result<()> {
    let Ok(mount) = host_path.canonicalize() else {
        // A missing directory fails with a clear message when it is opened.
        return Ok(());
    };
    if cache.starts_with(&mount) || mount.starts_with(cache) {
        return Err(Error::invalid_input(format!(
            "cannot mount `{}`: it overlaps capsa's artifact cache `{}`",
            host_path.display(),
            cache.display()
        )));
    }
    Ok(())
}
