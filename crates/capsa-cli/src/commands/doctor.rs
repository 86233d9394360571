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
    let engine = args.cache.engine().build()?;
    println!("capsa {}", env!("CARGO_PKG_VERSION"));
    println!(
        "instance allocator: {}",
        if engine.is_pooling() {
            "pooling (instantiation in microseconds)"
        } else {
            "on-demand (the pooling allocator's address-space reservation failed: see the warning \
             above; instantiation is slower)"
        }
    );
    match engine.cache_dir() {
        Some(dir) => {
            let (files, bytes) = dir_usage(dir);
            println!(
                "artifact cache: {} ({files} files, {})",
                dir.display(),
                capsa::ByteSize(bytes)
            );
        }
        None => println!("artifact cache: in memory only (no usable cache directory)"),
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
        println!("{name} runtime: {state}");
    }
    let limits = Limits::default();
    println!(
        "default limits: timeout {}, memory {}, output {}, stdin {}, host calls {}",
        limits.timeout, limits.memory, limits.max_output, limits.max_stdin, limits.max_host_calls
    );
    let compile = CompileLimits::default();
    println!(
        "compile limits: module {}, {} functions, nesting {}, source text {}, deadline {}",
        compile.max_module_size,
        compile.max_functions,
        compile.max_nesting,
        compile.max_script_size,
        compile.timeout
    );
    println!("kernel: {}", kernel_release());
    println!(
        "cores: {}",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    Ok(0)
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
