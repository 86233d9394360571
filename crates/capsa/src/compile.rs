//! Limits on compiling untrusted code, checked before the compiler sees it.
//!
//! Compiling is work on the host that no call limit covers: a 4 MB module of a million empty functions
//! takes cranelift minutes and gigabytes. So code from outside (a module, a component, a script's
//! source) is measured first, in one linear pass: its size, its number of functions and how deep its
//! blocks nest. Within those caps compilation takes seconds and a bounded amount of memory; it then
//! runs on a thread of its own, and a compile that outlives its deadline is abandoned with
//! `compile_limit_exceeded` (the compiler cannot be interrupted, so that thread finishes on its own,
//! and its result is dropped). capsa's own language runtimes are trusted and not measured.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorCode, Result};
use crate::limits::{ByteSize, HumanDuration};

/// The caps on compiling code from outside (modules, components, scripts). Set per engine with
/// [`EngineBuilder::compile_limits`](crate::EngineBuilder::compile_limits). Each ends a load with
/// `compile_limit_exceeded`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CompileLimits {
    /// Bytes of a module or component, binary or text. By default 32 MiB.
    pub max_module_size: ByteSize,
    /// Functions of a module (imported and defined), or of all core modules of a component. By default
    /// 50,000.
    pub max_functions: u32,
    /// How deep blocks (`block`, `loop`, `if`, `try_table`) nest in one function. By default 10,000.
    pub max_nesting: u32,
    /// Bytes of source text: a script (JavaScript, TypeScript, Python) or a module in wat text, which
    /// is parsed before it can be measured (7 MB of wat took 450 MB to parse). By default 4 MiB.
    pub max_script_size: ByteSize,
    /// Wall-clock time one compilation may take. By default 60 s.
    pub timeout: HumanDuration,
}

impl Default for CompileLimits {
    fn default() -> Self {
        CompileLimits {
            max_module_size: ByteSize::mib(32),
            // A large Rust or C program has 10-30 thousand; CPython has about 14 thousand.
            max_functions: 50_000,
            // A `switch` of a few hundred cases becomes as many nested blocks (interpreter loops).
            max_nesting: 10_000,
            max_script_size: ByteSize::mib(4),
            timeout: HumanDuration(Duration::from_secs(60)),
        }
    }
}

fn over(message: String) -> Error {
    Error::new(ErrorCode::CompileLimitExceeded, message)
}

impl CompileLimits {
    /// Refuses wasm (binary) that is larger, has more functions or nests deeper than the caps. Bytes
    /// that do not parse are left to the compiler, which says what is wrong with them.
    pub(crate) fn check_module(&self, bytes: &[u8]) -> Result<()> {
        self.check_size(bytes.len(), self.max_module_size, "module")?;
        let mut functions: u64 = 0;
        let mut fit = SandboxFit::default();
        for payload in wasmparser::Parser::new(0).parse_all(bytes) {
            let Ok(payload) = payload else {
                return Ok(());
            };
            fit.check(&payload)?;
            match payload {
                wasmparser::Payload::ImportSection(imports) => {
                    for import in imports.into_imports() {
                        if let Ok(import) = import
                            && matches!(import.ty, wasmparser::TypeRef::Func(_))
                        {
                            functions += 1;
                        }
                    }
                }
                wasmparser::Payload::FunctionSection(section) => {
                    functions += u64::from(section.count());
                }
                wasmparser::Payload::CodeSectionEntry(body) => {
                    self.check_nesting(&body)?;
                }
                _ => {}
            }
            if functions > u64::from(self.max_functions) {
                return Err(over(format!(
                    "the module has more than {} functions, the most capsa compiles",
                    self.max_functions
                )));
            }
        }
        Ok(())
    }

    fn check_nesting(&self, body: &wasmparser::FunctionBody<'_>) -> Result<()> {
        let Ok(mut operators) = body.get_operators_reader() else {
            return Ok(());
        };
        let mut depth: u32 = 0;
        while !operators.eof() {
            let Ok(operator) = operators.read() else {
                return Ok(());
            };
            use wasmparser::Operator::*;
            match operator {
                Block { .. } | Loop { .. } | If { .. } | TryTable { .. } | Try { .. } => {
                    depth += 1;
                    if depth > self.max_nesting {
                        return Err(over(format!(
                            "a function nests blocks more than {} deep, the most capsa compiles",
                            self.max_nesting
                        )));
                    }
                }
                // A legacy `try` may end in `delegate` instead of `end`.
                End | Delegate { .. } => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
        Ok(())
    }

    /// Refuses module bytes (binary or text) larger than the cap, before they are parsed.
    pub(crate) fn check_size_of_module(&self, bytes: &[u8]) -> Result<()> {
        self.check_size(bytes.len(), self.max_module_size, "module")
    }

    /// Refuses source text (a script, or wat) larger than the cap.
    pub(crate) fn check_text(&self, source: &[u8]) -> Result<()> {
        self.check_size(source.len(), self.max_script_size, "source text")
    }

    fn check_size(&self, len: usize, cap: ByteSize, what: &str) -> Result<()> {
        if len as u64 > cap.bytes() {
            return Err(over(format!(
                "the {what} is {}, over the {cap} capsa compiles",
                ByteSize(len as u64)
            )));
        }
        Ok(())
    }

    /// The deadline of a compilation that starts now.
    pub(crate) fn deadline(&self) -> Instant {
        Instant::now() + self.timeout.get()
    }
}

/// Elements a table of the engine's pool holds: as many as `Limits::max_table_elements` allows by
/// default. (Here, below the engine, so that the load check and the pool share it.)
pub(crate) const POOL_TABLE_ELEMENTS: u64 = 100_000;

/// What one core module may declare to fit a sandbox slot of the engine's pool: one memory, one
/// table, a table of at most [`POOL_TABLE_ELEMENTS`] elements. wasmtime runs more, but
/// the pool cannot hold it: such a module is refused here, at load, with `invalid_module` naming
/// what does not fit, rather than compiled, cached, and failing every call as `internal`.
#[derive(Default)]
struct SandboxFit {
    memories: u32,
    tables: u32,
}

impl SandboxFit {
    fn check(&mut self, payload: &wasmparser::Payload<'_>) -> Result<()> {
        use wasmparser::{Payload, TypeRef};
        let unfit = |what: String| {
            Err(Error::invalid_module(format!(
                "{what}: a capsa sandbox holds one memory and one table of at most {} elements per module",
                POOL_TABLE_ELEMENTS
            )))
        };
        match payload {
            // Each core module (a component's too) starts over.
            Payload::Version { .. } => *self = SandboxFit::default(),
            Payload::ImportSection(imports) => {
                for import in imports.clone().into_imports().flatten() {
                    match import.ty {
                        TypeRef::Memory(_) => self.memories += 1,
                        TypeRef::Table(table) => {
                            self.tables += 1;
                            self.table(table.initial, &unfit)?;
                        }
                        _ => {}
                    }
                }
            }
            Payload::MemorySection(section) => self.memories += section.count(),
            Payload::TableSection(section) => {
                for table in section.clone().into_iter().flatten() {
                    self.tables += 1;
                    self.table(table.ty.initial, &unfit)?;
                }
            }
            _ => {}
        }
        if self.memories > 1 {
            return unfit(format!("the module has {} memories", self.memories));
        }
        if self.tables > 1 {
            return unfit(format!("the module has {} tables", self.tables));
        }
        Ok(())
    }

    fn table(&self, initial: u64, unfit: &dyn Fn(String) -> Result<()>) -> Result<()> {
        if initial > POOL_TABLE_ELEMENTS {
            return unfit(format!(
                "a table of the module starts with {initial} elements"
            ));
        }
        Ok(())
    }
}

/// Runs `compile` on a thread of its own and waits for it until `deadline` (`None`: no deadline).
pub(crate) fn with_deadline<T: Send + 'static>(
    deadline: Option<Instant>,
    compile: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    let Some(deadline) = deadline else {
        return compile();
    };
    let started = Instant::now();
    let (send, receive) = std::sync::mpsc::sync_channel(1);
    std::thread::Builder::new()
        .name("capsa-compile".into())
        .spawn(move || {
            let _ = send.send(compile());
        })
        .map_err(|e| Error::internal(format!("cannot start a compile thread: {e}")))?;
    match receive.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        Ok(result) => result,
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => Err(over(format!(
            "compiling took longer than its {} deadline",
            HumanDuration(deadline.saturating_duration_since(started))
        ))),
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
            Err(Error::internal("the compile thread ended without a result"))
        }
    }
}

/// The error of a caller whose deadline passed while it waited for another caller's compilation of
/// the same artifact (see `ArtifactCache::get_or_compile`).
pub(crate) fn waited_too_long() -> Error {
    over("compiling took longer than its deadline (waiting for another call's compilation of the same \
          module)"
        .to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wasm(wat: &str) -> Vec<u8> {
        wat::parse_str(wat).unwrap()
    }

    #[test]
    fn modules_a_sandbox_slot_cannot_hold_are_invalid() {
        let limits = CompileLimits::default();
        for (wat, what) in [
            ("(module (memory 1) (memory 1))", "2 memories"),
            (
                r#"(module (import "m" "mem" (memory 1)) (memory 1))"#,
                "2 memories",
            ),
            ("(module (table 1 funcref) (table 1 externref))", "2 tables"),
            (
                "(module (table 100001 funcref))",
                "starts with 100001 elements",
            ),
            (
                r#"(module (import "m" "t" (table 200000 funcref)))"#,
                "starts with 200000 elements",
            ),
        ] {
            let e = limits.check_module(&wasm(wat)).unwrap_err();
            assert_eq!(e.code(), ErrorCode::InvalidModule, "{wat}");
            assert!(e.to_string().contains(what), "{wat}: {e}");
        }
        limits
            .check_module(&wasm("(module (memory 1) (table 100000 funcref))"))
            .unwrap();
    }

    #[test]
    fn modules_within_the_caps_pass() {
        let limits = CompileLimits::default();
        limits
            .check_module(&wasm(r#"(module (func (block (loop (br 1)))))"#))
            .unwrap();
    }

    #[test]
    fn too_many_functions_are_refused() {
        let limits = CompileLimits {
            max_functions: 3,
            ..CompileLimits::default()
        };
        let ok = wasm(r#"(module (import "a" "b" (func)) (func) (func))"#);
        limits.check_module(&ok).unwrap();
        let bad = wasm(r#"(module (import "a" "b" (func)) (func) (func) (func))"#);
        let e = limits.check_module(&bad).unwrap_err();
        assert_eq!(e.code(), ErrorCode::CompileLimitExceeded);
        assert!(e.message().contains("more than 3 functions"), "{e}");
    }

    #[test]
    fn deep_nesting_is_refused() {
        let limits = CompileLimits {
            max_nesting: 2,
            ..CompileLimits::default()
        };
        limits
            .check_module(&wasm("(module (func (block (block))))"))
            .unwrap();
        let e = limits
            .check_module(&wasm(
                "(module (func (block (loop (if (i32.const 0) (then))))))",
            ))
            .unwrap_err();
        assert_eq!(e.code(), ErrorCode::CompileLimitExceeded);
    }

    #[test]
    fn large_modules_and_scripts_are_refused() {
        let limits = CompileLimits {
            max_module_size: ByteSize(8),
            max_script_size: ByteSize(4),
            ..CompileLimits::default()
        };
        let e = limits.check_module(&wasm("(module (func))")).unwrap_err();
        assert_eq!(e.code(), ErrorCode::CompileLimitExceeded);
        assert!(limits.check_text(b"1+1").is_ok());
        assert!(limits.check_text(b"1 + 1").is_err());
    }

    #[test]
    fn a_compile_past_its_deadline_is_abandoned() {
        let deadline = Some(Instant::now() + Duration::from_millis(20));
        let e = with_deadline(deadline, || {
            std::thread::sleep(Duration::from_millis(500));
            Ok(())
        })
        .unwrap_err();
        assert_eq!(e.code(), ErrorCode::CompileLimitExceeded);
        let later = Some(Instant::now() + Duration::from_secs(60));
        assert_eq!(with_deadline(later, || Ok(7)).unwrap(), 7);
    }
}
