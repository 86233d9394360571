//! `capsa call`: call an exported function with numbers or strings.

use std::path::PathBuf;

use capsa::{Call, Error, FunctionArgs};
use clap::Args;
use serde_json::Value;

use crate::opts::{CacheArgs, GrantArgs, LimitArgs, read_stdin};

/// Call an exported function and print each result on its own line.
///
/// Numbers are converted to the function's parameter types (i32, i64, f32, f64). With `--string`,
/// each argument is passed as a string and an i64 result is read back as a string (docs/abi.md).
#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  capsa call math.wasm add 2 40\n  capsa call greet.wasm greet ada --string"
)]
pub struct CallArgs {
    /// The module: a `.wasm` or `.wat` file
    file: PathBuf,
    /// The exported function
    func: String,
    /// Its arguments
    #[arg(allow_negative_numbers = true)]
    args: Vec<String>,
    /// Pass the arguments as strings through the guest's `alloc`, and print a returned string
    #[arg(long)]
    string: bool,
    /// Print the receipt as JSON instead of the results
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    limits: LimitArgs,
    #[command(flatten)]
    grants: GrantArgs,
    #[command(flatten)]
    cache: CacheArgs,
}

pub fn run(args: CallArgs) -> Result<u8, Error> {
    let engine = args.limits.configure(args.cache.engine()).build()?;
    let module = engine.load_file(&args.file)?;
    let function_args = if args.string {
        FunctionArgs::Strings(args.args.clone())
    } else {
        FunctionArgs::Numbers(args.args.clone())
    };
    let mut call = Call::new()
        .stdin(read_stdin()?)
        .function(&args.func, function_args)
        .limits(args.limits.limits())
        .grants(args.grants.grants()?);
    if !args.json {
        call = call.on_output(super::passthrough());
    }
    let receipt = module.run(call)?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&receipt).unwrap_or_default()
        );
    } else {
        match &receipt.result {
            Some(Value::Array(values)) => {
                for value in values {
                    match value {
                        Value::String(s) => println!("{s}"),
                        other => println!("{other}"),
                    }
                }
            }
            Some(Value::String(s)) => println!("{s}"),
            Some(other) => println!("{other}"),
            None => {}
        }
    }
    Ok(super::finish(&receipt, !args.json))
}
