//! `everynode completions bash|zsh|fish`: shell completion scripts generated from the
//! command definitions, so they never drift from the real flags.

/// Arguments of `everynode completions`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  everynode completions bash > /etc/bash_completion.d/everynode\n  everynode completions zsh > \"${fpath[1]}/_everynode\"\n  everynode completions fish > ~/.config/fish/completions/everynode.fish"
)]
pub struct CompletionsArgs {
    /// The shell to generate completions for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// Writes the completion script for `command` to stdout.
pub fn run(args: &CompletionsArgs, mut command: clap::Command) -> anyhow::Result<i32> {
    clap_complete::generate(
        args.shell,
        &mut command,
        "everynode",
        &mut std::io::stdout(),
    );
    Ok(0)
}
