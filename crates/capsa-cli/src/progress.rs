//! What capsa says on stderr while it works: the slow first steps (preparing a language runtime,
//! compiling a gateway's routes), so a first run explains itself. A spinner on a terminal, one line
//! otherwise; nothing at all with `--quiet`. Results and errors are not progress: they are always
//! printed.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use capsa::{Engine, Language};

static QUIET: AtomicBool = AtomicBool::new(false);

/// `--quiet`: no progress from now on.
pub fn set_quiet(quiet: bool) {
    QUIET.store(quiet, Ordering::Relaxed);
}

fn quiet() -> bool {
    QUIET.load(Ordering::Relaxed)
}

/// Prints one line of progress on stderr, unless `--quiet`.
pub fn note(line: std::fmt::Arguments<'_>) {
    if !quiet() {
        eprintln!("{line}");
    }
}

/// Says on stderr that the language's runtime is being prepared, when it is not cached yet: a spinner
/// with the time so far on a terminal, replaced by how long it took when the returned guard drops; one
/// line otherwise.
pub fn first_use(engine: &Engine, language: Language) -> Option<FirstUse> {
    if quiet() || engine.runtime_ready(language) {
        return None;
    }
    let (name, time) = match language {
        Language::Python => ("Python", "a few seconds"),
        _ => ("JavaScript", "about a second"),
    };
    let message = format!(
        "capsa: preparing the {name} runtime ({time}, first use only; it is cached afterwards)"
    );
    if !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        eprintln!("{message}…");
        return None;
    }
    let spinner = indicatif::ProgressBar::new_spinner()
        .with_style(
            indicatif::ProgressStyle::with_template("{spinner} {msg} {elapsed}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        )
        .with_message(message);
    spinner.enable_steady_tick(Duration::from_millis(100));
    Some(FirstUse {
        spinner,
        name,
        began: Instant::now(),
    })
}

/// A runtime being prepared, shown as a spinner until dropped.
pub struct FirstUse {
    spinner: indicatif::ProgressBar,
    name: &'static str,
    began: Instant,
}

impl Drop for FirstUse {
    fn drop(&mut self) {
        if let Ok(style) = indicatif::ProgressStyle::with_template("{msg}") {
            self.spinner.set_style(style);
        }
        self.spinner.finish_with_message(format!(
            "capsa: the {} runtime was prepared in {:.1?} and cached; later runs start at once",
            self.name,
            self.began.elapsed()
        ));
    }
}
