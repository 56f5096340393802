//! Plots written as PNG or SVG (chosen by the file extension): learning curves, heatmaps
//! (confusion and accuracy matrices), scatter plots, and the t-SNE embedding they draw; image
//! grids (a learned basis, as PNG).
//!
//! Text uses DejaVu Sans embedded in the library, so plots render the same on a machine
//! without system fonts.

mod grid;
mod heatmap;
mod line;
mod render;
mod scatter;
#[cfg(test)]
mod testutil;
pub mod tsne;

pub use grid::image_grid;
pub use heatmap::{ValueFormat, confusion_matrix, heatmap};
pub use line::{Series, line_plot};
pub use scatter::scatter;
pub use tsne::{TsneConfig, tsne};
