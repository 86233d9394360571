//! `capsa functions`: list, inspect, alias and delete functions in a gateway's registry.

use capsa::Error;
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::client::{Client, ServerArgs};

/// Manage the functions of a gateway's registry.
#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  capsa functions ls\n  capsa functions versions hello\n  capsa functions alias hello stable 3     # point `stable` at version 3 (roll back or pin)\n  capsa functions rm hello"
)]
pub struct FunctionsArgs {
    #[command(subcommand)]
    command: FunctionsCommand,
    /// Print the gateway's answers as JSON
    #[arg(long, global = true)]
    json: bool,
    #[command(flatten)]
    server: ServerArgs,
}

#[derive(Subcommand, Debug)]
enum FunctionsCommand {
    /// List functions with their latest version and aliases
    Ls,
    /// List the versions of a function
    Versions {
        /// The function
        name: String,
    },
    /// Point an alias at a version
    Alias {
        /// The function
        name: String,
        /// The alias (`latest` is implicit)
        alias: String,
        /// The version
        version: u64,
    },
    /// Delete a function with every version and alias
    Rm {
        /// The function
        name: String,
    },
}

pub fn run(args: FunctionsArgs) -> Result<u8, Error> {
    let client = Client::new(&args.server)?;
    let get = |path: &str| client.json(client.request(reqwest::Method::GET, path));
    match &args.command {
        FunctionsCommand::Ls => {
            let answer = get("/v1/functions")?;
            if args.json {
                outln!("{answer}");
                return Ok(0);
            }
            outln!("{:<24} {:>7} {:>8}  ALIASES", "NAME", "LATEST", "VERSIONS");
            for f in answer["functions"].as_array().into_iter().flatten() {
                outln!(
                    "{:<24} {:>7} {:>8}  {}",
                    f["name"].as_str().unwrap_or(""),
                    f["latest"],
                    f["versions"],
                    aliases(&f["aliases"])
                );
            }
        }
        FunctionsCommand::Versions { name } => {
            let answer = get(&format!("/v1/functions/{name}/versions"))?;
            if args.json {
                outln!("{answer}");
                return Ok(0);
            }
            outln!(
                "{:>7}  {:<8} {:>10}  DIGEST",
                "VERSION",
                "LANGUAGE",
                "BYTES"
            );
            for v in answer["versions"].as_array().into_iter().flatten() {
                outln!(
                    "{:>7}  {:<8} {:>10}  {}",
                    v["version"],
                    v["language"].as_str().unwrap_or(""),
                    v["size"],
                    v["digest"].as_str().unwrap_or("")
                );
            }
        }
        FunctionsCommand::Alias {
            name,
            alias,
            version,
        } => {
            let answer = client.json(
                client
                    .request(
                        reqwest::Method::PUT,
                        &format!("/v1/functions/{name}/aliases/{alias}"),
                    )
                    .header("content-type", "application/json")
                    .body(json!({ "version": version }).to_string()),
            )?;
            if args.json {
                outln!("{answer}");
            } else {
                outln!("{name}@{alias} -> version {version}");
            }
        }
        FunctionsCommand::Rm { name } => {
            client
                .send(client.request(reqwest::Method::DELETE, &format!("/v1/functions/{name}")))?;
            if !args.json {
                outln!("deleted {name}");
            }
        }
    }
    Ok(0)
}

fn aliases(value: &Value) -> String {
    value
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}
