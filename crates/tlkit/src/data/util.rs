//! Small shared helpers of the data layer: reading possibly gzipped files and hashing
//! (atomic writes live in [`crate::fsio`]). Crate-private; the loaders re-export nothing from here.

use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::{Error, Result};

/// The two magic bytes every gzip stream starts with.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Reads `path` whole; when it starts with the gzip magic `1f 8b` it is decompressed
/// (multi-member streams included), whatever the file is named.
pub(crate) fn read_maybe_gz(path: &Path) -> Result<Vec<u8>> {
    let raw = std::fs::read(path).map_err(|e| Error::io("read", path, e))?;
    gunzip_if_gzip(raw, path)
}

/// Decompresses `raw` when it is a gzip stream, else returns it unchanged. `path` names the
/// source in errors.
pub(crate) fn gunzip_if_gzip(raw: Vec<u8>, path: &Path) -> Result<Vec<u8>> {
    if !raw.starts_with(&GZIP_MAGIC) {
        return Ok(raw);
    }
    // A gzip stream inflates up to ~1000×: a few megabytes can hold gigabytes of zeros, so the
    // output is bounded (one byte past the limit tells that it was reached).
    let limit = super::limits::Limits::current()?.max_values;
    let mut out = Vec::with_capacity(raw.len() * 4);
    flate2::read::MultiGzDecoder::new(raw.as_slice())
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| {
            Error::format(
                path,
                None,
                format!(
                    "the file starts like gzip (1f 8b) but does not decompress: {e}; \
                     the file is truncated or corrupt, fetch or copy it again"
                ),
            )
        })?;
    if out.len() > limit {
        return Err(Error::TooLarge {
            what: format!("{} (decompressed)", path.display()),
            size: format!("more than {limit} bytes"),
            limit: format!("{limit} bytes"),
            env: super::limits::MAX_VALUES_ENV,
        });
    }
    Ok(out)
}

/// Lower-case hex SHA-256 of `bytes`.
#[cfg(test)]
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Lower-case hex SHA-256 of the file at `path`, streamed.
pub(crate) fn sha256_file(path: &Path) -> Result<String> {
    let mut f = std::fs::File::open(path).map_err(|e| Error::io("open", path, e))?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut f, &mut hasher).map_err(|e| Error::io("read", path, e))?;
    Ok(hex(&hasher.finalize()))
}

/// Lower-case hex of a byte string.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}
