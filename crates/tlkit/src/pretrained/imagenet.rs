//! The 1000 ImageNet-1k class names, in the standard index order (as torchvision lists them).

use std::sync::OnceLock;

/// Class names by index.
pub fn classes() -> &'static [&'static str] {
    static NAMES: OnceLock<Vec<&'static str>> = OnceLock::new();
    NAMES.get_or_init(|| {
        include_str!("../../data/imagenet_classes.txt")
            .lines()
            .collect()
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn thousand_classes_in_order() {
        let c = super::classes();
        assert_eq!(c.len(), 1000);
        assert_eq!(c[0], "tench");
        assert_eq!(c[698], "palace");
        assert_eq!(c[985], "daisy");
    }
}
