//! `capsa completions SHELL`: shell completions generated from the command-line definitions.

use clap::{Args, CommandFactory};
use clap_complete::Shell;

/// Print shell completions (e.g. `capsa completions bash > /etc/bash_completion.d/capsa`)
#[derive(Args, Debug)]
pub struct CompletionsArgs {
    /// bash, zsh, fish, elvish or powershell
    shell: Shell,
}

pub fn run<C: CommandFactory>(args: CompletionsArgs) -> Result<u8, capsa::Error> {
    let mut command = C::command();
    clap_complete::generate(args.shell, &mut command, "capsa", &mut std::io::stdout());
    Ok(0)
}
