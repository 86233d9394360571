//! `capsa completions SHELL` and `capsa man`: shell completions and a man page, generated from the
//! command-line definitions.

use clap::{Args, CommandFactory};
use clap_complete::Shell;

/// Print shell completions (e.g. `capsa completions bash > /etc/bash_completion.d/capsa`)
#[derive(Args, Debug)]
pub struct CompletionsArgs {
    /// bash, zsh, fish, elvish or powershell
    shell: Shell,
}

pub fn run<C: CommandFactory>(args: CompletionsArgs) -> Result<u8, capsa::Error> {
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut C::command(), "capsa", &mut script);
    super::print_stdout(&script)
}

/// Print the man page, in roff (e.g. `capsa man > /usr/local/share/man/man1/capsa.1`)
#[derive(Args, Debug)]
pub struct ManArgs {}

pub fn man<C: CommandFactory>(_args: ManArgs) -> Result<u8, capsa::Error> {
    let mut page = Vec::new();
    clap_mangen::Man::new(C::command())
        .render(&mut page)
        .map_err(|e| capsa::Error::new(capsa::ErrorCode::Internal, e.to_string()))?;
    super::print_stdout(&page)
}
