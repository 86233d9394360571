//! Sessions (SPEC §6): one sandbox kept alive across many evaluations, for REPLs, notebooks and agents.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use std::borrow::Cow;

use capsa_wire::protocol::{Answer, Op, Request, Source, Text};
use serde::Serialize;
use serde_json::Value;

use crate::call::Call;
use crate::capability::DirGrant;
use crate::engine::Engine;
use crate::error::{Error, ErrorCode, Result};
use crate::files::{FileEntry, WORK_DIR, WorkDir, WorkPath, over_cap};
use crate::lang::Language;
use crate::lang::runtime::Runtime;
use crate::lang::script::{apply_answer, encode_request};
use crate::lang::snapshot::{PYTHON_UNSUPPORTED, Snapshot, SnapshotInner};
use crate::lang::typescript::{self, SourceMap};
use crate::module::Module;
use crate::outcome::failure;
use crate::receipt::Receipt;
use crate::sandbox::{Prepared, Sandbox};

/// A stateful JavaScript, TypeScript or Python sandbox: globals, functions and event handlers
/// (`host.on` in JavaScript, `@capsa.on` in Python) persist from one [`Session::eval`] to the next.
///
/// Every evaluation has the deadline, CPU budget, output cap and host-call caps of the session's
/// [`Limits`](crate::Limits); the memory limit covers the session's whole life. An evaluation that ends
/// in a trap or a limit discards the sandbox: the next one starts fresh (see [`SessionStats::resets`]).
/// A script's own exceptions keep the state.
///
/// A session has files: its own directory, which Python scripts see at `/work` and the host reaches
/// with [`Session::write_file`], [`Session::read_file`] and [`Session::list_files`], capped by
/// [`Limits::max_files`](crate::Limits::max_files) and removed when the session is dropped. A
/// JavaScript or TypeScript session can [`snapshot`](Session::snapshot) its state (memory, globals
/// and files) and [`fork`](Engine::fork) new sessions from it (`docs/sessions.md`).
///
/// ```no_run
/// use capsa::{Call, Engine, Language};
///
/// # fn main() -> Result<(), capsa::Error> {
/// let engine = Engine::builder().build()?;
/// let mut session = engine.session(Language::JavaScript, Call::new())?;
/// session.eval("let count = 1")?;
/// let receipt = session.eval("count += 41")?;
/// assert_eq!(receipt.result, Some(serde_json::json!(42)));
/// # Ok(()) }
/// ```
pub struct Session {
    id: u64,
    runtime: Module,
    language: Language,
    descriptor: &'static Runtime,
    /// The limits, grants and output listener every evaluation uses.
    call: Call,
    sandbox: Option<Sandbox>,
    stats: SessionStats,
    /// The session's files, once it has any (or once a script could make some).
    files: Option<WorkDir>,
    /// Where its files' directory is made.
    files_base: Option<std::path::PathBuf>,
    /// The snapshot a fork starts from, until its first sandbox is restored from it.
    origin: Option<Snapshot>,
    /// What threw the state away since the last [`Session::reset`] (a limit, a trap, a cancelled
    /// evaluation): a snapshot now would silently be of a fresh runtime.
    discarded_by: Option<String>,
}

/// What a session has done so far.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SessionStats {
    /// Evaluations, dispatches and compilations run.
    pub evals: u64,
    /// CPU time of all of them, in microseconds.
    pub cpu_us: u64,
    /// Fuel used by all of them, when the engine meters fuel.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fuel_used: Option<u64>,
    /// The largest linear memory the current sandbox has had.
    pub memory_peak_bytes: u64,
    /// Host calls of all of them.
    pub host_calls: u64,
    /// Times the state was thrown away: by [`Session::reset`], or after a trap or a limit.
    pub resets: u64,
}

/// JavaScript compiled to QuickJS bytecode by [`Session::compile`], to be run many times with
/// [`Session::eval_compiled`] of the same session.
///
/// Only capsa makes these: there is no way to build one from bytes, so no user-supplied bytecode ever
/// reaches the runtime. The bytecode comes out of the session's sandbox, so it is only ever loaded
/// back into that session: a compromised runtime cannot pass code to another session.
#[derive(Clone)]
pub struct Compiled {
    /// The session that made it: bytecode an untrusted sandbox produced goes back only into that
    /// sandbox's session, never into another tenant's.
    session: u64,
    bytecode: Arc<str>,
    file: Arc<str>,
    source_map: Option<SourceMap>,
}

impl std::fmt::Debug for Compiled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compiled")
            .field("file", &self.file)
            .field("bytecode_base64_len", &self.bytecode.len())
            .finish()
    }
}

impl Session {
    pub(crate) fn new(engine: &Engine, language: Language, call: Call) -> Result<Session> {
        let descriptor = language.runtime_descriptor().ok_or_else(|| {
            Error::invalid_input(
                "sessions run JavaScript, TypeScript or Python; a wasm module runs with `Module::run`",
            )
        })?;
        if descriptor.files
            && let Some(grant) = call.grants.dirs.iter().find(|d| under_work(&d.guest_path))
        {
            return Err(Error::invalid_input(format!(
                "a session's own files are at {WORK_DIR}: mount `{}` elsewhere than `{}`",
                grant.host_path.display(),
                grant.guest_path
            )));
        }
        let runtime = descriptor.module(engine)?;
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        Ok(Session {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            runtime,
            language,
            descriptor,
            call,
            sandbox: None,
            stats: SessionStats::default(),
            files: None,
            files_base: engine.inner.session_dir.clone(),
            origin: None,
            discarded_by: None,
        })
    }

    /// A session in `snapshot`'s state (see [`Engine::fork`]).
    pub(crate) fn fork(engine: &Engine, snapshot: &Snapshot, call: Call) -> Result<Session> {
        let inner = &snapshot.inner;
        let limits = &call.limits;
        if snapshot.memory_bytes() > limits.memory.bytes() {
            return Err(Error::new(
                ErrorCode::MemoryLimitExceeded,
                format!(
                    "the snapshot's {} of linear memory is over the fork's {} memory limit",
                    crate::limits::ByteSize(snapshot.memory_bytes()).approx(),
                    limits.memory
                ),
            ));
        }
        if snapshot.files_bytes() > limits.max_files.bytes() {
            return Err(over_cap(snapshot.files_bytes(), limits.max_files));
        }
        let mut session = Session::new(engine, inner.language, call)?;
        if !inner.files.is_empty() {
            session.files_dir()?.restore(&inner.files)?;
        }
        if inner.memory.is_some() {
            session.origin = Some(snapshot.clone());
        }
        Ok(session)
    }

    /// The session's state now, as an immutable [`Snapshot`] to fork sessions from
    /// ([`Engine::fork`]) or to store ([`Snapshot::to_bytes`]). The session goes on unchanged. A
    /// session that has not evaluated anything yet snapshots as a fresh runtime with its files.
    ///
    /// # Errors
    ///
    /// `invalid_input` for a Python session (not supported yet: see `docs/sessions.md`); `conflict`
    /// when the session's state is not one to keep: it hit a limit or trapped since its last
    /// [`Session::reset`] (its state was thrown away), its last evaluation was cancelled half-way, or
    /// host calls it started are still in flight; `files_limit_exceeded` when its files are over its
    /// `max_files` limit.
    pub fn snapshot(&mut self) -> Result<Snapshot> {
        let runtime = self.runtime.clone();
        runtime.block_on(self.snapshot_async())
    }

    /// As [`Session::snapshot`], in an async runtime. Runs no guest code; the first snapshot on an
    /// engine also takes the runtime's initial memory image (a few milliseconds, once).
    ///
    /// # Errors
    ///
    /// As [`Session::snapshot`].
    pub async fn snapshot_async(&mut self) -> Result<Snapshot> {
        if !self.descriptor.snapshots {
            return Err(Error::invalid_input(PYTHON_UNSUPPORTED));
        }
        if let Some(why) = &self.discarded_by {
            return Err(Error::new(
                ErrorCode::Conflict,
                format!(
                    "the session {why} since its last reset, which threw its state away: reset it \
                     before taking a snapshot"
                ),
            ));
        }
        let memory = match &mut self.sandbox {
            Some(sandbox) => sandbox.capture().await?.map(Arc::new),
            None => self
                .origin
                .as_ref()
                .and_then(|origin| origin.inner.memory.clone()),
        };
        let files = match &self.files {
            Some(files) => files.read_all(self.call.limits.max_files)?,
            None => Vec::new(),
        };
        Ok(Snapshot {
            inner: Arc::new(SnapshotInner {
                language: self.language,
                memory,
                files,
            }),
        })
    }

    /// Writes `contents` to the file `path` of the session's files: `data/in.csv` or
    /// `/work/data/in.csv`, making the directories on the way and replacing a file that is there.
    ///
    /// # Errors
    ///
    /// `invalid_input` for a path with `..` or NUL, outside `/work`, or through a symbolic link (the
    /// host never follows one a script made); `files_limit_exceeded` when the session's files would
    /// then be over its `max_files` limit (nothing is written); `internal` for a failure of the
    /// host's disk.
    pub fn write_file(&mut self, path: &str, contents: &[u8]) -> Result<()> {
        let path = WorkPath::parse(path)?;
        let cap = self.call.limits.max_files;
        self.files_dir()?.write(&path, contents, cap)
    }

    /// The contents of the file `path` of the session's files (as for [`Session::write_file`]).
    ///
    /// # Errors
    ///
    /// `not_found` when there is no such file; `invalid_input` for a bad path, a symbolic link or a
    /// directory; `files_limit_exceeded` for a file larger than the session's `max_files` limit.
    pub fn read_file(&self, path: &str) -> Result<Vec<u8>> {
        let path = WorkPath::parse(path)?;
        match &self.files {
            Some(files) => files.read(&path, self.call.limits.max_files),
            None => Err(Error::new(
                ErrorCode::NotFound,
                format!(
                    "no file `{}` in {WORK_DIR}",
                    String::from_utf8_lossy(&path.to_bytes())
                ),
            )),
        }
    }

    /// The regular files of the session, with their sizes, sorted by path (symbolic links and
    /// directories are not listed).
    ///
    /// # Errors
    ///
    /// `files_limit_exceeded` when a script made more than 100,000 entries or nested directories
    /// more than 64 deep; `internal` when the directory cannot be read.
    pub fn list_files(&self) -> Result<Vec<FileEntry>> {
        match &self.files {
            Some(files) => files.list(),
            None => Ok(Vec::new()),
        }
    }

    /// The session's files' directory, made now if it has none.
    fn files_dir(&mut self) -> Result<&WorkDir> {
        if self.files.is_none() {
            self.files = Some(WorkDir::create(self.files_base.as_deref())?);
        }
        self.files
            .as_ref()
            .ok_or_else(|| Error::internal("the session's files vanished"))
    }

    /// A new sandbox for the session: restored from the snapshot it was forked from, if it has not
    /// run yet, else fresh; with its files mounted at `/work` for a runtime that reaches files.
    async fn open_sandbox(&mut self) -> Result<Sandbox> {
        let mounted;
        let call = if self.descriptor.files {
            let host = self.files_dir()?.host_path().to_path_buf();
            let mut call = self.call.clone();
            call.grants.dirs.insert(0, DirGrant::new(host, WORK_DIR));
            mounted = call;
            &mounted
        } else {
            &self.call
        };
        let sandbox = match self.origin.as_ref().and_then(|o| o.inner.memory.clone()) {
            Some(memory) => Sandbox::restore(&self.runtime, call, &memory).await?,
            None => {
                let sandbox = Sandbox::open_ready(&self.runtime, call)?;
                crate::sandbox::refill_standby(&self.runtime);
                sandbox
            }
        };
        self.origin = None;
        Ok(sandbox)
    }

    /// Evaluates `code` in the session. The receipt's result is the value of its last expression.
    ///
    /// # Errors
    ///
    /// `invalid_input` for TypeScript that does not parse or a cell with `import`/`export`; otherwise
    /// as [`Module::run`]: what the code does is in the receipt.
    pub fn eval(&mut self, code: &str) -> Result<Receipt> {
        let runtime = self.runtime.clone();
        runtime.block_on(self.eval_async(code))
    }

    /// As [`Session::eval`], in an async runtime.
    ///
    /// # Errors
    ///
    /// As [`Session::eval`].
    pub async fn eval_async(&mut self, code: &str) -> Result<Receipt> {
        let (file, code, source_map) = self.cell(code)?;
        let op = Op::Eval(cell_source(&code, &file));
        let (receipt, _) = self.invoke(op, source_map.as_ref()).await?;
        Ok(receipt)
    }

    /// Calls the handler registered with `host.on(event, fn)` with `payload`; the receipt's result is
    /// what it returns (awaited).
    ///
    /// # Errors
    ///
    /// As [`Session::eval`].
    pub fn dispatch(&mut self, event: &str, payload: &Value) -> Result<Receipt> {
        let runtime = self.runtime.clone();
        runtime.block_on(self.dispatch_async(event, payload))
    }

    /// As [`Session::dispatch`], in an async runtime.
    ///
    /// # Errors
    ///
    /// As [`Session::eval`].
    pub async fn dispatch_async(&mut self, event: &str, payload: &Value) -> Result<Receipt> {
        let op = Op::Dispatch {
            event: Cow::Borrowed(event),
            payload: Cow::Borrowed(payload),
        };
        let (receipt, _) = self.invoke(op, None).await?;
        Ok(receipt)
    }

    /// Compiles `code` to bytecode once, for [`Session::eval_compiled`] to run many times.
    ///
    /// # Errors
    ///
    /// `invalid_input` with the syntax error when the code does not compile; `internal` when the
    /// sandbox failed.
    pub fn compile(&mut self, code: &str) -> Result<Compiled> {
        let runtime = self.runtime.clone();
        runtime.block_on(self.compile_async(code))
    }

    /// As [`Session::compile`], in an async runtime.
    ///
    /// # Errors
    ///
    /// As [`Session::compile`].
    pub async fn compile_async(&mut self, code: &str) -> Result<Compiled> {
        if !self.descriptor.bytecode {
            return Err(Error::invalid_input(
                "compiling to bytecode is for JavaScript and TypeScript sessions",
            ));
        }
        let (file, code, source_map) = self.cell(code)?;
        let op = Op::Compile(cell_source(&code, &file));
        let (receipt, answer) = self.invoke(op, source_map.as_ref()).await?;
        if let Some(error) = receipt.error {
            let code = match error.code {
                ErrorCode::GuestException => ErrorCode::InvalidInput,
                other => other,
            };
            return Err(Error::new(code, error.message));
        }
        let bytecode = answer
            .bytecode
            .ok_or_else(|| Error::internal("the runtime returned no bytecode"))?;
        Ok(Compiled {
            session: self.id,
            bytecode: bytecode.into(),
            file: file.into(),
            source_map,
        })
    }

    /// Runs bytecode from [`Session::compile`] of this session, like [`Session::eval`] of its source
    /// (also after [`Session::reset`]).
    ///
    /// # Errors
    ///
    /// `invalid_input` for code compiled in another session; otherwise as [`Session::eval`].
    pub fn eval_compiled(&mut self, compiled: &Compiled) -> Result<Receipt> {
        let runtime = self.runtime.clone();
        runtime.block_on(self.eval_compiled_async(compiled))
    }

    /// As [`Session::eval_compiled`], in an async runtime.
    ///
    /// # Errors
    ///
    /// As [`Session::eval`].
    pub async fn eval_compiled_async(&mut self, compiled: &Compiled) -> Result<Receipt> {
        if compiled.session != self.id {
            return Err(Error::invalid_input(
                "this code was compiled in another session: compile it in this one",
            ));
        }
        let op = Op::EvalCompiled {
            bytecode: Cow::Borrowed(&compiled.bytecode),
        };
        let (receipt, _) = self.invoke(op, compiled.source_map.as_ref()).await?;
        Ok(receipt)
    }

    /// Throws the state away: the next evaluation starts in a fresh sandbox (also for a fork: from a
    /// fresh runtime, not from its snapshot). The session's files stay.
    pub fn reset(&mut self) {
        self.discard();
        self.origin = None;
        self.discarded_by = None;
    }

    /// Drops the sandbox and its state.
    fn discard(&mut self) {
        if self.sandbox.take().is_some() {
            self.stats.resets += 1;
        }
        self.stats.memory_peak_bytes = 0;
    }

    /// What the session has done so far.
    pub fn stats(&self) -> &SessionStats {
        &self.stats
    }

    /// Whether a REPL should read another line before evaluating `input`. JavaScript and TypeScript:
    /// a bracket, a template literal or a block comment is open (an unclosed `'…'` is complete: a
    /// syntax error). Python: a bracket or a triple-quoted string is open, a line ends in `\`, or a
    /// compound statement (`def f():`) has not been closed by an empty line.
    pub fn is_incomplete(&self, input: &str) -> bool {
        (self.descriptor.is_incomplete)(input)
    }

    /// The session's language.
    pub fn language(&self) -> Language {
        self.language
    }

    /// A cell's file name, its JavaScript, and the source map for TypeScript.
    fn cell(&self, code: &str) -> Result<(String, String, Option<SourceMap>)> {
        let n = self.stats.evals + 1;
        match self.language {
            Language::TypeScript => {
                let file = format!("cell{n}.ts");
                let stripped = typescript::strip(code, &file)?;
                if stripped.is_module {
                    return Err(Error::invalid_input(
                        "a session cell cannot use `import`/`export`",
                    ));
                }
                Ok((file, stripped.code, Some(stripped.source_map)))
            }
            language => Ok((format!("cell{n}.{language}"), code.to_owned(), None)),
        }
    }

    async fn invoke(
        &mut self,
        op: Op<'_>,
        source_map: Option<&SourceMap>,
    ) -> Result<(Receipt, Answer)> {
        let request = encode_request(&Request {
            op,
            memory_limit: Some(self.call.limits.memory.bytes()),
        })?;
        // An earlier evaluation was dropped half-way (its future cancelled): start over.
        if self.sandbox.as_ref().is_some_and(Sandbox::is_poisoned) {
            self.discard();
            self.discarded_by = Some("had an evaluation cancelled half-way".to_owned());
        }
        if self.sandbox.is_none() {
            let sandbox = self.open_sandbox().await?;
            self.sandbox = Some(sandbox);
        }
        let Some(sandbox) = self.sandbox.as_mut() else {
            return Err(Error::internal("the session's sandbox vanished"));
        };
        let mut receipt = sandbox
            .invoke(&Prepared::runtime(request), &self.call.limits)
            .await;
        let poisoned = sandbox.is_poisoned();
        let answer = apply_answer(&mut receipt, self.descriptor, source_map);
        // A limit the runtime reported itself (out of memory, too deep a recursion) ends the sandbox
        // too.
        let mut limited = receipt
            .code()
            .is_some_and(|code| code.is_limit() || code == ErrorCode::Trap);
        // A script that left /work over the cap: the evaluation ends with the files limit (unless
        // the host stopped it for another) and the state goes, as for any limit.
        if self.descriptor.files
            && let Some(files) = &self.files
            && let Some(over) = files_over(files, self.call.limits.max_files)?
        {
            if !limited {
                receipt.error = Some(failure(ErrorCode::FilesLimitExceeded, over.to_string()));
                receipt.result = None;
            }
            limited = true;
        }

        let stats = &mut self.stats;
        stats.evals += 1;
        stats.cpu_us += receipt.stats.cpu_us;
        stats.host_calls += receipt.stats.host_calls;
        if let Some(fuel) = receipt.stats.fuel_used {
            *stats.fuel_used.get_or_insert(0) += fuel;
        }
        stats.memory_peak_bytes = stats.memory_peak_bytes.max(receipt.stats.memory_peak_bytes);
        if poisoned || limited {
            self.discard();
            let code = receipt.code().unwrap_or(ErrorCode::Trap);
            self.discarded_by = Some(format!("hit `{code}`"));
        }
        Ok((receipt, answer))
    }
}

impl Engine {
    /// Opens a [`Session`] in `language` (JavaScript, TypeScript or Python). `call` gives the limits, grants
    /// and output listener of every evaluation; its stdin, arguments and entry point are not used.
    ///
    /// # Errors
    ///
    /// `invalid_input` for wasm; `internal` when the runtime cannot be prepared.
    pub fn session(&self, language: Language, call: Call) -> Result<Session> {
        Session::new(self, language, call)
    }
}

/// Why the session's files are over `cap`, if they are.
fn files_over(files: &WorkDir, cap: crate::limits::ByteSize) -> Result<Option<Error>> {
    match files.usage() {
        Ok(usage) if usage.bytes > cap.bytes() => Ok(Some(over_cap(usage.bytes, cap))),
        Ok(_) => Ok(None),
        Err(e) if e.code() == ErrorCode::FilesLimitExceeded => Ok(Some(e)),
        Err(e) => Err(e),
    }
}

/// Whether a guest path is `/work` or beneath it.
fn under_work(guest_path: &str) -> bool {
    let trimmed = guest_path.trim_end_matches('/');
    trimmed == WORK_DIR
        || trimmed
            .strip_prefix(WORK_DIR)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// A session cell as protocol source: a script, never a module.
fn cell_source<'a>(code: &'a str, file: &'a str) -> Source<'a> {
    Source {
        code: Text::Plain(Cow::Borrowed(code)),
        file: Cow::Borrowed(file),
        module: false,
        rejections: Default::default(),
    }
}
