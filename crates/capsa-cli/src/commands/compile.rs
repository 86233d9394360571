//! `capsa compile`: compile modules into the artifact cache ahead of their first run.

use std::path::PathBuf;
use std::time::Instant;

use capsa::{ArtifactSource, Error, ErrorCode, Language};
use clap::Args;

use crate::opts::CacheArgs;

/// Compile modules (and, with `--runtimes`, capsa's language runtimes) into the on-disk cache so
/// their first run starts at once.
///
/// The cache is keyed by the module's SHA-256 and the engine's configuration; an entry that is
/// corrupted or from another capsa/wasmtime version is detected and recompiled.
#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  capsa compile handler.wasm tools/*.wasm\n  capsa compile --runtimes"
)]
pub struct CompileArgs {
    /// `.wasm` or `.wat` files (`-` for stdin)
    #[arg(required_unless_present = "runtimes")]
    files: Vec<PathBuf>,
    /// Pre-initialise and compile the JavaScript and Python runtimes (scripts' first run is then
    /// immediate)
    #[arg(long)]
    runtimes: bool,
    /// Also compile for runs with a CPU budget (`--fuel`), which use separately compiled code
    #[arg(long)]
    fuel: bool,
    #[command(flatten)]
    cache: CacheArgs,
}

pub fn run(args: CompileArgs) -> Result<u8, Error> {
    if args.cache.no_cache {
        return Err(Error::new(
            ErrorCode::InvalidInput,
            "`capsa compile` fills the cache; drop `--no-cache`",
        ));
    }
    let mut engines = vec![args.cache.engine().build()?];
    if args.fuel {
        engines.push(args.cache.engine().cpu_budget(true).build()?);
    }
    let Some(dir) = engines[0].cache_dir().map(|d| d.display().to_string()) else {
        return Err(Error::new(
            ErrorCode::InvalidInput,
            "no cache directory: pass `--cache-dir DIR`",
        ));
    };
    let mut failed = None;
    if args.runtimes {
        for engine in &engines {
            for (language, name) in [
                (Language::JavaScript, "JavaScript"),
                (Language::Python, "Python"),
            ] {
                let began = Instant::now();
                let ready = engine.runtime_ready(language);
                eprint!("preparing the {name} runtime … ");
                match engine.script(language, "warmup", "") {
                    Ok(_) if ready => eprintln!("already cached"),
                    Ok(_) => eprintln!("compiled in {:.2?}", began.elapsed()),
                    Err(err) => {
                        eprintln!("failed");
                        eprintln!("error[{}]: {}", err.code(), err.message());
                        failed.get_or_insert(err.code());
                    }
                }
            }
        }
    }
    for file in &args.files {
        for engine in &engines {
            let began = Instant::now();
            eprint!("compiling {} … ", file.display());
            match crate::stdin::read_program(file).and_then(|bytes| engine.load(&bytes)) {
                Ok(module) => {
                    let what = match module.artifact_source() {
                        ArtifactSource::Compiled => "compiled",
                        ArtifactSource::Disk | ArtifactSource::Memory => "already cached",
                    };
                    eprintln!(
                        "{what} in {:.2?} (sha256 {})",
                        began.elapsed(),
                        &module.digest()[..16]
                    );
                }
                Err(err) => {
                    eprintln!("failed");
                    eprintln!(
                        "error[{}]: {}: {}",
                        err.code(),
                        file.display(),
                        err.message()
                    );
                    failed.get_or_insert(err.code());
                }
            }
        }
    }
    eprintln!("cache: {dir}");
    Ok(failed.map_or(0, |code| crate::exit_byte(code.exit_status())))
}
