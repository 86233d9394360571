//! `capsa run`: run a WASI command in a fresh sandbox.

use std::path::PathBuf;

use capsa::{Error, ErrorCode};
use clap::{Args, ValueEnum};

use crate::opts::SandboxArgs;

/// Run a program in a fresh sandbox: stdin in, stdout out, the guest's exit code out.
///
/// Example: echo '{"name":"ada"}' | capsa run handler.wasm --timeout 2s --memory 64MiB --json
#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  capsa run hello.wasm -- --greeting hi\n  capsa run -c '(module (func (export \"_start\")))'\n  echo '{\"n\":1}' | capsa run echo.wasm --json --timeout 500ms"
)]
pub struct RunArgs {
    /// The program: a `.wasm` or `.wat` file
    #[arg(required_unless_present = "code", conflicts_with = "code")]
    file: Option<PathBuf>,
    /// The program's source inline, instead of a file
    #[arg(short = 'c', long = "code", value_name = "CODE")]
    code: Option<String>,
    /// The program's language [default: from the file extension]
    #[arg(long, value_enum)]
    lang: Option<Lang>,
    #[command(flatten)]
    sandbox: SandboxArgs,
    /// Arguments for the program (after `--`)
    #[arg(last = true, value_name = "ARGS")]
    args: Vec<String>,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
enum Lang {
    /// WebAssembly: binary `.wasm` or text `.wat`
    Wasm,
}

pub fn run(args: RunArgs) -> Result<u8, Error> {
    let engine = args.sandbox.engine()?;
    let (module, program_name) = match (&args.file, &args.code) {
        (Some(file), _) => {
            check_lang(args.lang, file)?;
            let name = file
                .file_name()
                .map_or_else(|| "main.wasm".into(), |n| n.to_string_lossy().into_owned());
            (engine.load_file(file)?, name)
        }
        (None, Some(code)) => (engine.load(code.as_bytes())?, "main.wat".to_owned()),
        (None, None) => return Err(Error::new(ErrorCode::InvalidInput, "nothing to run")),
    };
    let guest_args = args.args.iter().cloned();
    args.sandbox.run(
        &module,
        |call| call.program_name(program_name).args(guest_args),
        |_| {},
    )
}

fn check_lang(lang: Option<Lang>, file: &std::path::Path) -> Result<(), Error> {
    let ext = file.extension().and_then(|e| e.to_str()).unwrap_or("");
    match (lang, ext) {
        (Some(Lang::Wasm), _) | (None, "wasm" | "wat" | "wast") => Ok(()),
        (None, other) => Err(Error::new(
            ErrorCode::InvalidInput,
            format!(
                "cannot tell the language of `{}` from its extension `{other}`: pass `--lang wasm`",
                file.display()
            ),
        )),
    }
}
