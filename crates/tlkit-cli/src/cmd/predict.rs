//! `tlkit predict`: classify images with a pretrained network.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use tlkit::data;

#[derive(Args)]
#[command(after_help = "Example:
  tlkit weights fetch efficientnet-lite0
  tlkit predict efficientnet-lite0 photo.jpg --top 5")]
pub struct PredictArgs {
    /// Pretrained network: efficientnet-lite0.
    model: String,
    /// Image files (PNG or JPEG).
    #[arg(required = true)]
    images: Vec<PathBuf>,
    #[arg(long, default_value_t = 5)]
    top: usize,
}

pub fn run(args: PredictArgs) -> Result<()> {
    let PredictArgs { model, images, top } = args;
    let p = tlkit::pretrained::pretrained(&model)?;
    let mut net = tlkit::pretrained::load_pretrained(
        &p,
        &data::cache_dir(),
        &tlkit::backend::Device::flex(),
    )?;
    let names = tlkit::pretrained::imagenet::classes();
    for image in images {
        let input = p.preprocess(&image)?;
        println!("{}:", image.display());
        for (i, prob) in tlkit::pretrained::top_k(&mut net, input, top)? {
            println!(
                "  {:>6.2}%  {i:>4}  {}",
                100.0 * prob,
                names.get(i).copied().unwrap_or("?")
            );
        }
    }
    Ok(())
}
