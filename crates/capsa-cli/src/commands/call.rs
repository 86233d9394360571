//! `capsa call`: call an exported function with numbers or strings.

use std::path::PathBuf;

use capsa::{Error, FunctionArgs, Receipt};
use clap::Args;
use serde_json::Value;

use crate::opts::SandboxArgs;

/// Call an exported function and print each result on its own line.
///
/// Numbers are converted to the function's parameter types (i32, i64, f32, f64). With `--string`,
/// each argument is passed as a string and an i64 result is read back as a string (docs/abi.md).
#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  capsa call math.wasm add 2 40\n  capsa call greet.wasm greet ada --string"
)]
pub struct CallArgs {
    /// The module: a `.wasm` or `.wat` file, or `-` for stdin
    file: PathBuf,
    /// The exported function
    func: String,
    /// Its arguments
    #[arg(allow_negative_numbers = true)]
    args: Vec<String>,
    /// Pass the arguments as strings through the guest's `alloc`, and print a returned string
    #[arg(long)]
    string: bool,
    #[command(flatten)]
    sandbox: SandboxArgs,
}

pub fn run(args: CallArgs) -> Result<u8, Error> {
    let module = args
        .sandbox
        .engine()?
        .load(&crate::stdin::read_program(&args.file)?)?;
    let function_args = if args.string {
        FunctionArgs::Strings(args.args.clone())
    } else {
        FunctionArgs::Numbers(args.args.clone())
    };
    args.sandbox.run(
        |call| module.run(call.function(&args.func, function_args)),
        print_results,
    )
}

/// One result per line: numbers in decimal, strings as they are.
fn print_results(receipt: &Receipt) {
    let values = match &receipt.result {
        Some(Value::Array(values)) => values.as_slice(),
        Some(value) => std::slice::from_ref(value),
        None => &[],
    };
    for value in values {
        match value {
            Value::String(s) => outln!("{s}"),
            other => outln!("{other}"),
        }
    }
}
