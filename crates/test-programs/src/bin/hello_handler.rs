//! A JSON-contract handler: request context on stdin, response object on stdout.

use serde_json::{Value, json};

fn main() {
    let request: Value = serde_json::from_reader(std::io::stdin().lock()).unwrap_or(Value::Null);
    let name = request
        .pointer("/query/name")
        .and_then(Value::as_str)
        .unwrap_or("world");
    let response = json!({
        "status": 200,
        "headers": {"content-type": "application/json"},
        "body": json!({"hello": name}).to_string(),
    });
    println!("{response}");
}
