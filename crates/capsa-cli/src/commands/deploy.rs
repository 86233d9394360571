//! `capsa deploy`: upload a function to a gateway's registry as a new immutable version.

use std::path::PathBuf;

use capsa::{ByteSize, Error, ErrorCode, HumanDuration, Language};
use clap::Args;
use serde_json::{Map, Value, json};

use super::client::{Client, ServerArgs};

/// Deploy a function: a new immutable version of NAME on the gateway.
///
/// The gateway checks and compiles the code first; a bad function is refused with the reason and
/// the previous version keeps serving.
#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  capsa deploy hello examples/functions/hello.js\n  capsa deploy api api.wasm --timeout 2s --memory 64MiB --allow-host api.example.com\n  capsa deploy counter counter.js --kv counter --env MODE=prod"
)]
pub struct DeployArgs {
    /// The function's name: lowercase letters, digits, `-`, `_`
    name: String,
    /// A .wasm, .wat, .js, .mjs, .ts or .py file, or `-` for stdin (with --lang)
    file: PathBuf,
    /// The language, when the file's extension does not tell
    #[arg(long = "lang", value_name = "LANG")]
    language: Option<Language>,
    /// Wall-clock deadline of each call, e.g. `2s`
    #[arg(long, value_name = "DURATION", help_heading = "Limits")]
    timeout: Option<HumanDuration>,
    /// CPU budget in fuel units
    #[arg(long, value_name = "N", help_heading = "Limits")]
    fuel: Option<u64>,
    /// Linear memory, e.g. `64MiB`
    #[arg(long, value_name = "SIZE", help_heading = "Limits")]
    memory: Option<ByteSize>,
    /// Bytes of stdout + stderr + log lines
    #[arg(long, value_name = "SIZE", help_heading = "Limits")]
    max_output: Option<ByteSize>,
    /// Host calls per call
    #[arg(long, value_name = "N", help_heading = "Limits")]
    max_host_calls: Option<u64>,
    /// An environment variable `K=V`
    #[arg(long = "env", value_name = "K=V", help_heading = "Grants")]
    env: Vec<String>,
    /// Allow outbound HTTP to a host pattern
    #[arg(long = "allow-host", value_name = "PATTERN", help_heading = "Grants")]
    allow_hosts: Vec<String>,
    /// A key-value namespace in the gateway's store
    #[arg(long, value_name = "NAMESPACE", help_heading = "Grants")]
    kv: Option<String>,
    /// Print the gateway's answer as JSON
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    server: ServerArgs,
}

pub fn run(args: DeployArgs) -> Result<u8, Error> {
    let language = match args.language {
        Some(language) => language,
        None => Language::from_path(&args.file).ok_or_else(|| {
            Error::new(
                ErrorCode::InvalidInput,
                format!(
                    "cannot tell the language of `{}`: use --lang",
                    args.file.display()
                ),
            )
        })?,
    };
    let code = crate::stdin::read_program(&args.file)?;
    let mut body = json!({ "language": language.as_str() });
    match (language, String::from_utf8(code)) {
        (Language::Wasm, code) => {
            let bytes = code.map_or_else(|e| e.into_bytes(), String::into_bytes);
            if let Some(body) = body.as_object_mut() {
                capsa_wire::bytes::insert(body, "code", bytes);
            }
        }
        (_, Ok(text)) => body["code"] = text.into(),
        (_, Err(_)) => {
            return Err(Error::new(
                ErrorCode::InvalidInput,
                format!("`{}` is not UTF-8 text", args.file.display()),
            ));
        }
    }
    let mut limits = Map::new();
    if let Some(t) = args.timeout {
        limits.insert("timeout".into(), t.to_string().into());
    }
    if let Some(f) = args.fuel {
        limits.insert("fuel".into(), f.into());
    }
    if let Some(m) = args.memory {
        limits.insert("memory".into(), m.to_string().into());
    }
    if let Some(m) = args.max_output {
        limits.insert("max_output".into(), m.to_string().into());
    }
    if let Some(n) = args.max_host_calls {
        limits.insert("max_host_calls".into(), n.into());
    }
    let mut grants = Map::new();
    if !args.env.is_empty() {
        let mut env = Map::new();
        for kv in &args.env {
            let (k, v) = kv.split_once('=').ok_or_else(|| {
                Error::new(
                    ErrorCode::InvalidInput,
                    format!("`--env {kv}`: expected K=V"),
                )
            })?;
            env.insert(k.to_owned(), v.into());
        }
        grants.insert("env".into(), Value::Object(env));
    }
    if !args.allow_hosts.is_empty() {
        grants.insert("allow_hosts".into(), args.allow_hosts.clone().into());
    }
    if let Some(kv) = &args.kv {
        grants.insert("kv".into(), kv.clone().into());
    }
    body["limits"] = Value::Object(limits);
    body["grants"] = Value::Object(grants);
    let client = Client::new(&args.server)?;
    let answer = client.json(
        client
            .request(
                reqwest::Method::PUT,
                &format!("/v1/functions/{}", args.name),
            )
            .header("content-type", "application/json")
            .body(body.to_string()),
    )?;
    if args.json {
        outln!("{answer}");
    } else {
        outln!(
            "deployed {} version {} ({})",
            answer["name"].as_str().unwrap_or(&args.name),
            answer["version"],
            answer["digest"].as_str().unwrap_or("")
        );
    }
    Ok(0)
}
