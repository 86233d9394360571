//! `capsa`: run untrusted WebAssembly in fresh sandboxes from the command line.
//!
//! A thin layer over the `capsa` library: parse flags, call the library, print, exit with a documented
//! status (`docs/errors.md`).

/// `println!` for results: when stdout's reader has gone (`capsa run … | head`), the process ends
/// quietly with 141 (128 + SIGPIPE), as Unix tools do, instead of panicking.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout().lock(), $($arg)*) {
            $crate::stdout_failed(e);
        }
    }};
}

mod commands;
mod opts;
mod progress;
mod stdin;

use std::process::ExitCode;

use capsa_server::config::LogFormat;
use clap::{Parser, Subcommand};

/// Run untrusted code in fresh WebAssembly sandboxes with hard limits.
#[derive(Parser)]
#[command(name = "capsa", version, about, long_about = None)]
struct Cli {
    /// No progress on stderr (runtime preparation, route compilation); results and errors still print
    #[arg(long, short, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Run(commands::run::RunArgs),
    Call(commands::call::CallArgs),
    Compile(commands::compile::CompileArgs),
    Repl(commands::repl::ReplArgs),
    Serve(commands::serve::ServeArgs),
    Deploy(commands::deploy::DeployArgs),
    Functions(commands::functions::FunctionsArgs),
    Session(commands::session::SessionArgs),
    Invoke(commands::invoke::InvokeArgs),
    Mcp(commands::mcp::McpArgs),
    Doctor(commands::doctor::DoctorArgs),
    Completions(commands::completions::CompletionsArgs),
    Man(commands::completions::ManArgs),
}

/// Variables that stand for a flag; set but empty, they mean the flag was not given (as an unset
/// variable does), not a flag given without its value.
const FLAG_VARIABLES: [&str; 2] = ["CAPSA_CACHE_DIR", "CAPSA_SERVER"];

fn main() -> ExitCode {
    for name in FLAG_VARIABLES {
        if std::env::var_os(name).is_some_and(|v| v.is_empty()) {
            // SAFETY: the process has one thread yet: nothing else reads the environment.
            unsafe { std::env::remove_var(name) };
        }
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            // `--help` and `--version` are not errors; usage errors exit with 2 as clap's do.
            let _ = err.print();
            return ExitCode::from(if err.use_stderr() { 2 } else { 0 });
        }
    };
    progress::set_quiet(cli.quiet);
    let status = match cli.command {
        Command::Serve(args) => match args.config() {
            Ok(config) => {
                // The gateway logs one record per call at `info`.
                init_logging(config.log_format.unwrap_or(LogFormat::Text), "info");
                commands::serve::run(config)
            }
            Err(err) => Err(err),
        },
        command => {
            init_logging(LogFormat::Text, "warn");
            run(command)
        }
    };
    match status {
        Ok(status) => ExitCode::from(status),
        Err(err) => {
            eprintln!("error[{}]: {}", err.code(), err.message());
            ExitCode::from(exit_byte(err.code().exit_status()))
        }
    }
}

fn run(command: Command) -> Result<u8, capsa::Error> {
    match command {
        Command::Run(args) => commands::run::run(args),
        Command::Call(args) => commands::call::run(args),
        Command::Compile(args) => commands::compile::run(args),
        Command::Repl(args) => commands::repl::run(args),
        Command::Deploy(args) => commands::deploy::run(args),
        Command::Functions(args) => commands::functions::run(args),
        Command::Session(args) => commands::session::run(args),
        Command::Invoke(args) => commands::invoke::run(args),
        Command::Mcp(args) => commands::mcp::run(args),
        Command::Doctor(args) => commands::doctor::run(args),
        Command::Completions(args) => commands::completions::run::<Cli>(args),
        Command::Man(args) => commands::completions::man::<Cli>(args),
        Command::Serve(args) => args.config().and_then(commands::serve::run),
    }
}

/// Ends the process after a failed write to stdout: quietly for a closed pipe, with `EX_IOERR` (74)
/// and the reason otherwise.
pub(crate) fn stdout_failed(e: std::io::Error) -> ! {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(141);
    }
    eprintln!("error[internal]: cannot write to stdout: {e}");
    std::process::exit(74);
}

/// Clamps a status into what a process can return: 0..=255.
pub(crate) fn exit_byte(status: i32) -> u8 {
    u8::try_from(status).unwrap_or(1)
}

/// Logs on stderr: `CAPSA_LOG` (an `EnvFilter`) or `default_level`; JSON lines for `--log-format json`.
fn init_logging(format: LogFormat, default_level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CAPSA_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Colour only on a terminal, and never when NO_COLOR is set (https://no-color.org).
        .with_ansi(
            std::io::IsTerminal::is_terminal(&std::io::stderr())
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        )
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().with_current_span(false).init(),
        LogFormat::Text if default_level == "warn" => {
            builder.with_target(false).without_time().init()
        }
        LogFormat::Text => builder.with_target(false).init(),
    }
}
