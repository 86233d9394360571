//! Reads one JSON document from stdin and writes it back to stdout, re-serialised: the benchmark's
//! "small JSON function".

fn main() {
    let value: serde_json::Value = match serde_json::from_reader(std::io::stdin().lock()) {
        Ok(value) => value,
        Err(e) => {
            eprintln!("invalid JSON on stdin: {e}");
            std::process::exit(2);
        }
    };
    serde_json::to_writer(std::io::stdout().lock(), &value).expect("stdout");
}
