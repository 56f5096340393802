//! `tlkit zoo build`: train and cache the transferability model zoo from its embedded recipes.

use anyhow::{Context, Result};
use clap::{Args, Subcommand};

use tlkit::data;
use tlkit::transferability::zoo::{self, BuildOptions, Event, Source, Status, ZooEntry};

#[derive(Subcommand)]
pub enum ZooCommand {
    /// Train (or find up to date) every zoo member into $TLKIT_HOME/zoo/<member>/ and write
    /// $TLKIT_HOME/zoo/zoo.toml for `tlkit score --models` and `tlkit transfer-report --models`.
    Build(BuildArgs),
}

#[derive(Args)]
#[command(
    after_help = "Each trained member is a `tlkit train` config embedded in tlkit \
(crates/tlkit/configs/zoo/), its seed fixed and its budget in its header; its folder is a normal \
run folder, so any command takes it as a model reference. A member whose folder holds the hash \
of its recipe is up to date and skipped; a changed recipe (or another --epochs) rebuilds it. \
The EfficientNet-Lite0 depths are references (fetch the weights with `tlkit weights fetch \
efficientnet-lite0`); the MNIST-M-style members need `tlkit data fetch mnist sklearn-digits \
skimage-photos`.

Examples:
  tlkit zoo build --list
  tlkit zoo build                              # the whole zoo, about 10 minutes on 2 cores
  tlkit zoo build --only lenet-mnist,lenet-random --epochs 1"
)]
pub struct BuildArgs {
    /// Build only these members, comma-separated (see --list).
    #[arg(long, value_delimiter = ',', value_name = "NAME,...")]
    only: Vec<String>,
    /// Train each member this many epochs instead of its recipe's (a shorter budget).
    #[arg(long)]
    epochs: Option<usize>,
    /// List the members, what each is and whether it is built, and build nothing.
    #[arg(long)]
    list: bool,
    /// No progress bars.
    #[arg(long)]
    quiet: bool,
}

pub fn run(cmd: ZooCommand) -> Result<()> {
    let ZooCommand::Build(args) = cmd;
    let home = data::cache_dir();
    if args.list {
        for m in zoo::select(&args.only)? {
            let built = home.join(zoo::ZOO_DIR).join(&m.name).is_dir();
            let what = match m.source {
                Source::Trained(r) => first_line(r),
                Source::Untrained(r) => first_line(r),
                Source::Reference(ZooEntry::AtLayer(a)) => {
                    format!("reference: {} at `{}`", a.model, a.layer)
                }
                Source::Reference(ZooEntry::Model(r)) => format!("reference: {r}"),
            };
            let state = match (m.source, built) {
                (Source::Reference(_), _) => "",
                (_, true) => "built  ",
                (_, false) => "missing",
            };
            println!("{:<24} {state:<7}  {what}", m.name);
        }
        return Ok(());
    }
    let opts = BuildOptions {
        only: args.only.clone(),
        epochs: args.epochs,
        progress: !args.quiet,
    };
    let built = zoo::build(&home, &opts, |e| match e {
        Event::Start {
            member,
            index,
            total,
        } => eprintln!("[{}/{total}] {}", index + 1, member.name),
        Event::Done { member, status } => match status {
            Status::Built { accuracy, seconds } if accuracy.is_finite() => eprintln!(
                "  built {} in {seconds:.1}s: test accuracy {:.2}%",
                member.name,
                100.0 * accuracy
            ),
            Status::Built { seconds, .. } => {
                eprintln!("  wrote {} (untrained) in {seconds:.1}s", member.name)
            }
            Status::UpToDate => eprintln!("  {} is up to date (same recipe)", member.name),
            Status::Reference => eprintln!("  {} is a reference: nothing to build", member.name),
        },
    })
    .context("building the model zoo")?;
    let fresh = built
        .iter()
        .filter(|(_, s)| matches!(s, Status::Built { .. }))
        .count();
    println!(
        "{fresh} built, {} up to date, {} references; zoo file: {}",
        built.iter().filter(|(_, s)| *s == Status::UpToDate).count(),
        built
            .iter()
            .filter(|(_, s)| *s == Status::Reference)
            .count(),
        zoo::zoo_file(&home).display()
    );
    Ok(())
}

/// A recipe header's first sentence, without the `# Zoo member: ` lead.
fn first_line(recipe: &str) -> String {
    let header: Vec<&str> = recipe
        .lines()
        .map_while(|l| l.strip_prefix('#'))
        .map(str::trim)
        .collect();
    let text = header.join(" ");
    let text = text.trim_start_matches("Zoo member:").trim();
    text.split_once(". ")
        .map_or(text, |(first, _)| first)
        .to_string()
}
