//! capsa's fuzz targets (SPEC §10, `docs/fuzzing.md`): one function per parser that sees untrusted
//! input, in [`targets`], and two drivers for them:
//!
//! - [`run_bounded`], on stable Rust, in `make test` (`tests/bounded.rs`): every seed of the
//!   target's corpus (`fuzz/corpus/<target>/`, which holds the regressions too), the known-nasty
//!   inputs of [`nasty`], then mutations of them for a fixed time;
//! - libFuzzer (`fuzz/libfuzzer`, `make fuzz`): coverage-guided, for as long as one asks.
//!
//! A crash found by either is saved under `target/fuzz-failures/` and becomes a regression by
//! moving that file into the target's corpus.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub mod targets;

/// The corpus directory of `target`: its seeds and regressions.
pub fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target)
}

/// The cargo target directory: where failures and the fuzz engine's cache go.
pub(crate) fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"),
        PathBuf::from,
    )
}

/// The seeds of `target`: the files of its corpus directory.
///
/// # Panics
///
/// When the directory cannot be read.
pub fn seeds(target: &str) -> Vec<Vec<u8>> {
    let dir = corpus_dir(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus {}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    files
        .iter()
        .map(|path| std::fs::read(path).unwrap())
        .collect()
}

/// Inputs that have broken parsers before, for every target: deep nesting, huge numbers,
/// invalid UTF-8, NUL bytes, overlong names and lines.
pub fn nasty() -> Vec<Vec<u8>> {
    let mut inputs = vec![
        Vec::new(),
        b"\0".to_vec(),
        b"a\0b".to_vec(),
        vec![0xff, 0xfe, 0xc0, 0x80, 0xed, 0xa0, 0x80],
        b"\xf0\x9f\x92".to_vec(),
        "9".repeat(5000).into_bytes(),
        b"1e999999999".to_vec(),
        b"-0x8000000000000000".to_vec(),
        b"18446744073709551616".to_vec(),
        "a".repeat(100_000).into_bytes(),
        "\n".repeat(10_000).into_bytes(),
        "\u{202e}\u{feff}\u{200b}".as_bytes().to_vec(),
    ];
    for open in ["[", "{\"a\":", "(", "<", "`${", "/*", "'", "\"", "{"] {
        inputs.push(open.repeat(20_000).into_bytes());
    }
    inputs.push(("[".repeat(10_000) + &"]".repeat(10_000)).into_bytes());
    inputs.push(("if(1)".repeat(10_000) + "1").into_bytes());
    inputs
}

/// Bytes, tokens and mutations: a small deterministic mutator (xorshift), no coverage feedback.
struct Mutator {
    state: u64,
}

/// Tokens that mean something to some parser; inserted whole.
const TOKENS: &[&[u8]] = &[
    b"{",
    b"}",
    b"[",
    b"]",
    b"\"",
    b"\\u0000",
    b"\\ud800",
    b":",
    b",",
    b"=",
    b"\n",
    b"\r\n",
    b"${env.",
    b"[[route]]",
    b"path = ",
    b"function = ",
    b"[server]",
    b"[limits]",
    b"@",
    b"/*",
    b"*/",
    b"`",
    b"<T>",
    b"enum",
    b"namespace",
    b"declare",
    b"as",
    b"satisfies",
    b"=>",
    b"async",
    b"await",
    b"@dec",
    b"accessor",
    b"using",
    b"http://",
    b"https://",
    b"*.",
    b"::",
    b"[::1]",
    b"127.0.0.1",
    b"%2e",
    b"%00",
    b"#",
    b"?",
    b"kv.get",
    b"kv.set",
    b"kv.delete",
    b"kv.list",
    b"http.fetch",
    b"echo",
    b"fail",
    b"later",
    b"(module",
    b"(func",
    b"(memory",
    b"(table",
    b"\0asm",
    b"_start",
    b"body",
    b"body_base64",
    b"status",
    b"headers",
    b"1e309",
    b"-1",
    b"4294967296",
    b"null",
    b"true",
    b"\"\"",
];

impl Mutator {
    fn new(seed: u64) -> Mutator {
        Mutator { state: seed | 1 }
    }

    fn next(&mut self) -> u64 {
        // xorshift64*
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        self.state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }

    /// One to four mutations of `input`, `other` for splicing; at most `max_len` bytes.
    fn mutate(&mut self, input: &[u8], other: &[u8], max_len: usize) -> Vec<u8> {
        let mut out = input.to_vec();
        for _ in 0..=self.below(4) {
            let at = self.below(out.len() + 1);
            match self.below(9) {
                0 if !out.is_empty() => {
                    let i = self.below(out.len());
                    out[i] ^= 1 << self.below(8);
                }
                1 if !out.is_empty() => {
                    let i = self.below(out.len());
                    out[i] = [0, 0xff, 0x7f, 0x80, b'\\', b'"', b'{', b'\n'][self.below(8)];
                }
                2 => {
                    let token = TOKENS[self.below(TOKENS.len())];
                    out.splice(at..at, token.iter().copied());
                }
                3 if !out.is_empty() => {
                    let end = (at + 1 + self.below(16)).min(out.len());
                    out.drain(at.min(end)..end);
                }
                4 if !out.is_empty() => {
                    // Repeat a slice: nesting and length blow-ups.
                    let start = self.below(out.len());
                    let end = (start + 1 + self.below(8)).min(out.len());
                    let slice = out[start..end].to_vec();
                    for _ in 0..1 + self.below(64) {
                        out.splice(end..end, slice.iter().copied());
                    }
                }
                5 if !other.is_empty() => {
                    let start = self.below(other.len());
                    let end = (start + 1 + self.below(64)).min(other.len());
                    out.splice(at..at, other[start..end].iter().copied());
                }
                6 => out.truncate(at),
                7 => {
                    let n = self.below(8) + 1;
                    let bytes: Vec<u8> = (0..n).map(|_| self.next() as u8).collect();
                    out.splice(at..at, bytes);
                }
                _ => {
                    let n = self.next().to_string();
                    out.splice(at..at, n.into_bytes());
                }
            }
        }
        out.truncate(max_len);
        out
    }
}

/// What [`run_bounded`] did.
#[derive(Debug)]
pub struct Summary {
    /// Inputs run.
    pub executions: u64,
    /// The slowest one.
    pub slowest: Duration,
}

/// Runs `target` on its seeds, on [`nasty`] and then on mutations of both for `budget` more, starting
/// the mutator from `seed`. Inputs are at most `max_len` bytes.
///
/// # Panics
///
/// On the first input that makes the target panic (saved to `target/fuzz-failures/`), or that takes
/// longer than `hang` (a parser that should answer at once hangs).
pub fn run_bounded(
    name: &str,
    budget: Duration,
    seed: u64,
    max_len: usize,
    hang: Duration,
) -> Summary {
    let target = targets::by_name(name).unwrap_or_else(|| panic!("no fuzz target `{name}`"));
    let mut pool = seeds(name);
    assert!(!pool.is_empty(), "the corpus of `{name}` has no seeds");
    let seeded = pool.len();
    pool.extend(nasty());
    let mut mutator = Mutator::new(seed);
    let mut summary = Summary {
        executions: 0,
        slowest: Duration::ZERO,
    };
    let run = |input: &[u8], summary: &mut Summary| {
        let began = Instant::now();
        if catch_unwind(AssertUnwindSafe(|| target(input))).is_err() {
            fail(name, input, "panicked");
        }
        let took = began.elapsed();
        if took > hang {
            fail(name, input, &format!("took {took:?}"));
        }
        summary.executions += 1;
        summary.slowest = summary.slowest.max(took);
    };
    for input in &pool {
        run(input, &mut summary);
    }
    // The budget is for mutations: the first inputs may have compiled a runtime.
    let started = Instant::now();
    while started.elapsed() < budget {
        // Mostly the seeds (well-formed inputs go deep), sometimes the nasty ones.
        let from = if mutator.below(8) == 0 {
            mutator.below(pool.len())
        } else {
            mutator.below(seeded)
        };
        let other = mutator.below(pool.len());
        let input = mutator.mutate(&pool[from], &pool[other], max_len);
        run(&input, &mut summary);
    }
    summary
}

/// Saves `input` and fails with where it is.
fn fail(target: &str, input: &[u8], what: &str) -> ! {
    let dir = target_dir().join("fuzz-failures");
    let _ = std::fs::create_dir_all(&dir);
    let digest: u64 = input.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    let path = dir.join(format!("{target}-{digest:016x}"));
    let _ = std::fs::write(&path, input);
    let preview = String::from_utf8_lossy(&input[..input.len().min(200)]).into_owned();
    panic!(
        "fuzz target `{target}` {what} on an input of {} bytes, saved to {} (move it into fuzz/corpus/{target}/ as a regression): {preview:?}",
        input.len(),
        path.display()
    );
}
