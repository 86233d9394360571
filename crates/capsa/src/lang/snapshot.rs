//! Session snapshots: a session's state, immutable and shareable ([`Snapshot`]), forked into new
//! sessions ([`Engine::fork`]) and written as bytes that carry their own proof of origin
//! ([`Snapshot::to_bytes`], keyed with a [`SnapshotKey`]).
//!
//! The byte format, version 1 (integers little-endian):
//!
//! ```text
//! magic "CAPSASNP" | format version u32 | runtime digest [32] | language u8 | has memory u8
//! [memory size u64 | next host-call handle u32
//!  | globals u32, each: name length u16, name, kind u8, value u128
//!  | pages u32, each page index u32, then each page's 4096 bytes]
//! | files u32, each: path length u32, path, size u64, contents
//! | keyed BLAKE3 of everything before [32]
//! ```

use std::sync::Arc;

use crate::call::Call;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::files::WorkPath;
use crate::lang::Language;
use crate::lang::session::Session;
use crate::sandbox::{GlobalValue, MemoryState, PAGE_SIZE};

/// The first bytes of every snapshot.
const MAGIC: &[u8; 8] = b"CAPSASNP";

/// The format [`Snapshot::to_bytes`] writes and [`Snapshot::from_bytes`] reads.
const FORMAT_VERSION: u32 = 1;

/// The MAC at the end.
const MAC_LEN: usize = 32;

/// The longest global name a snapshot may carry.
const MAX_GLOBAL_NAME: usize = 256;

/// Why snapshots of Python sessions are refused.
pub(crate) const PYTHON_UNSUPPORTED: &str = "snapshot/fork is not supported for Python sessions yet: \
    the CPython runtime is a component whose core instances' memories and globals wasmtime 48 does not \
    expose, and it holds WASI resource handles a new sandbox would not have";

/// The key that signs snapshot bytes ([`Snapshot::to_bytes`]) and checks them
/// ([`Snapshot::from_bytes`]). Keep it secret, as a signing key: the JavaScript runtime is trusted
/// (the host believes what it reports), so bytes anyone could forge would be a way to make the host
/// believe anything. Use one key for every process that shares snapshots (the gateway's nodes).
#[derive(Clone)]
pub struct SnapshotKey([u8; 32]);

impl SnapshotKey {
    /// A key from 32 secret bytes.
    pub fn new(bytes: [u8; 32]) -> SnapshotKey {
        SnapshotKey(bytes)
    }

    /// A key from the operating system's random source: for snapshots that never leave this
    /// process's life (they cannot be read back after a restart).
    ///
    /// # Errors
    ///
    /// `internal` when the system has no randomness to give.
    pub fn random() -> Result<SnapshotKey> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes)
            .map_err(|e| Error::internal(format!("no randomness for a snapshot key: {e}")))?;
        Ok(SnapshotKey(bytes))
    }
}

impl std::fmt::Debug for SnapshotKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SnapshotKey(..)")
    }
}

/// A session's state at one moment, taken with [`Session::snapshot`]: the guest's linear memory
/// (as the pages that differ from the runtime's initial image) and globals, and the session's files.
/// Immutable, cheap to clone (an `Arc` inside) and shareable between threads; fork new sessions from
/// it with [`Engine::fork`], or store it with [`Snapshot::to_bytes`].
#[derive(Clone)]
pub struct Snapshot {
    pub(crate) inner: Arc<SnapshotInner>,
}

pub(crate) struct SnapshotInner {
    pub(crate) language: Language,
    /// `None` for a session that had not run anything yet.
    pub(crate) memory: Option<Arc<MemoryState>>,
    pub(crate) files: Vec<(WorkPath, Vec<u8>)>,
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot")
            .field("language", &self.inner.language)
            .field("memory_bytes", &self.memory_bytes())
            .field("size_bytes", &self.size_bytes())
            .field("files", &self.inner.files.len())
            .finish()
    }
}

impl Snapshot {
    /// The language of the session it was taken of.
    pub fn language(&self) -> Language {
        self.inner.language
    }

    /// The bytes the snapshot holds: the changed memory pages and the files' contents (about the
    /// length of [`Snapshot::to_bytes`]).
    pub fn size_bytes(&self) -> u64 {
        let memory = self.inner.memory.as_ref().map_or(0, |m| m.held_bytes());
        memory + self.files_bytes()
    }

    /// The linear memory a fork starts with, in bytes: what counts against its memory limit (0 for a
    /// session that had not run anything, whose fork starts fresh).
    pub fn memory_bytes(&self) -> u64 {
        self.inner.memory.as_ref().map_or(0, |m| m.memory_bytes)
    }

    /// The bytes of its files: what counts against a fork's `max_files` limit.
    pub fn files_bytes(&self) -> u64 {
        self.inner.files.iter().map(|(_, c)| c.len() as u64).sum()
    }

    /// The snapshot as bytes, for another process or node: versioned (format, runtime build) and
    /// signed with `key` (a keyed BLAKE3 over all of it), so [`Snapshot::from_bytes`] refuses
    /// anything else (the format is in `docs/sessions.md`).
    pub fn to_bytes(&self, key: &SnapshotKey) -> Vec<u8> {
        let inner = &self.inner;
        let mut out = Vec::with_capacity(self.size_bytes() as usize + 256);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(runtime_digest(inner.language));
        out.push(language_byte(inner.language));
        match &inner.memory {
            None => out.push(0),
            Some(memory) => {
                out.push(1);
                out.extend_from_slice(&memory.memory_bytes.to_le_bytes());
                out.extend_from_slice(&memory.next_handle.to_le_bytes());
                out.extend_from_slice(&(memory.globals.len() as u32).to_le_bytes());
                for (name, value) in &memory.globals {
                    out.extend_from_slice(&(name.len() as u16).to_le_bytes());
                    out.extend_from_slice(name.as_bytes());
                    let (kind, bits) = match *value {
                        GlobalValue::I32(x) => (0u8, u128::from(x as u32)),
                        GlobalValue::I64(x) => (1, u128::from(x as u64)),
                        GlobalValue::F32(x) => (2, u128::from(x)),
                        GlobalValue::F64(x) => (3, u128::from(x)),
                        GlobalValue::V128(x) => (4, x),
                    };
                    out.push(kind);
                    out.extend_from_slice(&bits.to_le_bytes());
                }
                out.extend_from_slice(&(memory.pages.len() as u32).to_le_bytes());
                for page in &memory.pages {
                    out.extend_from_slice(&page.to_le_bytes());
                }
                out.extend_from_slice(&memory.data);
            }
        }
        out.extend_from_slice(&(inner.files.len() as u32).to_le_bytes());
        for (path, contents) in &inner.files {
            let path = path.to_bytes();
            out.extend_from_slice(&(path.len() as u32).to_le_bytes());
            out.extend_from_slice(&path);
            out.extend_from_slice(&(contents.len() as u64).to_le_bytes());
            out.extend_from_slice(contents);
        }
        let mac = blake3::keyed_hash(&key.0, &out);
        out.extend_from_slice(mac.as_bytes());
        out
    }

    /// Reads bytes written by [`Snapshot::to_bytes`] with the same `key`, for forking on `engine`.
    /// Nothing in them is used before the signature is checked.
    ///
    /// # Errors
    ///
    /// `invalid_input`, with the reason, for bytes that are not a snapshot, truncated, of another
    /// format version, signed with another key or changed since (any byte), made by another build of
    /// the language runtime, or of a language that cannot snapshot (Python); `internal` when the
    /// runtime cannot be prepared.
    pub fn from_bytes(engine: &Engine, bytes: &[u8], key: &SnapshotKey) -> Result<Snapshot> {
        let refuse = |why: &str| Error::invalid_input(format!("snapshot refused: {why}"));
        if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
            return Err(refuse("these are not capsa snapshot bytes"));
        }
        let header = MAGIC.len() + 4;
        let version = bytes
            .get(MAGIC.len()..header)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_le_bytes)
            .ok_or_else(|| refuse("the bytes are truncated"))?;
        if version != FORMAT_VERSION {
            return Err(refuse(&format!(
                "it is of snapshot format version {version}; this build reads version {FORMAT_VERSION}"
            )));
        }
        let Some(body_len) = bytes.len().checked_sub(MAC_LEN).filter(|&n| n >= header) else {
            return Err(refuse("the bytes are truncated"));
        };
        let (body, mac) = bytes.split_at(body_len);
        let mac: [u8; MAC_LEN] = mac
            .try_into()
            .map_err(|_| refuse("the bytes are truncated"))?;
        // `Hash` compares in constant time.
        if blake3::keyed_hash(&key.0, body) != blake3::Hash::from(mac) {
            return Err(refuse(
                "its signature does not match: it was changed or truncated, or signed with another key",
            ));
        }
        let mut r = Reader {
            bytes: body,
            at: header,
        };
        let digest = r.take(32)?;
        let language = match r.u8()? {
            1 => Language::JavaScript,
            2 => Language::TypeScript,
            3 => Language::Python,
            _ => return Err(refuse("it names an unknown language")),
        };
        let descriptor = language
            .runtime_descriptor()
            .ok_or_else(|| refuse("it names an unknown language"))?;
        if !descriptor.snapshots {
            return Err(Error::invalid_input(PYTHON_UNSUPPORTED));
        }
        if digest != descriptor.digest().as_slice() {
            return Err(refuse(&format!(
                "it was made by another build of the {} runtime",
                descriptor.name
            )));
        }
        let memory = match r.u8()? {
            0 => None,
            1 => Some(Arc::new(read_memory(&mut r)?)),
            _ => return Err(refuse("its memory flag is not 0 or 1")),
        };
        let count = r.u32()?;
        let mut files = Vec::new();
        for _ in 0..count {
            let len = r.u32()? as usize;
            let path = WorkPath::from_bytes(r.take(len)?)
                .ok_or_else(|| refuse("a file path in it is not one under /work"))?;
            let size =
                usize::try_from(r.u64()?).map_err(|_| refuse("a file in it is too large"))?;
            files.push((path, r.take(size)?.to_vec()));
        }
        if r.at != body.len() {
            return Err(refuse("it has bytes after its end"));
        }
        if let Some(memory) = &memory {
            let runtime = descriptor.module(engine)?;
            let names: Vec<&str> = memory.globals.iter().map(|(n, _)| n.as_str()).collect();
            let expected: Vec<&str> = runtime
                .mutable_globals()
                .iter()
                .map(String::as_str)
                .collect();
            if names != expected {
                return Err(refuse("its globals are not the runtime's"));
            }
        }
        Ok(Snapshot {
            inner: Arc::new(SnapshotInner {
                language,
                memory,
                files,
            }),
        })
    }
}

fn read_memory(r: &mut Reader<'_>) -> Result<MemoryState> {
    let memory_bytes = r.u64()?;
    let next_handle = r.u32()?;
    let count = r.u32()?;
    let mut globals = Vec::new();
    for _ in 0..count {
        let len = usize::from(r.u16()?);
        if len > MAX_GLOBAL_NAME {
            return Err(Error::invalid_input(
                "snapshot refused: a global name in it is too long",
            ));
        }
        let name = std::str::from_utf8(r.take(len)?)
            .map_err(|_| {
                Error::invalid_input("snapshot refused: a global name in it is not UTF-8")
            })?
            .to_owned();
        let kind = r.u8()?;
        let bits = u128::from_le_bytes(
            r.take(16)?
                .try_into()
                .map_err(|_| Error::invalid_input("snapshot refused: the bytes are truncated"))?,
        );
        let value = match kind {
            0 => GlobalValue::I32(bits as u32 as i32),
            1 => GlobalValue::I64(bits as u64 as i64),
            2 => GlobalValue::F32(bits as u32),
            3 => GlobalValue::F64(bits as u64),
            4 => GlobalValue::V128(bits),
            _ => {
                return Err(Error::invalid_input(
                    "snapshot refused: a global in it has an unknown type",
                ));
            }
        };
        globals.push((name, value));
    }
    let pages_len = r.u32()? as usize;
    let indices = r.take(pages_len.saturating_mul(4))?;
    let pages = indices
        .chunks_exact(4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    let data = r.take(pages_len.saturating_mul(PAGE_SIZE))?.to_vec();
    let state = MemoryState {
        memory_bytes,
        globals,
        pages,
        data,
        next_handle,
    };
    state
        .check()
        .map_err(|why| Error::invalid_input(format!("snapshot refused: {why}")))?;
    Ok(state)
}

/// Reads a snapshot's fields; running out is `invalid_input` (only after the signature matched,
/// so only a bug could make it happen).
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&end| end <= self.bytes.len())
            .ok_or_else(|| Error::invalid_input("snapshot refused: the bytes are truncated"))?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Result<u64> {
        let mut word = [0u8; 8];
        word.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(word))
    }
}

fn language_byte(language: Language) -> u8 {
    match language {
        Language::JavaScript => 1,
        Language::TypeScript => 2,
        Language::Python => 3,
        // Sessions are never of wasm; a snapshot of one cannot exist.
        Language::Wasm => 0,
    }
}

fn runtime_digest(language: Language) -> &'static [u8] {
    match language.runtime_descriptor() {
        Some(runtime) => runtime.digest().as_slice(),
        None => &[0; 32],
    }
}

impl Engine {
    /// A new session from `snapshot`: its guest state and its files, with `call`'s limits, grants and
    /// output listener. The fork is independent: what it does is never seen by the session the
    /// snapshot was taken of, nor by another fork. Its first evaluation starts in a fresh instance
    /// of the runtime (copy-on-write memory shared with the runtime's image) with only the
    /// snapshot's changed pages written in; [`Session::reset`] then starts it over from a fresh
    /// runtime, not from the snapshot.
    ///
    /// # Errors
    ///
    /// `memory_limit_exceeded` when the snapshot's memory ([`Snapshot::memory_bytes`]) is over
    /// `call`'s memory limit; `files_limit_exceeded` when its files are over `call`'s `max_files`;
    /// otherwise as [`Engine::session`].
    pub fn fork(&self, snapshot: &Snapshot, call: Call) -> Result<Session> {
        Session::fork(self, snapshot, call)
    }
}
