//! `tlkit predict`: classify images with any network.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;

use tlkit::nn::fmt_shape;
use tlkit::weights::ModelRef;

use super::model::{MODEL_HELP, ModelArgs};

#[derive(Args)]
#[command(after_help = format!("{MODEL_HELP}

The network must take images: samples [channels, height, width] with 1 (grayscale) or 3
(RGB) channels. efficientnet-lite0 gets its own recipe (centre crop, bicubic resize,
(x - 127) / 128) and ImageNet class names; any other network gets each image resized to its
height x width, values in 0..1 as an `image_folder` dataset reads them, and class indices.

Examples:
  tlkit weights fetch efficientnet-lite0
  tlkit predict efficientnet-lite0 photo.jpg --top 5
  tlkit predict runs/lenet-mnist-2026-... digit.png
  tlkit predict model.onnx digit.png"))]
pub struct PredictArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Image files (PNG or JPEG).
    #[arg(required = true)]
    images: Vec<PathBuf>,
    #[arg(long, default_value_t = 5)]
    top: usize,
}

pub fn run(args: PredictArgs) -> Result<()> {
    let PredictArgs { model, images, top } = args;
    let r = model.reference()?;
    let ctx = model.context()?;
    let mut net = r.network(&ctx)?;
    let recipe = match &r {
        ModelRef::Builtin { name, input_size } => {
            let p = tlkit::pretrained::pretrained(name).ok();
            p.map(|p| tlkit::pretrained::Pretrained {
                size: input_size.unwrap_or(p.size),
                ..p
            })
        }
        _ => None,
    };
    let shape = net.spec().input_shape.clone();
    let [c, h, w] = shape[..] else {
        bail!(
            "`{r}` takes samples of shape {}, not images [channels, height, width]; evaluate it \
             on a dataset instead: tlkit eval {r} --data NAME",
            fmt_shape(&shape)
        );
    };
    if c != 1 && c != 3 {
        bail!(
            "`{r}` takes images of {c} channels; tlkit predict reads grayscale (1) or RGB (3) images"
        );
    }
    let imagenet = recipe.is_some().then(tlkit::pretrained::imagenet::classes);
    for image in images {
        let input = match &recipe {
            Some(p) => p.preprocess(&image)?,
            None => tlkit::data::load_image(&image, h, w, c == 1)?,
        };
        let best = tlkit::pretrained::top_k(&mut net, input, top)?;
        if best.iter().any(|(_, p)| !p.is_finite()) {
            bail!(
                "{}: the network's outputs for {} are not finite; {}",
                model.model,
                image.display(),
                super::eval::non_finite_cause(&net)
            );
        }
        println!("{}:", image.display());
        for (i, prob) in best {
            let name = imagenet
                .as_ref()
                .and_then(|n| n.get(i).copied())
                .unwrap_or("");
            println!("  {:>6.2}%  {i:>4}  {name}", 100.0 * prob);
        }
    }
    Ok(())
}
