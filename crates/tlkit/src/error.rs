//! The library's error type. Every variant names what failed (file, line, layer path, config
//! field) and, where it helps, what to do about it.

use std::path::PathBuf;

/// Result alias used across the library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in tlkit on user input.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A data or weight file exists but its content is not what its format requires.
    #[error("{path}{}: {msg}", at.as_ref().map(|a| format!(" ({a})")).unwrap_or_default())]
    Format {
        path: PathBuf,
        /// Where in the file: "line 12", "byte 16", "tensor features.0.weight".
        at: Option<String>,
        msg: String,
    },
    /// A fetched file does not have the checksum it should.
    #[error(
        "checksum mismatch for {path}: expected sha256 {expected}, got {actual}; delete the file and fetch again"
    )]
    Checksum {
        path: PathBuf,
        expected: String,
        actual: String,
    },
    /// An external command (pip, apt-get) failed or is missing.
    #[error("{command} failed: {msg}")]
    Command { command: String, msg: String },
    /// A dataset name, model name or other identifier is unknown.
    #[error("unknown {kind} `{name}`; known: {known}")]
    Unknown {
        kind: &'static str,
        name: String,
        known: String,
    },
    /// A network spec is invalid: layers that do not connect, bad hyper-parameters.
    #[error("{0}")]
    Spec(String),
    /// Two connected layers disagree on a shape.
    #[error("{0}")]
    ShapeMismatch(Box<ShapeMismatch>),
    /// A parameter glob or path selected nothing, or a path is missing.
    #[error("{0}")]
    Path(String),
    /// A configuration file or field is invalid.
    #[error("config {path}: {msg}")]
    Config { path: PathBuf, msg: String },
    /// A checkpoint does not fit the network it is loaded into.
    #[error("checkpoint {path}: {msg}")]
    Checkpoint { path: PathBuf, msg: String },
    /// A model reference (built-in name, run folder, weights file, ONNX model) names no
    /// usable network: `model` is the reference as the user wrote it.
    #[error("model `{model}`: {msg}")]
    Model { model: String, msg: String },
    /// Training diverged or cannot continue.
    #[error("{0}")]
    Training(String),
    /// A size taken from user input (a shape, a class count, an image's pixels, a
    /// decompressed file) is above the bound tlkit allocates without being told to.
    #[error(
        "{what}: {size}, above the limit of {limit}; if that is really intended, raise the \
         limit with the environment variable {env}"
    )]
    TooLarge {
        /// The input: a file (and row), a config field, a transform.
        what: String,
        size: String,
        limit: String,
        /// The variable that raises the limit.
        env: &'static str,
    },
    /// A plot could not be drawn.
    #[error("plot {path}: {msg}")]
    Plot { path: PathBuf, msg: String },
    /// A transferability score cannot be computed from what it was given (features with NaN,
    /// a single class, feature and label counts that differ): `score` names the score, `msg`
    /// the input at fault (a row, a count) and what to do.
    #[error("{score}: {msg}")]
    Score { score: &'static str, msg: String },
    /// A parameter (config field, flag or argument) has a value the method cannot take:
    /// `field` names it as the user wrote it (`alpha`, `patch.size`), `msg` says what it
    /// must be.
    #[error("{field} = {value}: {msg}")]
    Invalid {
        field: String,
        value: String,
        msg: String,
    },
}

impl Error {
    /// An I/O error on `path` during `op` ("read", "write", "create directory", ...).
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }

    /// A parameter `field` whose `value` the method cannot take; `msg` says what it must be.
    pub fn invalid(field: impl Into<String>, value: impl ToString, msg: impl Into<String>) -> Self {
        Error::Invalid {
            field: field.into(),
            value: value.to_string(),
            msg: msg.into(),
        }
    }

    /// A format error in `path`, optionally at a position.
    pub fn format(path: impl Into<PathBuf>, at: Option<String>, msg: impl Into<String>) -> Self {
        Error::Format {
            path: path.into(),
            at,
            msg: msg.into(),
        }
    }
}

/// Two connected layers that disagree on a shape: who produces what, who expects what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShapeMismatch {
    /// Path of the layer (or `input`) that produces the shape.
    pub from: String,
    /// Path of the layer that cannot take it.
    pub to: String,
    pub to_kind: String,
    pub expected: String,
    pub got: String,
    /// A suggested fix.
    pub hint: Option<String>,
}

impl std::fmt::Display for ShapeMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`{}` ({}) expects {} but `{}` produces {}",
            self.to, self.to_kind, self.expected, self.from, self.got
        )?;
        if let Some(h) = &self.hint {
            write!(f, "; {h}")?;
        }
        Ok(())
    }
}
