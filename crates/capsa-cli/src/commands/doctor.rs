//! `capsa doctor`: the settings in force and what the machine offers, so a user can see why something
//! is slow or refused.

use capsa::{CompileLimits, Error, Language, Limits};
use clap::Args;

use crate::opts::CacheArgs;

/// Print the engine settings in force (pooling or its fallback, the cache, which runtimes are compiled),
/// the default limits and the machine's kernel.
#[derive(Args, Debug)]
pub struct DoctorArgs {
    #[command(flatten)]
    cache: CacheArgs,
}

pub fn run(args: DoctorArgs) -> Result<u8, Error> {
    use std::fmt::Write as _;
    let engine = args.cache.engine().build()?;
    let mut out = String::new();
    let _ = writeln!(out, "capsa {}", env!("CARGO_PKG_VERSION"));
    let _ = writeln!(out, "instance allocator: {}", engine.allocator());
    match engine.cache_dir() {
        Some(dir) => {
            let (files, bytes) = dir_usage(dir);
            let _ = writeln!(
                out,
                "artifact cache: {} ({files} files, {:.1} MiB)",
                dir.display(),
                bytes as f64 / f64::from(1 << 20)
            );
        }
        None => {
            let _ = writeln!(
                out,
                "artifact cache: in memory only (no usable cache directory)"
            );
        }
    }
    for (language, name) in [
        (Language::JavaScript, "JavaScript"),
        (Language::Python, "Python"),
    ] {
        let state = if engine.runtime_ready(language) {
            "compiled, in the cache"
        } else {
            "not compiled yet: the first script compiles it (`capsa compile --runtimes` does it now)"
        };
        let _ = writeln!(out, "{name} runtime: {state}");
    }
    let limits = Limits::default();
    let _ = writeln!(
        out,
        "default limits: timeout {}, memory {}, output {}, stdin {}, host calls {}",
        limits.timeout, limits.memory, limits.max_output, limits.max_stdin, limits.max_host_calls
    );
    let compile = CompileLimits::default();
    let _ = writeln!(
        out,
        "compile limits: module {}, {} functions, nesting {}, source text {}, deadline {}",
        compile.max_module_size,
        compile.max_functions,
        compile.max_nesting,
        compile.max_script_size,
        compile.timeout
    );
    let _ = writeln!(out, "kernel: {}", kernel_release());
    let _ = writeln!(
        out,
        "cores: {}",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    super::print_stdout(out.as_bytes())
}

/// Files and bytes under `dir`, one level of subdirectories deep (the cache's layout).
fn dir_usage(dir: &std::path::Path) -> (u64, u64) {
    let mut files = 0;
    let mut bytes = 0;
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if let Ok(meta) = entry.metadata()
            && meta.is_file()
        {
            files += 1;
            bytes += meta.len();
        }
    }
    (files, bytes)
}

fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| format!("Linux {}", s.trim()))
        .unwrap_or_else(|_| std::env::consts::OS.to_owned())
}
