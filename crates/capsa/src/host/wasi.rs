//! The WASI view of a call: stdio, arguments, granted env vars and granted directories, and the one
//! WASI call capsa narrows: a guest may not create a symlink whose target leaves its mount.

use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, ReadBuf};
use wasmtime::component::Resource;
use wasmtime::{Caller, Extern, Linker};
use wasmtime_wasi::cli::AsyncStdinStream;
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::p2::pipe::MemoryInputPipe;
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

use super::SandboxState;
use crate::call::{Call, Stdin, StdinReader};
use crate::error::{Error, ErrorCode, Result};
use crate::mount::{OpenDir, Protected, symlink_target_stays_inside};
use crate::outcome::LimitExceeded;
use crate::output::{Capture, Stream};

/// Builds the WASI context of one call. The guest gets the call's stdin (capped at
/// `limits.max_stdin`; past it the limit is put in `stdin_over`), its arguments, exactly the granted env vars and
/// mounts, and stdout/stderr that write into `capture`.
///
/// Each granted directory is opened here, once, without following symlinks ([`OpenDir`]); the mount is
/// that handle. A mount that contains capsa's artifact cache (`cache`) or lies inside it is
/// refused: a guest that could write compiled artifacts could run native code on the host.
pub(crate) fn wasi_context(
    call: &Call,
    capture: &Capture,
    cache: Option<&Protected>,
    stdin_over: &Arc<OnceLock<LimitExceeded>>,
) -> Result<WasiP1Ctx> {
    let mut builder = WasiCtxBuilder::new();
    let cap = call.limits.max_stdin;
    match &call.stdin {
        Stdin::Bytes(bytes) => {
            if bytes.len() as u64 > cap.bytes() {
                return Err(Error::new(
                    ErrorCode::InputLimitExceeded,
                    format!(
                        "stdin of {} is over the call's {} limit",
                        crate::limits::ByteSize(bytes.len() as u64),
                        cap
                    ),
                ));
            }
            builder.stdin(MemoryInputPipe::new(bytes.clone()));
        }
        Stdin::Stream(stream) => {
            let reader = stream.lock().ok().and_then(|mut s| s.take());
            match reader {
                Some(reader) => {
                    builder.stdin(AsyncStdinStream::new(CappedReader {
                        inner: reader,
                        left: cap.bytes(),
                        cap,
                        over: stdin_over.clone(),
                    }));
                }
                // A stream is read by one sandbox only; another one sees an empty stdin.
                None => {
                    builder.stdin(MemoryInputPipe::new(bytes::Bytes::new()));
                }
            }
        }
    }
    // WASI hands arguments and variables to the guest as NUL-terminated strings: a NUL inside one
    // would cut it short (what the guest sees is not what was granted), so it is refused.
    for arg in &call.args {
        if arg.contains('\0') {
            return Err(Error::invalid_input("an argument contains a NUL byte"));
        }
    }
    for (key, value) in &call.grants.env {
        if key.is_empty() || key.contains(['=', '\0']) {
            return Err(Error::invalid_input(format!(
                "environment variable name `{}` is empty or contains `=` or a NUL byte",
                key.escape_debug()
            )));
        }
        if value.contains('\0') {
            return Err(Error::invalid_input(format!(
                "environment variable `{key}` has a NUL byte in its value"
            )));
        }
    }
    builder
        .stdout(capture.stream(Stream::Stdout, call.listener.clone()))
        .stderr(capture.stream(Stream::Stderr, call.listener.clone()))
        .arg(&call.program_name)
        .args(&call.args);
    for (key, value) in &call.grants.env {
        builder.env(key, value);
    }
    for dir in &call.grants.dirs {
        let opened = OpenDir::open(&dir.host_path)?;
        if let Some(cache) = cache {
            opened.check_apart_from(cache)?;
        }
        let perms = if dir.read_only {
            FsPerms::ReadOnly
        } else {
            FsPerms::ReadWrite
        };
        // The mount opens the handle's own /proc/self/fd entry, which names the directory opened above
        // and is not resolved by path again; `opened` is closed once the mount holds its own handle.
        builder
            .preopened_dir(opened.handle_path(), &dir.guest_path, perms)
            .map_err(|e| {
                Error::internal(format!(
                    "cannot mount `{}` at `{}`: {e:#}",
                    dir.host_path.display(),
                    dir.guest_path
                ))
            })?;
    }
    Ok(builder.build_p1())
}

/// A streamed stdin that hands the guest at most `cap` bytes (`left` of them still); a byte past them
/// puts the limit in `over` and fails the read, and the call ends with `input_limit_exceeded`.
struct CappedReader {
    inner: StdinReader,
    left: u64,
    cap: crate::limits::ByteSize,
    over: Arc<OnceLock<LimitExceeded>>,
}

impl AsyncRead for CappedReader {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        if this.left == 0 {
            // At the cap: the stream must end here.
            let mut probe = [0u8; 1];
            let mut probe = ReadBuf::new(&mut probe);
            return match Pin::new(&mut this.inner).poll_read(cx, &mut probe) {
                Poll::Ready(Ok(())) if probe.filled().is_empty() => Poll::Ready(Ok(())),
                Poll::Ready(Ok(())) => {
                    let limit = LimitExceeded::new(
                        ErrorCode::InputLimitExceeded,
                        format!("stdin is over the call's {} limit", this.cap),
                    );
                    let error = std::io::Error::other(limit.message.clone());
                    let _ = this.over.set(limit);
                    Poll::Ready(Err(error))
                }
                other => other,
            };
        }
        let room = buf
            .remaining()
            .min(usize::try_from(this.left).unwrap_or(usize::MAX));
        let mut limited = buf.take(room);
        let result = Pin::new(&mut this.inner).poll_read(cx, &mut limited);
        let n = limited.filled().len();
        if let Poll::Ready(Ok(())) = result {
            // SAFETY: `limited` is a view of `buf`'s unfilled part, and the reader filled `n` bytes.
            unsafe { buf.assume_init(n) };
            buf.advance(n);
            this.left -= n as u64;
        }
        result
    }
}

/// `errno::perm` of WASI preview 1.
const ERRNO_PERM: i32 = 63;

/// Replaces WASI preview 1's `path_symlink` with one that refuses targets leaving the mount and hands
/// every other call to wasmtime-wasi's own.
pub(crate) fn guard_symlinks(linker: &mut Linker<SandboxState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let defined = linker.func_wrap_async(
        "wasi_snapshot_preview1",
        "path_symlink",
        |mut caller: Caller<'_, SandboxState>,
         (old_ptr, old_len, fd, new_ptr, new_len): (i32, i32, i32, i32, i32)| {
            Box::new(async move {
                let Some(Extern::Memory(memory)) = caller.get_export("memory") else {
                    return Err(wasmtime::Error::msg(
                        "path_symlink needs the guest's memory",
                    ));
                };
                let (data, state) = memory.data_and_store_mut(&mut caller);
                let target = usize::try_from(old_ptr as u32)
                    .ok()
                    .zip(usize::try_from(old_len as u32).ok())
                    .and_then(|(ptr, len)| data.get(ptr..ptr.checked_add(len)?));
                if target.is_some_and(|t| !symlink_target_stays_inside(t)) {
                    return Ok(ERRNO_PERM);
                }
                let mut memory = wiggle::GuestMemory::Unshared(data);
                wasmtime_wasi::p1::wasi_snapshot_preview1::path_symlink(
                    &mut state.wasi,
                    &mut memory,
                    old_ptr,
                    old_len,
                    fd,
                    new_ptr,
                    new_len,
                )
                .await
            })
        },
    );
    let defined = defined.map(|_| ());
    linker.allow_shadowing(false);
    defined
}

/// Replaces WASI preview 1's `proc_exit`, which wasmtime-wasi turns into a trap for a status of 126
/// or more, with one that ends the call as an exit with that status, whatever it is: what the guest
/// asked for, as a native process's `exit(200)` is.
pub(crate) fn exit_with_any_status(linker: &mut Linker<SandboxState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let defined = linker.func_wrap(
        "wasi_snapshot_preview1",
        "proc_exit",
        |status: i32| -> wasmtime::Result<()> { Err(wasmtime_wasi::I32Exit(status).into()) },
    );
    let defined = defined.map(|_| ());
    linker.allow_shadowing(false);
    defined
}

/// The same guard for components (WASI 0.2's `descriptor.symlink-at`).
pub(crate) fn guard_component_symlinks(
    linker: &mut wasmtime::component::Linker<SandboxState>,
) -> wasmtime::Result<()> {
    use wasmtime_wasi::filesystem::WasiFilesystemView as _;
    use wasmtime_wasi::p2::bindings::filesystem::types::{
        Descriptor, ErrorCode as FsErrorCode, Host as _, HostDescriptor as _,
    };
    linker.allow_shadowing(true);
    let defined = linker.instance(FILESYSTEM_TYPES).and_then(|mut types| {
        types.func_wrap_async(
            "[method]descriptor.symlink-at",
            |mut store: wasmtime::StoreContextMut<'_, SandboxState>,
             (fd, old_path, new_path): (Resource<Descriptor>, String, String)| {
                Box::new(async move {
                    if !symlink_target_stays_inside(old_path.as_bytes()) {
                        return Ok((Err(FsErrorCode::NotPermitted),));
                    }
                    let mut view = store.data_mut().filesystem();
                    match view.symlink_at(fd, old_path, new_path).await {
                        Ok(()) => Ok((Ok(()),)),
                        Err(e) => Ok((Err(view.convert_error_code(e)?),)),
                    }
                })
            },
        )
    });
    linker.allow_shadowing(false);
    defined
}

/// The WASI 0.2 filesystem interface as wasmtime-wasi 48 defines it (imports of older 0.2 versions
/// resolve to it).
const FILESYSTEM_TYPES: &str = "wasi:filesystem/types@0.2.12";
