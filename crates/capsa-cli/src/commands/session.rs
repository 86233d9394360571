//! `capsa session`: live sessions on a gateway (`/v1/sessions`): create, exec, files, snapshot,
//! fork, list and end them.

use std::io::{Read as _, Write as _};

use capsa::{ByteSize, Error, ErrorCode, HumanDuration};
use clap::{Args, Subcommand};
use serde_json::{Map, Value, json};

use super::client::{Client, ServerArgs};

/// Stateful sandboxes on a gateway: state and files kept between execs.
#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  id=$(capsa session create --lang py --ttl 5m)\n  capsa session exec $id 'x = 6 * 7'\n  capsa session exec $id x                    # prints 42\n  capsa session files put $id data.csv ./data.csv\n  snap=$(capsa session snapshot $id)\n  capsa session fork $snap\n  capsa session ls\n  capsa session rm $id"
)]
pub struct SessionArgs {
    #[command(subcommand)]
    command: SessionCommand,
    /// Print the gateway's answers as JSON
    #[arg(long, global = true)]
    json: bool,
    #[command(flatten)]
    server: ServerArgs,
}

#[derive(Subcommand, Debug)]
enum SessionCommand {
    /// Create a session and print its id
    Create {
        /// js, ts or py
        #[arg(long = "lang", value_name = "LANG")]
        language: String,
        /// Idle TTL, e.g. `5m` [default: the gateway's]
        #[arg(long, value_name = "DURATION")]
        ttl: Option<HumanDuration>,
        /// Start from this snapshot
        #[arg(long, value_name = "SNAPSHOT")]
        from: Option<String>,
        /// Wall-clock deadline of each exec, e.g. `2s`
        #[arg(long, value_name = "DURATION", help_heading = "Limits")]
        timeout: Option<HumanDuration>,
        /// Linear memory of the session, e.g. `64MiB`
        #[arg(long, value_name = "SIZE", help_heading = "Limits")]
        memory: Option<ByteSize>,
        /// Bytes the session's /work may hold
        #[arg(long, value_name = "SIZE", help_heading = "Limits")]
        max_files: Option<ByteSize>,
        /// Allow outbound HTTP to a host pattern
        #[arg(long = "allow-host", value_name = "PATTERN", help_heading = "Grants")]
        allow_hosts: Vec<String>,
        /// A key-value namespace in the gateway's store
        #[arg(long, value_name = "NAMESPACE", help_heading = "Grants")]
        kv: Option<String>,
    },
    /// Run code in a session: prints its output and result, exits as `capsa run` does
    Exec {
        /// The session
        id: String,
        /// The code, `@FILE` for a file's, or `-` for stdin
        code: String,
        /// Print output as the code writes it
        #[arg(long)]
        stream: bool,
    },
    /// List this token's sessions
    Ls,
    /// End a session
    Rm {
        /// The session
        id: String,
    },
    /// Snapshot a session and print the snapshot's id
    Snapshot {
        /// The session
        id: String,
    },
    /// Start a new session from a snapshot and print its id
    Fork {
        /// The snapshot
        snapshot: String,
        /// Idle TTL of the new session
        #[arg(long, value_name = "DURATION")]
        ttl: Option<HumanDuration>,
    },
    /// Files under a session's /work
    #[command(subcommand)]
    Files(FilesCommand),
}

#[derive(Subcommand, Debug)]
enum FilesCommand {
    /// Write a local file (or stdin, `-`) to PATH under the session's /work
    Put {
        /// The session
        id: String,
        /// The path under /work
        path: String,
        /// The local file, or `-` for stdin
        local: String,
    },
    /// Print the file at PATH under the session's /work
    Get {
        /// The session
        id: String,
        /// The path under /work
        path: String,
    },
    /// List the files under the session's /work
    Ls {
        /// The session
        id: String,
    },
}

/// Each path segment percent-encoded, so a file path reaches the gateway as written.
fn encode_path(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            segment
                .bytes()
                .map(|b| match b {
                    b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                        (b as char).to_string()
                    }
                    _ => format!("%{b:02X}"),
                })
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("/")
}

fn read_input(source: &str) -> Result<Vec<u8>, Error> {
    if source == "-" {
        let mut bytes = Vec::new();
        std::io::stdin()
            .read_to_end(&mut bytes)
            .map_err(|e| Error::new(ErrorCode::Internal, format!("cannot read stdin: {e}")))?;
        return Ok(bytes);
    }
    std::fs::read(source)
        .map_err(|e| Error::new(ErrorCode::NotFound, format!("cannot read `{source}`: {e}")))
}

pub fn run(args: SessionArgs) -> Result<u8, Error> {
    let client = Client::new(&args.server)?;
    let post = |path: &str, body: Value| {
        client.json(
            client
                .request(reqwest::Method::POST, path)
                .header("content-type", "application/json")
                .body(body.to_string()),
        )
    };
    let print_id = |answer: &Value, field: &str| {
        if args.json {
            outln!("{answer}");
        } else {
            outln!("{}", answer[field].as_str().unwrap_or(""));
        }
    };
    match args.command {
        SessionCommand::Create {
            language,
            ttl,
            from,
            timeout,
            memory,
            max_files,
            allow_hosts,
            kv,
        } => {
            let mut limits = Map::new();
            if let Some(t) = timeout {
                limits.insert("timeout".into(), t.to_string().into());
            }
            if let Some(m) = memory {
                limits.insert("memory".into(), m.to_string().into());
            }
            if let Some(m) = max_files {
                limits.insert("max_files".into(), m.to_string().into());
            }
            let mut grants = Map::new();
            if !allow_hosts.is_empty() {
                grants.insert("allow_hosts".into(), allow_hosts.into());
            }
            if let Some(kv) = kv {
                grants.insert("kv".into(), kv.into());
            }
            let mut body = json!({"language": language, "limits": limits, "grants": grants});
            if let Some(ttl) = ttl {
                body["ttl"] = ttl.to_string().into();
            }
            if let Some(from) = from {
                body["from"] = from.into();
            }
            print_id(&post("/v1/sessions", body)?, "id");
        }
        SessionCommand::Exec { id, code, stream } => {
            let code = match code.strip_prefix('@') {
                Some(file) => read_input(file)?,
                None if code == "-" => read_input("-")?,
                None => code.into_bytes(),
            };
            let code = String::from_utf8(code)
                .map_err(|_| Error::new(ErrorCode::InvalidInput, "the code is not UTF-8 text"))?;
            let path = format!("/v1/sessions/{}/exec", encode_path(&id));
            let request = client
                .request(reqwest::Method::POST, &path)
                .header("content-type", "application/json")
                .body(json!({ "code": code }).to_string());
            if stream && !args.json {
                let request = request.header("accept", "text/event-stream");
                return super::invoke::stream(&client, request, print_result);
            }
            let receipt = client.json(request)?;
            if args.json {
                outln!("{receipt}");
                return Ok(0);
            }
            let text = |field: &str| receipt[field].as_str().unwrap_or("").to_owned();
            let _ = std::io::stdout()
                .lock()
                .write_all(text("stdout").as_bytes());
            let _ = std::io::stderr()
                .lock()
                .write_all(text("stderr").as_bytes());
            return Ok(print_result(&receipt));
        }
        SessionCommand::Ls => {
            let answer = client.json(client.request(reqwest::Method::GET, "/v1/sessions"))?;
            if args.json {
                outln!("{answer}");
                return Ok(0);
            }
            outln!(
                "{:<36} {:<4} {:>6} {:>10}  EXPIRES_AT",
                "ID",
                "LANG",
                "EVALS",
                "CPU_US"
            );
            for s in answer["sessions"].as_array().into_iter().flatten() {
                outln!(
                    "{:<36} {:<4} {:>6} {:>10}  {}",
                    s["id"].as_str().unwrap_or(""),
                    s["language"].as_str().unwrap_or(""),
                    s["stats"]["evals"],
                    s["stats"]["cpu_us"],
                    s["expires_at"]
                );
            }
        }
        SessionCommand::Rm { id } => {
            let path = format!("/v1/sessions/{}", encode_path(&id));
            client.send(client.request(reqwest::Method::DELETE, &path))?;
            if !args.json {
                outln!("ended {id}");
            }
        }
        SessionCommand::Snapshot { id } => {
            let path = format!("/v1/sessions/{}/snapshot", encode_path(&id));
            print_id(&post(&path, json!({}))?, "snapshot");
        }
        SessionCommand::Fork { snapshot, ttl } => {
            let path = format!("/v1/snapshots/{}/fork", encode_path(&snapshot));
            let mut body = json!({});
            if let Some(ttl) = ttl {
                body["ttl"] = ttl.to_string().into();
            }
            print_id(&post(&path, body)?, "id");
        }
        SessionCommand::Files(FilesCommand::Put { id, path, local }) => {
            let bytes = read_input(&local)?;
            let url = format!(
                "/v1/sessions/{}/files/{}",
                encode_path(&id),
                encode_path(&path)
            );
            client.send(client.request(reqwest::Method::PUT, &url).body(bytes))?;
        }
        SessionCommand::Files(FilesCommand::Get { id, path }) => {
            let url = format!(
                "/v1/sessions/{}/files/{}",
                encode_path(&id),
                encode_path(&path)
            );
            let response = client.send(client.request(reqwest::Method::GET, &url))?;
            let bytes = client
                .block_on(response.bytes())
                .map_err(|e| client.unreachable(e))?;
            return super::print_stdout(&bytes);
        }
        SessionCommand::Files(FilesCommand::Ls { id }) => {
            let url = format!("/v1/sessions/{}/files", encode_path(&id));
            let answer = client.json(client.request(reqwest::Method::GET, &url))?;
            if args.json {
                outln!("{answer}");
                return Ok(0);
            }
            for f in answer["files"].as_array().into_iter().flatten() {
                outln!("{:>10}  {}", f["size"], f["path"].as_str().unwrap_or(""));
            }
        }
    }
    Ok(0)
}

/// Prints an exec's result (its value as JSON) or its error, and gives the exit status.
fn print_result(receipt: &Value) -> u8 {
    if let Some(code) = receipt.pointer("/error/code").and_then(Value::as_str) {
        let message = receipt
            .pointer("/error/message")
            .and_then(Value::as_str)
            .unwrap_or("");
        eprintln!("error[{code}]: {message}");
        let code = ErrorCode::from_name(code).unwrap_or(ErrorCode::Internal);
        return crate::exit_byte(code.exit_status());
    }
    if let Some(result) = receipt.get("result").filter(|r| !r.is_null()) {
        outln!("{result}");
    }
    0
}
