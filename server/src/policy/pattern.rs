//! Wildcard patterns (`*` any run, `?` one character) as policies write them in actions,
//! resources, principals' ARNs and `StringLike` / `ArnLike` values, with policy variables
//! (`${aws:username}`, `${s3:prefix, 'default'}`, and the escapes `${*}`, `${?}`, `${$}`).
//! A variable's value is always literal: a user name holding `*` matches only a `*`.

use std::borrow::Cow;

use super::Context;

/// One piece of a compiled pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Piece {
    Literal(String),
    /// `*`: any run of characters, the empty one included.
    Any,
    /// `?`: exactly one character.
    One,
    /// `${key}` or `${key, 'default'}`: the request's single value for `key`; `index` counts
    /// the pattern's variables from 0.
    Variable {
        key: String,
        default: Option<String>,
        index: usize,
    },
}

/// A compiled pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pattern {
    pieces: Vec<Piece>,
    /// Whether any piece is a variable (else matching needs no context).
    variables: bool,
}

/// The most pieces a pattern may compile to (a policy is at most 20 KB, so this bounds nothing a
/// valid policy needs; it bounds the matcher's work on a hostile one).
pub const PATTERN_PIECES_MAX: usize = 4096;

impl Pattern {
    /// Compiles `text`. `wildcards`: whether `*` and `?` are wildcards (`StringEquals` values
    /// take them literally); `variables`: whether `${...}` is a variable (policy version
    /// 2012-10-17 only; the 2008 grammar reads it literally).
    pub fn compile(text: &str, wildcards: bool, variables: bool) -> Pattern {
        let mut pieces = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        let flush = |literal: &mut String, pieces: &mut Vec<Piece>| {
            if !literal.is_empty() {
                pieces.push(Piece::Literal(std::mem::take(literal)));
            }
        };
        while let Some(c) = rest.chars().next() {
            if variables
                && c == '$'
                && rest[1..].starts_with('{')
                && let Some(end) = rest.find('}')
            {
                let inner = &rest[2..end];
                rest = &rest[end + 1..];
                match inner {
                    "*" | "?" | "$" => literal.push_str(inner),
                    _ => {
                        flush(&mut literal, &mut pieces);
                        let index = pieces.iter().filter(|p| matches!(p, Piece::Variable { .. })).count();
                        pieces.push(variable(inner, index));
                    }
                }
                continue;
            }
            rest = &rest[c.len_utf8()..];
            match c {
                '*' if wildcards => {
                    flush(&mut literal, &mut pieces);
                    // Runs of `*` mean what one does.
                    if pieces.last() != Some(&Piece::Any) {
                        pieces.push(Piece::Any);
                    }
                }
                '?' if wildcards => {
                    flush(&mut literal, &mut pieces);
                    pieces.push(Piece::One);
                }
                _ => literal.push(c),
            }
        }
        flush(&mut literal, &mut pieces);
        pieces.truncate(PATTERN_PIECES_MAX);
        let variables = pieces.iter().any(|p| matches!(p, Piece::Variable { .. }));
        Pattern { pieces, variables }
    }

    /// Whether the pattern is `*` alone.
    pub fn is_any(&self) -> bool {
        self.pieces == [Piece::Any]
    }

    /// Whether the pattern holds a wildcard.
    pub fn has_wildcards(&self) -> bool {
        self.pieces.iter().any(|p| matches!(p, Piece::Any | Piece::One))
    }

    /// Whether the pattern holds a policy variable.
    pub fn has_variables(&self) -> bool {
        self.variables
    }

    /// The text the pattern matches when it has no wildcards and its variables resolve, as one
    /// string (for `StringEquals`-like comparisons). `None` when a variable has no value.
    pub fn literal<'a>(&'a self, context: &dyn Context) -> Option<Cow<'a, str>> {
        if let [Piece::Literal(text)] = self.pieces.as_slice() {
            return Some(Cow::Borrowed(text));
        }
        let mut out = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Literal(text) => out.push_str(text),
                Piece::Any => out.push('*'),
                Piece::One => out.push('?'),
                Piece::Variable { key, default, .. } => out.push_str(&resolve(key, default.as_deref(), context)?),
            }
        }
        Some(Cow::Owned(out))
    }

    /// Whether `input` matches. `ignore_case`: ASCII case-insensitive (actions). A variable
    /// without a value matches nothing, as AWS evaluates it.
    pub fn matches(&self, input: &str, ignore_case: bool, context: &dyn Context) -> bool {
        if !self.variables {
            return glob(&self.pieces, &[], input.as_bytes(), ignore_case);
        }
        let mut values = Vec::new();
        for piece in &self.pieces {
            if let Piece::Variable { key, default, .. } = piece {
                match resolve(key, default.as_deref(), context) {
                    Some(value) => values.push(value),
                    None => return false,
                }
            }
        }
        glob(&self.pieces, &values, input.as_bytes(), ignore_case)
    }
}

fn variable(inner: &str, index: usize) -> Piece {
    // `${key, 'default'}`: the default is quoted with single quotes.
    match inner.split_once(',') {
        Some((key, default)) => {
            let default = default.trim();
            let default = default.strip_prefix('\'').and_then(|d| d.strip_suffix('\'')).unwrap_or(default);
            Piece::Variable { key: key.trim().to_owned(), default: Some(default.to_owned()), index }
        }
        None => Piece::Variable { key: inner.trim().to_owned(), default: None, index },
    }
}

/// A variable's value: the request's single value for the key, else the default. A key with
/// several values (a set) is not a variable's value.
fn resolve<'a>(key: &str, default: Option<&'a str>, context: &dyn Context) -> Option<Cow<'a, str>> {
    match context.values(key) {
        Some(values) if values.len() == 1 => values.into_iter().next().map(|v| Cow::Owned(v.into_owned())),
        _ => default.map(Cow::Borrowed),
    }
}

/// Wildcard matching with backtracking to the last `*` only: linear in practice, and at most
/// O(pieces × input) on hostile patterns. Variable `i` is the literal `values[i]`.
fn glob(tokens: &[Piece], values: &[Cow<'_, str>], input: &[u8], ignore_case: bool) -> bool {
    let equal = |a: &[u8], b: &[u8]| if ignore_case { a.eq_ignore_ascii_case(b) } else { a == b };
    let (mut t, mut i) = (0usize, 0usize);
    // Where to resume after the last `*`: the token after it and the input position it covers to.
    let mut resume: Option<(usize, usize)> = None;
    loop {
        if t < tokens.len() {
            let literal = match &tokens[t] {
                Piece::Literal(text) => Some(text.as_bytes()),
                Piece::Variable { index, .. } => Some(values.get(*index).map_or(&b""[..], |v| v.as_bytes())),
                _ => None,
            };
            match (&tokens[t], literal) {
                (Piece::Any, _) => {
                    if t + 1 == tokens.len() {
                        // A trailing `*` takes whatever is left.
                        return true;
                    }
                    resume = Some((t + 1, i));
                    t += 1;
                    continue;
                }
                (Piece::One, _) if i < input.len() => {
                    i += utf8_len(input[i]).min(input.len() - i);
                    t += 1;
                    continue;
                }
                (_, Some(text)) if input.len() - i >= text.len() && equal(&input[i..i + text.len()], text) => {
                    i += text.len();
                    t += 1;
                    continue;
                }
                _ => {}
            }
        } else if i == input.len() {
            return true;
        }
        // A mismatch: let the last `*` take one more character, or fail.
        match resume {
            Some((after, covered)) if covered < input.len() => {
                let covered = covered + utf8_len(input[covered]).min(input.len() - covered);
                resume = Some((after, covered));
                t = after;
                i = covered;
            }
            _ => return false,
        }
    }
}

fn utf8_len(first: u8) -> usize {
    match first {
        0xF0.. => 4,
        0xE0.. => 3,
        0xC0.. => 2,
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::tests::Facts;

    fn matches(pattern: &str, input: &str) -> bool {
        Pattern::compile(pattern, true, true).matches(input, false, &Facts::default())
    }

    #[test]
    fn wildcards_match_runs_and_single_characters() {
        assert!(matches("*", ""));
        assert!(matches("*", "anything/at all"));
        assert!(matches("arn:aws:s3:::b/*", "arn:aws:s3:::b/k"));
        assert!(matches("arn:aws:s3:::b/*", "arn:aws:s3:::b/"));
        assert!(!matches("arn:aws:s3:::b/*", "arn:aws:s3:::b"));
        assert!(matches("a?c", "abc"));
        assert!(matches("a?c", "aéc"), "? is one character, not one byte");
        assert!(!matches("a?c", "ac"));
        assert!(matches("*a*b*c*", "xxaxxbxxcxx"));
        assert!(!matches("*a*b*c*", "xxaxxcxxbxx"));
        assert!(matches("s3:Get*", "s3:GetObject"));
        assert!(!matches("s3:Get*", "s3:getobject"));
        assert!(Pattern::compile("s3:Get*", true, false).matches("s3:getobject", true, &Facts::default()));
        assert!(!matches("abc", "abcd"));
        assert!(!matches("abcd", "abc"));
    }

    #[test]
    fn literal_patterns_take_wildcards_as_characters() {
        let pattern = Pattern::compile("a*b", false, true);
        assert!(pattern.matches("a*b", false, &Facts::default()));
        assert!(!pattern.matches("axxb", false, &Facts::default()));
    }

    #[test]
    fn variables_resolve_from_the_request_and_stay_literal() {
        let facts = Facts::default().with("aws:username", &["alice"]).with("weird", &["a*"]);
        let pattern = Pattern::compile("arn:aws:s3:::b/home/${aws:username}/*", true, true);
        assert!(pattern.matches("arn:aws:s3:::b/home/alice/x", false, &facts));
        assert!(!pattern.matches("arn:aws:s3:::b/home/bob/x", false, &facts));
        // A missing variable matches nothing; a default stands in for it.
        assert!(!pattern.matches("arn:aws:s3:::b/home//x", false, &Facts::default()));
        let defaulted = Pattern::compile("home/${aws:username, 'nobody'}/*", true, true);
        assert!(defaulted.matches("home/nobody/x", false, &Facts::default()));
        // A value's `*` is a character, not a wildcard.
        let literal = Pattern::compile("${weird}", true, true);
        assert!(literal.matches("a*", false, &facts));
        assert!(!literal.matches("ab", false, &facts));
        // Escapes and the 2008 grammar.
        assert!(Pattern::compile("x${*}y${?}${$}", true, true).matches("x*y?$", false, &facts));
        assert!(!Pattern::compile("x${*}", true, true).matches("xa", false, &facts));
        assert!(Pattern::compile("${aws:username}", true, false).matches("${aws:username}", false, &facts));
        assert_eq!(Pattern::compile("u/${aws:username}", false, true).literal(&facts).as_deref(), Some("u/alice"));
    }

    #[test]
    fn hostile_patterns_stay_bounded() {
        let pattern = Pattern::compile(&"*a".repeat(2000), true, false);
        let input = "a".repeat(1999) + "b";
        assert!(!pattern.matches(&input, false, &Facts::default()));
        assert!(Pattern::compile(&"*".repeat(10_000), true, false).is_any());
    }
}
