//! Transform errors: what is wrong, where (page, cursor, table, field path) and the value.

use std::fmt;

use simd_json::prelude::*;
use simd_json::tape::Value;

/// Where a page came from; printed in front of every transform error.
#[derive(Clone, Debug, Default)]
pub struct PageRef {
    /// Global sequence number in this run.
    pub seq: u64,
    /// Window label (`start/end`) or `None` for replayed files without one.
    pub window: Option<String>,
    /// 0-based page index within the window.
    pub page: u32,
    /// The cursor that was sent to fetch this page (`None` for the first page).
    pub cursor: Option<String>,
    /// Source file, for replay.
    pub file: Option<String>,
}

impl fmt::Display for PageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(file) = &self.file {
            write!(f, "file {file}: ")?;
        }
        write!(f, "page {}", self.page)?;
        if let Some(w) = &self.window {
            write!(f, " of window {w}")?;
        }
        write!(f, " (seq {}, cursor ", self.seq)?;
        match &self.cursor {
            Some(c) => write!(f, "`{}`)", shorten(c)),
            None => write!(f, "none: first page)"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TransformError {
    #[error(
        "{page}: the body is not valid JSON ({reason}); check the raw page, or rerun to fetch it again"
    )]
    InvalidJson { page: PageRef, reason: String },
    #[error("{page}: table `{table}`, field `{path}`: {problem}")]
    Field {
        page: PageRef,
        table: &'static str,
        path: String,
        problem: Problem,
    },
    #[error(
        "{page}: internal error building table `{table}`: {message} (this is a bug, please report it)"
    )]
    Internal {
        page: PageRef,
        table: &'static str,
        message: String,
    },
}

/// What is wrong with a value.
#[derive(Debug, Clone, PartialEq)]
pub enum Problem {
    Missing,
    Expected { expected: &'static str, got: String },
    BadTimestamp(String),
    ListItem(usize, Box<Problem>),
}

impl Problem {
    pub fn expected(expected: &'static str, v: Value<'_, '_>) -> Self {
        Problem::Expected {
            expected,
            got: shorten(&super::decode::json_of(v)),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Missing => write!(f, "required field is missing"),
            Problem::Expected { expected, got } => write!(f, "expected {expected}, got {got}"),
            Problem::BadTimestamp(s) => write!(f, "not an ISO-8601 instant: \"{s}\""),
            Problem::ListItem(i, p) => write!(f, "item {i}: {p}"),
        }
    }
}

/// Shortens a quoted value so errors stay one readable line.
pub fn shorten(s: &str) -> String {
    const MAX: usize = 60;
    if s.chars().count() <= MAX {
        s.to_string()
    } else {
        let head: String = s.chars().take(MAX).collect();
        format!("{head}…")
    }
}

/// A field error whose path is gathered on the way up (innermost segment first).
#[derive(Debug)]
pub struct FieldError {
    segments: Vec<String>,
    pub problem: Problem,
}

impl FieldError {
    pub fn at(key: &str, problem: Problem) -> Self {
        Self {
            segments: vec![key.to_string()],
            problem,
        }
    }
    /// Wraps the error as happening inside `key`.
    pub fn within(mut self, key: &str) -> Self {
        self.segments.push(key.to_string());
        self
    }
    /// Wraps the error as happening inside element `i` of array `key`.
    pub fn within_item(mut self, key: &str, i: usize) -> Self {
        self.segments.push(format!("{key}[{i}]"));
        self
    }
    pub fn path(&self) -> String {
        let mut parts: Vec<&str> = self.segments.iter().map(String::as_str).collect();
        parts.reverse();
        parts.join(".")
    }
}

pub(crate) fn type_name(v: Value<'_, '_>) -> &'static str {
    match v.value_type() {
        ValueType::Null => "null",
        ValueType::Bool => "a boolean",
        ValueType::String => "a string",
        ValueType::Array => "an array",
        ValueType::Object => "an object",
        _ => "a number",
    }
}
