//! The compiled-artifact cache: in memory by content hash, and on disk by content hash under a
//! directory named for the engine's fingerprint.
//!
//! Disk entries are `<sha256>.cwasm` (wasmtime's serialized module, mapped with
//! `deserialize_open_file`) and `<sha256>.b3`, the BLAKE3 checksum of the artifact written with it. An
//! entry is used only when the checksum of the very file handle that gets mapped matches; anything else
//! (truncated, corrupted, from another wasmtime) is recompiled and replaced. Both files are written to a
//! temporary name and renamed, so readers never see half an entry.
//!
//! The checksum is keyed (BLAKE3 in keyed mode): the key is 32 random bytes in `<root>.key`, a private
//! file beside the cache directory, not in it, so whoever can write the cache but not that file cannot
//! forge an entry that passes the check. The directory is created private (0700); one that is group- or
//! world-writable or owned by another user is refused with a warning (artifacts are then kept in
//! memory), and no sandbox may mount a directory that contains the cache, its key, or lies inside the
//! cache (see `capability::mount`).

use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Instant;

use crate::error::{Error, Result};
use crate::mount::Protected;

/// Bump when the layout of cache entries changes.
const CACHE_FORMAT: &str = "capsa-cache-v2";

/// Modules kept compiled in memory; the oldest loaded is dropped first. A server loading new code per
/// request must not grow without bound.
const MEMORY_ENTRIES: usize = 256;

/// A SHA-256 content digest.
pub(crate) type Digest = [u8; 32];

/// A compiled artifact: a core module, or a component (capsa's Python runtime).
#[derive(Clone)]
pub(crate) enum Artifact {
    Module(wasmtime::Module),
    Component(wasmtime::component::Component),
}

impl Artifact {
    /// Compiles wasm source (a core module or a component, by its header).
    fn compile(engine: &wasmtime::Engine, source: &[u8]) -> Result<Artifact> {
        let compiled = if is_component(source) {
            wasmtime::component::Component::new(engine, source).map(Artifact::Component)
        } else {
            wasmtime::Module::new(engine, source).map(Artifact::Module)
        };
        compiled.map_err(|e| Error::invalid_module(format!("{e:#}")))
    }

    /// Compiles wasm source to the bytes of a serialized artifact.
    fn precompile(engine: &wasmtime::Engine, source: &[u8]) -> Result<Vec<u8>> {
        let compiled = if is_component(source) {
            engine.precompile_component(source)
        } else {
            engine.precompile_module(source)
        };
        compiled.map_err(|e| Error::invalid_module(format!("{e:#}")))
    }

    /// Loads serialized bytes made by [`Artifact::precompile`] of the same engine.
    ///
    /// # Safety
    ///
    /// `bytes` must come from `precompile` of this engine (wasmtime runs them as native code).
    unsafe fn deserialize(engine: &wasmtime::Engine, bytes: &[u8]) -> wasmtime::Result<Artifact> {
        // SAFETY: the caller's promise.
        unsafe {
            match wasmtime::Engine::detect_precompiled(bytes) {
                Some(wasmtime::Precompiled::Component) => {
                    wasmtime::component::Component::deserialize(engine, bytes)
                        .map(Artifact::Component)
                }
                _ => wasmtime::Module::deserialize(engine, bytes).map(Artifact::Module),
            }
        }
    }

    /// Maps a cache file, through the handle that was checked (`/proc/self/fd`), so a file renamed
    /// over the entry in the meantime is never the one mapped.
    ///
    /// # Safety
    ///
    /// The file must hold an artifact of this engine that capsa wrote itself.
    unsafe fn deserialize_open_file(
        engine: &wasmtime::Engine,
        file: std::fs::File,
    ) -> wasmtime::Result<Artifact> {
        use std::os::fd::AsRawFd as _;
        let path = format!("/proc/self/fd/{}", file.as_raw_fd());
        // SAFETY: the caller's promise.
        unsafe {
            match wasmtime::Engine::detect_precompiled_file(&path)? {
                Some(wasmtime::Precompiled::Component) => {
                    wasmtime::component::Component::deserialize_file(engine, &path)
                        .map(Artifact::Component)
                }
                _ => wasmtime::Module::deserialize_open_file(engine, file).map(Artifact::Module),
            }
        }
    }
}

/// What the first bytes of a file say it is: the one header sniffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WasmKind {
    /// A core wasm module.
    Core,
    /// A component (the layer field of the header is 1).
    Component,
    /// A native artifact (ELF), which capsa never loads from outside.
    Precompiled,
    /// UTF-8 text: wat, presumably.
    Text,
    Unknown,
}

impl WasmKind {
    pub(crate) fn of(bytes: &[u8]) -> WasmKind {
        match bytes {
            [0x00, b'a', b's', b'm', 0x01, 0x00, 0x00, 0x00, ..] => WasmKind::Core,
            [0x00, b'a', b's', b'm', _, _, 0x01, 0x00, ..] => WasmKind::Component,
            [0x7f, b'E', b'L', b'F', ..] => WasmKind::Precompiled,
            _ if std::str::from_utf8(bytes).is_ok() => WasmKind::Text,
            _ => WasmKind::Unknown,
        }
    }
}

fn is_component(bytes: &[u8]) -> bool {
    WasmKind::of(bytes) == WasmKind::Component
}

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
    /// The user-chosen cache directory (canonical), as no mount may overlap it.
    protected: Option<Protected>,
    /// `root` joined with the engine fingerprint.
    dir: Option<PathBuf>,
    /// The key of entry checksums (see the module docs).
    key: [u8; 32],
    memory: Mutex<MemoryCache>,
    /// Compilations under way, by digest (single flight): the first caller of a digest that no
    /// cache holds compiles it, and later callers wait for that instead of compiling it again.
    in_flight: Mutex<HashMap<Digest, Arc<Flight>>>,
}

/// One compilation under way, which callers of the same digest wait for.
#[derive(Default)]
struct Flight {
    done: Mutex<bool>,
    finished: Condvar,
}

impl Flight {
    /// Waits until the compilation has ended (well or not), or until `deadline`: `false` then.
    fn wait(&self, deadline: Option<Instant>) -> bool {
        let done = self.done.lock().unwrap_or_else(PoisonError::into_inner);
        match deadline {
            None => {
                let _done = self
                    .finished
                    .wait_while(done, |done| !*done)
                    .unwrap_or_else(PoisonError::into_inner);
                true
            }
            Some(deadline) => {
                let timeout = deadline.saturating_duration_since(Instant::now());
                let (done, _) = self
                    .finished
                    .wait_timeout_while(done, timeout, |done| !*done)
                    .unwrap_or_else(PoisonError::into_inner);
                *done
            }
        }
    }
}

/// The compiling caller's claim on a digest: dropped (however the compilation ended, panics
/// included), it wakes the waiters and clears the way for the next caller.
struct Leader<'a> {
    cache: &'a ArtifactCache,
    digest: Digest,
    flight: Arc<Flight>,
}

impl Drop for Leader<'_> {
    fn drop(&mut self) {
        self.cache
            .in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.digest);
        *self
            .flight
            .done
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = true;
        self.flight.finished.notify_all();
    }
}

#[derive(Default)]
struct MemoryCache {
    modules: HashMap<Digest, Artifact>,
    order: VecDeque<Digest>,
}

impl ArtifactCache {
    /// A cache under `root`, created private (0700) if missing. When it cannot be created, artifacts
    /// are kept in memory only and a warning says why.
    pub(crate) fn new(root: Option<&Path>, engine: &wasmtime::Engine) -> Self {
        let opened = root.and_then(|root| {
            match create_private_dir(root).and_then(|root| {
                check_private(&root)?;
                let key = load_or_create_key(&key_path(&root)?)?;
                let protected = Protected::new(&root, "capsa's artifact cache")?;
                Ok((root, key, protected))
            }) {
                Ok(opened) => Some(opened),
                Err(e) => {
                    tracing::warn!(
                        "cannot use the cache directory `{}` ({e}); caching in memory only",
                        root.display()
                    );
                    None
                }
            }
        });
        let (dir, key, protected) = match opened {
            Some((root, key, protected)) => {
                (Some(root.join(fingerprint(engine))), key, Some(protected))
            }
            None => (None, [0; 32], None),
        };
        ArtifactCache {
            protected,
            dir,
            key,
            memory: Mutex::new(MemoryCache::default()),
            in_flight: Mutex::new(HashMap::new()),
        }
    }

    /// The cache directory of this engine (under the root, named by the engine fingerprint).
    pub(crate) fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// The cache root, which no sandbox may mount (nor anything that contains it).
    pub(crate) fn protected(&self) -> Option<&Protected> {
        self.protected.as_ref()
    }

    /// The compiled module filed under `digest`, from the first place that has it. `source` makes the
    /// wasm to compile when none has it: the module's bytes (`digest` is their SHA-256), or a language
    /// runtime pre-initialised on demand.
    ///
    /// Concurrent callers of one digest share one compilation: the first compiles, the others wait
    /// for it and take its artifact from memory (if it failed, the next one tries itself, so one
    /// caller's deadline or bad luck is not the others' error).
    ///
    /// A compilation that outlives `deadline` is abandoned (see [`crate::compile::with_deadline`]),
    /// and so is a wait for another caller's.
    pub(crate) fn get_or_compile(
        &self,
        engine: &wasmtime::Engine,
        digest: &Digest,
        source: &dyn Fn() -> Result<Vec<u8>>,
        deadline: Option<Instant>,
    ) -> Result<(Artifact, ArtifactSource)> {
        loop {
            if let Some(module) = self.memory_get(digest) {
                return Ok((module, ArtifactSource::Memory));
            }
            let claim = {
                let mut in_flight = self
                    .in_flight
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                match in_flight.get(digest) {
                    Some(flight) => Err(flight.clone()),
                    None => {
                        let flight = Arc::new(Flight::default());
                        in_flight.insert(*digest, flight.clone());
                        Ok(Leader {
                            cache: self,
                            digest: *digest,
                            flight,
                        })
                    }
                }
            };
            match claim {
                Ok(_leader) => return self.load_or_compile(engine, digest, source, deadline),
                Err(flight) => {
                    if !flight.wait(deadline) {
                        return Err(crate::compile::waited_too_long());
                    }
                }
            }
        }
    }

    /// What [`ArtifactCache::get_or_compile`] does for its first caller: from disk, or compiled now,
    /// then kept in memory.
    fn load_or_compile(
        &self,
        engine: &wasmtime::Engine,
        digest: &Digest,
        source: &dyn Fn() -> Result<Vec<u8>>,
        deadline: Option<Instant>,
    ) -> Result<(Artifact, ArtifactSource)> {
        let (module, origin) = match &self.dir {
            Some(dir) => self.disk_get_or_compile(engine, dir, digest, source, deadline)?,
            None => {
                let (engine, source) = (engine.clone(), source()?);
                let compiled = crate::compile::with_deadline(deadline, move || {
                    Artifact::compile(&engine, &source)
                })?;
                (compiled, ArtifactSource::Compiled)
            }
        };
        if let Ok(mut memory) = self.memory.lock() {
            if memory.modules.insert(*digest, module.clone()).is_none() {
                memory.order.push_back(*digest);
            }
            while memory.order.len() > MEMORY_ENTRIES {
                if let Some(oldest) = memory.order.pop_front() {
                    memory.modules.remove(&oldest);
                }
            }
        }
        Ok((module, origin))
    }

    /// Whether an artifact for `digest` is in memory or on disk (not yet checked).
    pub(crate) fn contains(&self, digest: &Digest) -> bool {
        self.memory_get(digest).is_some()
            || self
                .dir
                .as_ref()
                .is_some_and(|dir| dir.join(format!("{}.cwasm", hex(digest))).is_file())
    }

    fn memory_get(&self, digest: &Digest) -> Option<Artifact> {
        self.memory.lock().ok()?.modules.get(digest).cloned()
    }

    fn disk_get_or_compile(
        &self,
        engine: &wasmtime::Engine,
        dir: &Path,
        digest: &Digest,
        source: &dyn Fn() -> Result<Vec<u8>>,
        deadline: Option<Instant>,
    ) -> Result<(Artifact, ArtifactSource)> {
        let name = hex(digest);
        let artifact_path = dir.join(format!("{name}.cwasm"));
        let sum_path = dir.join(format!("{name}.b3"));
        match load_entry(engine, &self.key, digest, &artifact_path, &sum_path) {
            Ok(Some(module)) => return Ok((module, ArtifactSource::Disk)),
            Ok(None) => {}
            Err(reason) => tracing::warn!(
                "cache entry `{}` is unusable ({reason}); recompiling",
                artifact_path.display()
            ),
        }

        let artifact = {
            let (engine, source) = (engine.clone(), source()?);
            crate::compile::with_deadline(deadline, move || Artifact::precompile(&engine, &source))?
        };
        if let Err(e) = store_entry(dir, &self.key, digest, &artifact_path, &sum_path, &artifact) {
            tracing::warn!(
                "cannot write the cache entry `{}`: {e}; keeping it in memory only",
                artifact_path.display()
            );
        }
        // Load what was compiled, not the file just written: nothing read back from disk is used
        // without the checksum check of `load_entry`.
        // SAFETY: `artifact` was produced by `precompile` of this engine just above.
        let module = unsafe { Artifact::deserialize(engine, &artifact) }
            .map_err(|e| Error::internal(format!("cannot load a fresh artifact: {e:#}")))?;
        Ok((module, ArtifactSource::Compiled))
    }
}

/// `Ok(None)`: no entry. `Err`: an entry that must not be trusted.
fn load_entry(
    engine: &wasmtime::Engine,
    key: &[u8; 32],
    digest: &Digest,
    artifact_path: &Path,
    sum_path: &Path,
) -> std::result::Result<Option<Artifact>, String> {
    let mut file = match std::fs::File::open(artifact_path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.to_string()),
    };
    let expected = std::fs::read_to_string(sum_path).map_err(|e| format!("checksum: {e}"))?;
    // Hash through the same handle that gets mapped, so a file renamed over the entry in between
    // cannot slip past the check.
    // In 1 MiB reads: BLAKE3 hashes many chunks at once (SIMD) only when it gets them at once, which
    // makes checking a 46 MB runtime artifact 3x faster than 8 KiB reads.
    let mut hasher = entry_hasher(key, digest);
    let mut reader = std::io::BufReader::with_capacity(1 << 20, &mut file);
    std::io::copy(&mut reader, &mut hasher).map_err(|e| e.to_string())?;
    drop(reader);
    if hasher.finalize().to_hex().as_str() != expected.trim() {
        return Err("checksum mismatch".into());
    }
    // SAFETY: the file is in capsa's own private cache directory, which no sandbox can mount, and the
    // keyed BLAKE3 checksum of this open file matches the one capsa wrote when it compiled the artifact:
    // only a holder of the key, kept outside the cache, can make one that matches.
    // wasmtime additionally rejects artifacts of another version or configuration.
    unsafe { Artifact::deserialize_open_file(engine, file) }
        .map(Some)
        .map_err(|e| format!("{e:#}"))
}

/// The checksum of an entry is keyed, and covers the source digest it is filed under as well as the
/// artifact, so an intact entry copied under another module's name is refused too.
fn entry_hasher(key: &[u8; 32], digest: &Digest) -> blake3::Hasher {
    let mut hasher = blake3::Hasher::new_keyed(key);
    hasher.update(CACHE_FORMAT.as_bytes()).update(digest);
    hasher
}

/// Creates `dir` (and its parents) if missing, with mode 0700 for `dir` itself, and returns its
/// canonical path.
fn create_private_dir(dir: &Path) -> std::io::Result<PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    dir.canonicalize()
}

/// Refuses a cache directory that someone else could write: owned by another user, or writable by its
/// group or by everyone.
fn check_private(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::symlink_metadata(dir)?;
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    if meta.uid() != me {
        return Err(std::io::Error::other(format!(
            "it is owned by user {}, not by this user ({me})",
            meta.uid()
        )));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(std::io::Error::other(format!(
            "it is writable by its group or by everyone (mode {:o}); `chmod 700` it",
            meta.mode() & 0o777
        )));
    }
    Ok(())
}

/// `<root>.key`: beside the cache directory, so a mount of the cache never holds it (and a mount of the
/// directory that holds both is refused for holding the cache).
fn key_path(root: &Path) -> std::io::Result<PathBuf> {
    let name = root
        .file_name()
        .ok_or_else(|| std::io::Error::other("the cache directory needs a name of its own"))?;
    let mut key = name.to_owned();
    key.push(".key");
    Ok(root.with_file_name(key))
}

/// Reads the checksum key, or makes one: 32 bytes from the system's random source, written to a
/// private temporary file and hard-linked into place, so a key file is never seen half-written and two
/// processes starting at once agree on one key. A key file that is a symlink, owned by someone else,
/// readable by others or not 32 bytes is refused.
fn load_or_create_key(path: &Path) -> std::io::Result<[u8; 32]> {
    use std::io::Read;
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    let open_existing = || {
        std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(path)
    };
    let mut file = match open_existing() {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut key = [0u8; 32];
            std::fs::File::open("/dev/urandom")?.read_exact(&mut key)?;
            // Unique to this process and this attempt (engines may be built on several threads).
            static ATTEMPTS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
            let attempt = ATTEMPTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let tmp = path.with_extension(format!("key.tmp-{}-{attempt}", std::process::id()));
            let written = (|| {
                let mut file = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .custom_flags(libc::O_NOFOLLOW)
                    .open(&tmp)?;
                file.write_all(&key)?;
                file.sync_all()?;
                std::fs::hard_link(&tmp, path)
            })();
            let _ = std::fs::remove_file(&tmp);
            match written {
                Ok(()) => return Ok(key),
                // Another process made it first: use that one.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => open_existing()?,
                Err(e) => return Err(e),
            }
        }
        Err(e) => {
            return Err(std::io::Error::other(format!(
                "key `{}`: {e}",
                path.display()
            )));
        }
    };
    let meta = file.metadata()?;
    // SAFETY: geteuid has no preconditions.
    if meta.uid() != unsafe { libc::geteuid() } || meta.mode() & 0o077 != 0 || meta.len() != 32 {
        return Err(std::io::Error::other(format!(
            "the key `{}` is not a private 32-byte file of this user",
            path.display()
        )));
    }
    let mut key = [0u8; 32];
    file.read_exact(&mut key)?;
    Ok(key)
}

fn store_entry(
    dir: &Path,
    key: &[u8; 32],
    digest: &Digest,
    artifact_path: &Path,
    sum_path: &Path,
    artifact: &[u8],
) -> std::io::Result<()> {
    create_private_dir(dir)?;
    let sum = entry_hasher(key, digest)
        .update(artifact)
        .finalize()
        .to_hex();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn processes_starting_at_once_agree_on_one_complete_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cache.key");
        let keys: Vec<[u8; 32]> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..8)
                .map(|_| scope.spawn(|| load_or_create_key(&path).unwrap()))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(keys.windows(2).all(|w| w[0] == w[1]), "one key for all");
        assert_eq!(std::fs::read(&path).unwrap(), keys[0]);
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temporary left"
        );
    }

    #[test]
    fn a_key_file_that_is_a_symlink_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("elsewhere"), [1u8; 32]).unwrap();
        let path = dir.path().join("cache.key");
        std::os::unix::fs::symlink(dir.path().join("elsewhere"), &path).unwrap();
        assert!(load_or_create_key(&path).is_err());
    }
}
