//! The one error type of the crate: what is wrong with a pattern, and where.

use std::fmt;

/// Why a pattern does not parse, and where.
///
/// `offset` is the byte offset into the input of the first character of the problem;
/// `line` and `column` say the same for people (both count from 1, the column in
/// characters, not bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternError {
    /// Byte offset into the input where the error was found.
    pub offset: usize,
    /// Line of `offset`, counting from 1.
    pub line: usize,
    /// Column of `offset` in characters, counting from 1.
    pub column: usize,
    /// What is wrong, in a sentence without a trailing period.
    pub message: String,
}

impl PatternError {
    /// Builds an error at `offset` of `input`, computing its line and column.
    pub(crate) fn at(input: &str, offset: usize, message: impl Into<String>) -> Self {
        let mut offset = offset.min(input.len());
        while !input.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &input[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        PatternError {
            offset,
            line,
            column,
            message: message.into(),
        }
    }
}

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 1 {
            write!(
                f,
                "at column {} (byte offset {}): {}",
                self.column, self.offset, self.message
            )
        } else {
            write!(
                f,
                "at line {}, column {} (byte offset {}): {}",
                self.line, self.column, self.offset, self.message
            )
        }
    }
}

impl std::error::Error for PatternError {}
