//! Pretrained networks: architectures whose published weights tlkit can fetch, load by name,
//! and run with the input recipe they were trained with.

pub mod efficientnet;
pub mod imagenet;

pub use efficientnet::{
    EFFICIENTNET_LITE0, Pretrained, load_pretrained, load_pretrained_at, pretrained, top_k,
};
