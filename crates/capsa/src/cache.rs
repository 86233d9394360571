//! The compiled-artifact cache: in memory by content hash, and on disk by content hash under a
//! directory named for the engine's fingerprint.
//!
//! Disk entries are `<sha256>.cwasm` (wasmtime's serialized module, loaded with `deserialize_file`, an
//! mmap) and `<sha256>.b3`, the BLAKE3 checksum of the artifact written with it. An entry is trusted only
//! when the checksum matches; anything else (truncated, corrupted, from another wasmtime) is recompiled
//! and replaced. Both files are written to a temporary name and renamed, so readers never see half an
//! entry.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::error::{Error, Result};

/// Bump when the layout of cache entries changes.
const CACHE_FORMAT: &str = "capsa-cache-v1";

/// A SHA-256 content digest.
pub(crate) type Digest = [u8; 32];

/// Where a module's compiled artifact came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArtifactSource {
    /// Already loaded in this process.
    Memory,
    /// Loaded from the on-disk cache.
    Disk,
    /// Compiled now (and written to the disk cache, when there is one).
    Compiled,
}

pub(crate) struct ArtifactCache {
    dir: Option<PathBuf>,
    memory: Mutex<HashMap<Digest, wasmtime::Module>>,
}

impl ArtifactCache {
    pub(crate) fn new(root: Option<&Path>, engine: &wasmtime::Engine) -> Self {
        let dir = root.map(|root| root.join(fingerprint(engine)));
        ArtifactCache {
            dir,
            memory: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// The compiled module for `source`, whose SHA-256 is `digest`, from the first place that has it.
    pub(crate) fn get_or_compile(
        &self,
        engine: &wasmtime::Engine,
        digest: &Digest,
        source: &[u8],
    ) -> Result<(wasmtime::Module, ArtifactSource)> {
        if let Some(module) = self.memory_get(digest) {
            return Ok((module, ArtifactSource::Memory));
        }
        let (module, origin) = match &self.dir {
            Some(dir) => self.disk_get_or_compile(engine, dir, digest, source)?,
            None => (compile(engine, source)?, ArtifactSource::Compiled),
        };
        if let Ok(mut memory) = self.memory.lock() {
            memory.insert(*digest, module.clone());
        }
        Ok((module, origin))
    }

    fn memory_get(&self, digest: &Digest) -> Option<wasmtime::Module> {
        self.memory.lock().ok()?.get(digest).cloned()
    }

    fn disk_get_or_compile(
        &self,
        engine: &wasmtime::Engine,
        dir: &Path,
        digest: &Digest,
        source: &[u8],
    ) -> Result<(wasmtime::Module, ArtifactSource)> {
        let name = hex(digest);
        let artifact_path = dir.join(format!("{name}.cwasm"));
        let sum_path = dir.join(format!("{name}.b3"));
        match load_entry(engine, &artifact_path, &sum_path) {
            Ok(Some(module)) => return Ok((module, ArtifactSource::Disk)),
            Ok(None) => {}
            Err(reason) => tracing::warn!(
                "cache entry `{}` is unusable ({reason}); recompiling",
                artifact_path.display()
            ),
        }

        let artifact = engine
            .precompile_module(source)
            .map_err(|e| Error::invalid_module(format!("{e:#}")))?;
        match store_entry(dir, &artifact_path, &sum_path, &artifact) {
            // SAFETY: capsa wrote this file a moment ago, in its own cache directory, from
            // `precompile_module` of this very engine.
            Ok(()) => match unsafe { wasmtime::Module::deserialize_file(engine, &artifact_path) } {
                Ok(module) => return Ok((module, ArtifactSource::Compiled)),
                Err(e) => tracing::warn!("cannot map the fresh cache entry: {e:#}"),
            },
            Err(e) => tracing::warn!(
                "cannot write the cache entry `{}`: {e}; keeping it in memory only",
                artifact_path.display()
            ),
        }
        // SAFETY: `artifact` was produced by `precompile_module` of this engine just above.
        let module = unsafe { wasmtime::Module::deserialize(engine, &artifact) }
            .map_err(|e| Error::internal(format!("cannot load a fresh artifact: {e:#}")))?;
        Ok((module, ArtifactSource::Compiled))
    }
}

fn compile(engine: &wasmtime::Engine, source: &[u8]) -> Result<wasmtime::Module> {
    wasmtime::Module::new(engine, source).map_err(|e| Error::invalid_module(format!("{e:#}")))
}

/// `Ok(None)`: no entry. `Err`: an entry that must not be trusted.
fn load_entry(
    engine: &wasmtime::Engine,
    artifact_path: &Path,
    sum_path: &Path,
) -> std::result::Result<Option<wasmtime::Module>, String> {
    let artifact = match std::fs::read(artifact_path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.to_string()),
    };
    let expected = std::fs::read_to_string(sum_path).map_err(|e| format!("checksum: {e}"))?;
    if blake3::hash(&artifact).to_hex().as_str() != expected.trim() {
        return Err("checksum mismatch".into());
    }
    // SAFETY: the file is in capsa's own cache directory and its BLAKE3 checksum matches the one
    // capsa wrote next to it when it compiled the artifact, so these are the bytes capsa produced.
    // wasmtime additionally rejects artifacts of another version or configuration.
    unsafe { wasmtime::Module::deserialize_file(engine, artifact_path) }
        .map(Some)
        .map_err(|e| format!("{e:#}"))
}

fn store_entry(
    dir: &Path,
    artifact_path: &Path,
    sum_path: &Path,
    artifact: &[u8],
) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let sum = blake3::hash(artifact).to_hex();
    // The checksum goes last: an entry without a matching checksum is never trusted.
    write_atomically(dir, artifact_path, artifact)?;
    write_atomically(dir, sum_path, sum.as_bytes())
}

fn write_atomically(dir: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let unique = format!(
        ".tmp-{}-{:?}-{}",
        std::process::id(),
        std::thread::current().id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    );
    let tmp = dir.join(unique.replace(['(', ')'], ""));
    let result = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// A short name for everything that makes artifacts of one engine incompatible with another's.
fn fingerprint(engine: &wasmtime::Engine) -> String {
    let mut hasher = std::hash::DefaultHasher::new();
    CACHE_FORMAT.hash(&mut hasher);
    env!("CARGO_PKG_VERSION").hash(&mut hasher);
    engine.precompile_compatibility_hash().hash(&mut hasher);
    format!("{:016x}", hasher.finish())
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
