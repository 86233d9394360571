//! `capsa repl`: JavaScript, TypeScript or Python in one long-lived sandbox (a session), interactively or as
//! newline-delimited JSON.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

use capsa::{Call, Compiled, Engine, Error, ErrorCode, Language, Receipt, Session, Snapshot};
use clap::{Args, ValueEnum};
use serde_json::{Value, json};

use crate::opts::SandboxArgs;

const HELP: &str = "\
.reset               throw the state away and start a fresh sandbox
.stats               what the session has done (evaluations, CPU, memory, host calls)
.dispatch NAME JSON  call the handler registered with host.on(NAME, fn) (JS) or
                     @capsa.on(NAME) (Python) with JSON
.load FILE           evaluate a file in the session
.snapshot NAME       keep the session's state (memory, globals, files) as NAME
.fork NAME           go on in a new session started from snapshot NAME
.snapshots           the snapshots kept, with their sizes
.exit                leave (or Ctrl-D)
Input continues on the next line while brackets, strings or comments are open.";

/// Evaluate JavaScript, TypeScript or Python in a session: one sandbox whose state persists between inputs.
///
/// Every input gets the limits of the flags (deadline, CPU, output, host calls); the memory limit
/// covers the whole session. An input that hits a limit discards the state.
#[derive(Args, Debug)]
#[command(after_help = format!(
    "Commands:\n{HELP}\n\nWith --json, each stdin line is a request and each stdout line its reply:\n  \
     {{\"eval\": \"1 + 2\"}}  {{\"dispatch\": \"name\", \"payload\": {{}}}}  {{\"compile\": \"code\"}}  \
     {{\"eval_compiled\": 1}}  {{\"reset\": true}}  {{\"stats\": true}}\n  {{\"snapshot\": \"name\"}}  {{\"fork\": \"name\"}}\n\nExamples:\n  capsa repl\n  \
     capsa repl --lang ts --kv notes\n  capsa repl --lang py\n  echo '{{\"eval\": \"1 + 2\"}}' | capsa repl --json"
))]
pub struct ReplArgs {
    /// The session's language
    #[arg(long, value_enum, default_value = "js")]
    lang: ReplLang,
    #[command(flatten)]
    sandbox: SandboxArgs,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
enum ReplLang {
    /// JavaScript (ES2023)
    Js,
    /// TypeScript: each input's types stripped, then run as JavaScript
    Ts,
    /// Python 3.14 (CPython)
    Py,
}

pub fn run(args: ReplArgs) -> Result<u8, Error> {
    let engine = args.sandbox.engine()?;
    let language = match args.lang {
        ReplLang::Js => Language::JavaScript,
        ReplLang::Ts => Language::TypeScript,
        ReplLang::Py => Language::Python,
    };
    let call = args.sandbox.call()?;
    let first_use = crate::progress::first_use(&engine, language);
    let session = engine.session(language, call.clone())?;
    drop(first_use);
    let mut repl = Repl {
        engine,
        call,
        session,
        snapshots: BTreeMap::new(),
    };
    if args.sandbox.json {
        json_lines(&mut repl)
    } else {
        interactive(&mut repl)
    }
}

/// The REPL's state: the session, and the snapshots `.snapshot` kept for `.fork`. Snapshots live as
/// long as the REPL and are shared by every session it forks.
struct Repl {
    engine: Engine,
    call: Call,
    session: Session,
    snapshots: BTreeMap<String, Snapshot>,
}

impl Repl {
    /// `.snapshot NAME`: keeps the session's state under `name`, replacing a snapshot of that name.
    fn snapshot(&mut self, name: &str) -> Result<&Snapshot, Error> {
        let name = snapshot_name(name)?;
        let snapshot = self.session.snapshot()?;
        self.snapshots.insert(name.to_owned(), snapshot);
        Ok(&self.snapshots[name])
    }

    /// `.fork NAME`: replaces the session by a new one in the state snapshot `name` kept, with the
    /// REPL's limits. The old session ends; the snapshot stays, to fork again.
    fn fork(&mut self, name: &str) -> Result<(), Error> {
        let name = snapshot_name(name)?;
        let snapshot = self.snapshots.get(name).ok_or_else(|| {
            Error::new(
                ErrorCode::NotFound,
                format!("no snapshot named `{name}`: `.snapshot {name}` takes one"),
            )
        })?;
        self.session = self.engine.fork(snapshot, self.call.clone())?;
        Ok(())
    }
}

/// A snapshot's name: one word.
fn snapshot_name(name: &str) -> Result<&str, Error> {
    let name = name.trim();
    if name.is_empty() || name.contains(char::is_whitespace) || name.len() > 128 {
        return Err(invalid(
            "a snapshot name is one word of at most 128 bytes: .snapshot NAME / .fork NAME",
        ));
    }
    Ok(name)
}

/// What a snapshot holds, for `.snapshot` and `.snapshots`.
fn describe(name: &str, snapshot: &Snapshot) -> String {
    format!(
        "{name}: {} bytes ({} of memory, {} of files)",
        snapshot.size_bytes(),
        snapshot.memory_bytes(),
        snapshot.files_bytes()
    )
}

/// Newline-delimited JSON: one request per stdin line, one reply per stdout line.
fn json_lines(repl: &mut Repl) -> Result<u8, Error> {
    let mut compiled: HashMap<u64, Compiled> = HashMap::new();
    let stdin = std::io::stdin();
    let mut stdout = std::io::stdout().lock();
    for line in stdin.lock().lines() {
        let line = line
            .map_err(|e| Error::new(ErrorCode::InvalidInput, format!("cannot read stdin: {e}")))?;
        if line.trim().is_empty() {
            continue;
        }
        let reply = match serde_json::from_str::<Value>(&line) {
            Ok(request) => reply(repl, &mut compiled, &request),
            Err(e) => Err(Error::new(
                ErrorCode::InvalidInput,
                format!("a request is one JSON object per line: {e}"),
            )),
        };
        let reply = reply.unwrap_or_else(|err| {
            json!({"outcome": err.code().as_str(), "error": {"code": err.code().as_str(), "message": err.message()}})
        });
        // A closed stdout ends the session quietly.
        if writeln!(stdout, "{reply}")
            .and_then(|()| stdout.flush())
            .is_err()
        {
            break;
        }
    }
    Ok(0)
}

fn reply(
    repl: &mut Repl,
    compiled: &mut HashMap<u64, Compiled>,
    request: &Value,
) -> Result<Value, Error> {
    let name = |key: &str| {
        request.get(key).map(|name| {
            name.as_str()
                .ok_or_else(|| invalid(&format!("`{key}` takes the snapshot's name as a string")))
        })
    };
    if let Some(name) = name("snapshot") {
        let snapshot = repl.snapshot(name?)?;
        return Ok(json!({
            "outcome": "ok",
            "size_bytes": snapshot.size_bytes(),
            "memory_bytes": snapshot.memory_bytes(),
            "files_bytes": snapshot.files_bytes(),
        }));
    }
    if let Some(name) = name("fork") {
        repl.fork(name?)?;
        return Ok(json!({"outcome": "ok"}));
    }
    let session = &mut repl.session;
    let receipt = |r: Receipt| {
        serde_json::to_value(&r).map_err(|e| Error::new(ErrorCode::Internal, e.to_string()))
    };
    if let Some(code) = request.get("eval") {
        let code = code
            .as_str()
            .ok_or_else(|| invalid("`eval` takes the code as a string"))?;
        return receipt(session.eval(code)?);
    }
    if let Some(event) = request.get("dispatch") {
        let event = event
            .as_str()
            .ok_or_else(|| invalid("`dispatch` takes the event name as a string"))?;
        let payload = request.get("payload").cloned().unwrap_or(Value::Null);
        return receipt(session.dispatch(event, &payload)?);
    }
    if let Some(code) = request.get("compile") {
        let code = code
            .as_str()
            .ok_or_else(|| invalid("`compile` takes the code as a string"))?;
        let id = compiled.len() as u64 + 1;
        compiled.insert(id, session.compile(code)?);
        return Ok(json!({"outcome": "ok", "id": id}));
    }
    if let Some(id) = request.get("eval_compiled") {
        let entry = id
            .as_u64()
            .and_then(|id| compiled.get(&id))
            .ok_or_else(|| {
                Error::new(
                    ErrorCode::NotFound,
                    format!("no compiled code with id {id}"),
                )
            })?;
        return receipt(session.eval_compiled(&entry.clone())?);
    }
    if request.get("reset").is_some() {
        session.reset();
        return Ok(json!({"outcome": "ok"}));
    }
    if request.get("stats").is_some() {
        return Ok(json!({"outcome": "ok", "stats": session.stats()}));
    }
    Err(invalid(
        "unknown request: expected one of eval, dispatch, compile, eval_compiled, reset, stats, \
         snapshot, fork",
    ))
}

fn invalid(message: &str) -> Error {
    Error::new(ErrorCode::InvalidInput, message)
}

/// Where lines come from: a line editor with history on a terminal, plain stdin lines otherwise.
enum Input {
    Editor(Box<rustyline::DefaultEditor>, Option<PathBuf>),
    Plain(std::io::StdinLock<'static>),
}

impl Input {
    fn open() -> Input {
        if std::io::stdin().is_terminal()
            && let Ok(mut editor) = rustyline::DefaultEditor::new()
        {
            let history = history_file();
            if let Some(path) = &history {
                let _ = editor.load_history(path);
            }
            return Input::Editor(Box::new(editor), history);
        }
        Input::Plain(std::io::stdin().lock())
    }

    /// The next line, or `None` at the end of input.
    fn line(&mut self, prompt: &str) -> Option<String> {
        match self {
            Input::Editor(editor, _) => match editor.readline(prompt) {
                Ok(line) => Some(line),
                // Ctrl-C drops the current line, as in node.
                Err(rustyline::error::ReadlineError::Interrupted) => Some(String::new()),
                Err(_) => None,
            },
            Input::Plain(stdin) => {
                let mut line = String::new();
                match stdin.read_line(&mut line) {
                    Ok(0) | Err(_) => None,
                    Ok(_) => Some(line.trim_end_matches(['\n', '\r']).to_owned()),
                }
            }
        }
    }

    fn remember(&mut self, entry: &str) {
        if let Input::Editor(editor, _) = self {
            let _ = editor.add_history_entry(entry);
        }
    }

    fn save(&mut self) {
        if let Input::Editor(editor, Some(path)) = self {
            if let Some(dir) = path.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            let _ = editor.save_history(path);
        }
    }
}

fn history_file() -> Option<PathBuf> {
    let var = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    var("XDG_STATE_HOME")
        .or_else(|| var("HOME").map(|h| h.join(".local/state")))
        .map(|dir| dir.join("capsa/repl_history"))
}

fn interactive(repl: &mut Repl) -> Result<u8, Error> {
    let mut input = Input::open();
    let tty = matches!(input, Input::Editor(..));
    if tty {
        eprintln!(
            "capsa repl ({}): .help for commands, Ctrl-D to leave",
            repl.session.language()
        );
    }
    let mut buffer = String::new();
    loop {
        let prompt = if buffer.is_empty() { "> " } else { "… " };
        let Some(line) = input.line(prompt) else {
            break;
        };
        if buffer.is_empty() && line.trim_start().starts_with('.') {
            input.remember(line.trim());
            if !command(repl, line.trim()) {
                break;
            }
            continue;
        }
        if !buffer.is_empty() {
            buffer.push('\n');
        }
        buffer.push_str(&line);
        if buffer.trim().is_empty() || repl.session.is_incomplete(&buffer) {
            if buffer.trim().is_empty() {
                buffer.clear();
            }
            continue;
        }
        let code = std::mem::take(&mut buffer);
        input.remember(&code);
        evaluate(&mut repl.session, |s| s.eval(&code));
    }
    input.save();
    Ok(0)
}

/// Runs a `.command`; `false` means leave.
fn command(repl: &mut Repl, line: &str) -> bool {
    let (name, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
    let rest = rest.trim();
    match name {
        ".snapshot" => match repl.snapshot(rest) {
            Ok(snapshot) => outln!("(snapshot {})", describe(rest, snapshot)),
            Err(err) => eprintln!("error[{}]: {}", err.code(), err.message()),
        },
        ".fork" => match repl.fork(rest) {
            Ok(()) => outln!("(forked from snapshot {rest}: a new session in its state)"),
            Err(err) => eprintln!("error[{}]: {}", err.code(), err.message()),
        },
        ".snapshots" if repl.snapshots.is_empty() => {
            outln!("(no snapshots: .snapshot NAME takes one)")
        }
        ".snapshots" => {
            for (name, snapshot) in &repl.snapshots {
                outln!("{}", describe(name, snapshot));
            }
        }
        _ => return session_command(&mut repl.session, name, rest),
    }
    true
}

/// The commands about the session alone; `false` means leave.
fn session_command(session: &mut Session, name: &str, rest: &str) -> bool {
    match name {
        ".exit" | ".quit" => return false,
        ".help" => outln!("{HELP}"),
        ".reset" => {
            session.reset();
            outln!("(state reset)");
        }
        ".stats" => match serde_json::to_string_pretty(session.stats()) {
            Ok(stats) => outln!("{stats}"),
            Err(e) => eprintln!("error[internal]: {e}"),
        },
        ".load" if !rest.is_empty() => match std::fs::read_to_string(rest) {
            Ok(code) => evaluate(session, |s| s.eval(&code)),
            Err(e) => eprintln!("error[not_found]: cannot read `{rest}`: {e}"),
        },
        ".dispatch" if !rest.is_empty() => {
            let (event, payload) = rest
                .split_once(char::is_whitespace)
                .unwrap_or((rest, "null"));
            match serde_json::from_str::<Value>(payload.trim()) {
                Ok(payload) => evaluate(session, |s| s.dispatch(event, &payload)),
                Err(e) => eprintln!("error[invalid_input]: the payload is not JSON: {e}"),
            }
        }
        ".load" | ".dispatch" => eprintln!("usage: .load FILE | .dispatch NAME JSON"),
        other => eprintln!("unknown command `{other}`: .help lists them"),
    }
    true
}

/// Runs one input and prints what it wrote, its value or its error.
fn evaluate(session: &mut Session, run: impl FnOnce(&mut Session) -> Result<Receipt, Error>) {
    let resets = session.stats().resets;
    match run(session) {
        Ok(receipt) => {
            let _ = std::io::stdout().write_all(&receipt.stdout);
            let _ = std::io::stderr().write_all(&receipt.stderr);
            if let Some(result) = &receipt.result {
                outln!("{result}");
            }
            crate::commands::exit_status(&receipt, true);
            if session.stats().resets > resets {
                eprintln!("(the sandbox hit a limit: its state was discarded)");
            }
        }
        Err(err) => eprintln!("error[{}]: {}", err.code(), err.message()),
    }
}
