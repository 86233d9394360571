//! `capsa run`: run a program (a WASI command, JavaScript, TypeScript or Python) in a fresh sandbox.

use std::path::{Path, PathBuf};

use capsa::{Engine, Error, ErrorCode, Language, Program, Receipt, Rejections};
use clap::{Args, ValueEnum};

use crate::opts::SandboxArgs;

/// Run a program in a fresh sandbox: stdin in, stdout out, the guest's exit code out.
///
/// Example: echo '{"name":"ada"}' | capsa run handler.wasm --timeout 2s --memory 64MiB --json
#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  capsa run hello.wasm -- --greeting hi\n  capsa run -c '(module (func (export \"_start\")))'\n  echo '{\"n\":1}' | capsa run echo.wasm --json --timeout 500ms\n  capsa run -c 'const xs = [1, 2, 3]; xs.map(x => x * 2)' --lang js\n  capsa run -c 'import math; math.factorial(20)' --lang py\n  echo '{\"method\":\"GET\",\"path\":\"/\"}' | capsa run api.ts --handler"
)]
pub struct RunArgs {
    /// The program: a `.wasm`/`.wat` module or `wasi:http` component, or a `.js`/`.mjs`/`.ts`/`.py`
    /// script; `-` reads it from stdin (with `--lang` for a script)
    #[arg(required_unless_present = "code", conflicts_with = "code")]
    file: Option<PathBuf>,
    /// The program's source inline, instead of a file
    #[arg(short = 'c', long = "code", value_name = "CODE")]
    code: Option<String>,
    /// The program's language [default: from the file extension; `wasm` for `-c`]
    #[arg(long, value_enum)]
    lang: Option<Lang>,
    /// Call the program as a handler (SPEC §2): stdin is the request context as JSON, the result
    /// is the response. Scripts define `handler(request)` (JS, TS, Python) or `export default {
    /// fetch(request) }` (JS, TS); a `wasi:http/proxy` component gets it as an HTTP request
    #[arg(long)]
    handler: bool,
    /// Scripts: what an unhandled promise rejection does when the call ends
    #[arg(long, value_enum, default_value = "warn", value_name = "MODE")]
    unhandled_rejections: RejectionMode,
    #[command(flatten)]
    sandbox: SandboxArgs,
    /// Arguments for a wasm program (after `--`)
    #[arg(last = true, value_name = "ARGS")]
    args: Vec<String>,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// WebAssembly: binary `.wasm` or text `.wat`
    Wasm,
    /// JavaScript (ES2023)
    Js,
    /// TypeScript: types stripped, then run as JavaScript
    Ts,
    /// Python 3.14 (CPython)
    Py,
}

impl From<Lang> for Language {
    fn from(lang: Lang) -> Language {
        match lang {
            Lang::Wasm => Language::Wasm,
            Lang::Js => Language::JavaScript,
            Lang::Ts => Language::TypeScript,
            Lang::Py => Language::Python,
        }
    }
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
enum RejectionMode {
    /// Print `Uncaught (in promise) …` on stderr
    Warn,
    /// Fail the call with `guest_exception`
    Error,
}

pub fn run(args: RunArgs) -> Result<u8, Error> {
    let engine = args.sandbox.engine()?;
    let (language, name, source) = match (&args.file, &args.code) {
        // `-`: the program comes from stdin (the guest then gets none).
        (Some(file), _) if file.as_os_str() == "-" => {
            if args.handler {
                return Err(Error::new(
                    ErrorCode::InvalidInput,
                    "`-` reads the program from stdin, and --handler reads the request there: give                      the program as a file or with -c",
                ));
            }
            let language = args.lang.map_or(Language::Wasm, Language::from);
            let source = crate::stdin::read_program(file)?;
            (language, main_file(language).to_owned(), source)
        }
        (Some(file), _) => {
            let language = language_of(args.lang, file)?;
            let name = file
                .file_name()
                .map_or_else(|| "main".into(), |n| n.to_string_lossy().into_owned());
            let source = crate::stdin::read_program(file)?;
            (language, name, source)
        }
        (None, Some(code)) => {
            let language = args.lang.map_or(Language::Wasm, Language::from);
            (
                language,
                main_file(language).to_owned(),
                code.clone().into_bytes(),
            )
        }
        (None, None) => return Err(Error::new(ErrorCode::InvalidInput, "nothing to run")),
    };
    let program = match load(&engine, language, &name, &source)? {
        Program::Script(script) => {
            Program::Script(script.rejections(match args.unhandled_rejections {
                RejectionMode::Warn => Rejections::Warn,
                RejectionMode::Error => Rejections::Error,
            }))
        }
        program => program,
    };
    let is_script = !matches!(program, Program::Wasm(_));
    let guest_args = args.args.clone();
    args.sandbox.run(
        |call| {
            if args.handler {
                let limits = args.sandbox.limits.limits();
                let stdin = crate::stdin::read_all_within(limits.max_stdin, limits.timeout)?;
                let context = serde_json::from_slice(&stdin).map_err(|e| {
                    Error::new(
                        ErrorCode::InvalidInput,
                        format!("--handler reads the request context as JSON on stdin: {e}"),
                    )
                })?;
                program.handle(&context, call)
            } else {
                program.run(call.program_name(name).args(guest_args))
            }
        },
        |receipt| {
            // A script's value (a handler's response) is its result; a command's result is its stdout.
            if is_script || args.handler {
                print_result(receipt);
            }
        },
    )
}

/// The file name an inline or piped program runs as.
fn main_file(language: Language) -> &'static str {
    match language {
        Language::Wasm => "main.wat",
        Language::JavaScript => "main.js",
        Language::TypeScript => "main.ts",
        Language::Python => "main.py",
    }
}

fn print_result(receipt: &Receipt) {
    if let Some(result) = &receipt.result {
        outln!("{result}");
    }
}

/// Loads a program, telling the user when the first script of a language waits for its runtime.
pub fn load(
    engine: &Engine,
    language: Language,
    name: &str,
    source: &[u8],
) -> Result<Program, Error> {
    let _first_use = crate::progress::first_use(engine, language);
    engine.program(language, name, source)
}

/// The language `--lang` names, or else the file's extension says.
pub fn language_of(lang: Option<Lang>, file: &Path) -> Result<Language, Error> {
    if let Some(lang) = lang {
        return Ok(lang.into());
    }
    Language::from_path(file).ok_or_else(|| {
        let ext = file.extension().and_then(|e| e.to_str()).unwrap_or("");
        Error::new(
            ErrorCode::InvalidInput,
            format!(
                "cannot tell the language of `{}` from its extension `{ext}`: pass `--lang wasm|js|ts|py`",
                file.display()
            ),
        )
    })
}
