//! `capsa`: run untrusted WebAssembly in fresh sandboxes from the command line.
//!
//! A thin layer over the `capsa` library: parse flags, call the library, print, exit with a documented
//! status (`docs/errors.md`).

mod commands;
mod opts;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Run untrusted code in fresh WebAssembly sandboxes with hard limits.
#[derive(Parser)]
#[command(name = "capsa", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Run(commands::run::RunArgs),
    Call(commands::call::CallArgs),
    Compile(commands::compile::CompileArgs),
    Repl(commands::repl::ReplArgs),
}

fn main() -> ExitCode {
    init_logging();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            // `--help` and `--version` are not errors; usage errors exit with 2 as clap's do.
            let _ = err.print();
            return ExitCode::from(if err.use_stderr() { 2 } else { 0 });
        }
    };
    let status = match cli.command {
        Command::Run(args) => commands::run::run(args),
        Command::Call(args) => commands::call::run(args),
        Command::Compile(args) => commands::compile::run(args),
        Command::Repl(args) => commands::repl::run(args),
    };
    match status {
        Ok(status) => ExitCode::from(status),
        Err(err) => {
            eprintln!("error[{}]: {}", err.code(), err.message());
            ExitCode::from(exit_byte(err.code().exit_status()))
        }
    }
}

/// Clamps a status into what a process can return: 0..=255.
pub(crate) fn exit_byte(status: i32) -> u8 {
    u8::try_from(status).unwrap_or(1)
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CAPSA_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .without_time()
        .init();
}
