//! Strings written in policies: policy variables and the `*` / `?` wildcards,
//! compiled once at parse time and matched without allocating.
//!
//! - Variables (`${aws:username}`, `${aws:PrincipalTag/team, 'default'}`, the
//!   fixed `${*}` `${?}` `${$}`) exist only in documents of Version
//!   `2012-10-17`; in `2008-10-17` (or with no Version) `${...}` is literal
//!   text (IAM User Guide, "IAM policy elements: Variables and tags").
//! - A variable's value is literal text: a `*` in a tag value is not a
//!   wildcard. `${*}` exists precisely to write a literal asterisk.
//! - A variable without a value and without a default makes the string match
//!   nothing ("Policy variables with no value").

/// One part of a policy string.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Piece {
    /// Text as written; `*` and `?` in it are wildcards where the operator allows them.
    Text(String),
    /// A character from `${*}`, `${?}` or `${$}`: always literal.
    Escaped(char),
    /// `${key}` or `${key, 'default'}`; `key` is lower-cased (key names are
    /// case-insensitive).
    Variable { key: String, default: Option<String> },
}

/// Splits policy text into pieces. With `variables` false (Version 2008-10-17)
/// the whole string is one literal piece.
pub(crate) fn pieces(text: &str, variables: bool) -> Vec<Piece> {
    if !variables || !text.contains("${") {
        return vec![Piece::Text(text.to_owned())];
    }
    let mut out = Vec::new();
    let mut literal = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else { break };
        literal.push_str(&rest[..start]);
        let inner = &after[..end];
        match inner {
            "*" => {
                flush(&mut out, &mut literal);
                out.push(Piece::Escaped('*'));
            }
            "?" => {
                flush(&mut out, &mut literal);
                out.push(Piece::Escaped('?'));
            }
            "$" => {
                flush(&mut out, &mut literal);
                out.push(Piece::Escaped('$'));
            }
            _ => {
                flush(&mut out, &mut literal);
                out.push(variable(inner));
            }
        }
        rest = &after[end + 1..];
    }
    literal.push_str(rest);
    flush(&mut out, &mut literal);
    out
}

fn flush(out: &mut Vec<Piece>, literal: &mut String) {
    if !literal.is_empty() {
        out.push(Piece::Text(std::mem::take(literal)));
    }
}

/// `key` or `key, 'default'` ("Specifying default values": the default is in
/// single quotes after a comma and a space).
fn variable(inner: &str) -> Piece {
    if let Some((key, default)) = inner.split_once(',') {
        let default = default.trim();
        if default.len() >= 2 && default.starts_with('\'') && default.ends_with('\'') {
            return Piece::Variable {
                key: key.trim().to_ascii_lowercase(),
                default: Some(default[1..default.len() - 1].to_owned()),
            };
        }
    }
    Piece::Variable { key: inner.trim().to_ascii_lowercase(), default: None }
}

/// Looks a variable up in the request: the single value of the key, if any.
pub(crate) trait Resolve {
    fn resolve(&self, key: &str) -> Option<&str>;
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Lit(String),
    Star,
    Quest,
    /// Index into the pattern's variables.
    Var(usize),
}

/// A compiled pattern: literal text, wildcards (if the operator has them) and
/// variables.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Pattern {
    tokens: Vec<Token>,
    vars: Vec<(String, Option<String>)>,
    /// True when the pattern is exactly `*`.
    any: bool,
    /// The common shapes, matched without the general algorithm.
    shape: Shape,
}

#[derive(Debug, Clone, PartialEq)]
enum Shape {
    /// Literal text only.
    Exact(String),
    /// Literal text followed by one `*`.
    Prefix(String),
    /// Anything else (or variables).
    General,
}

impl Pattern {
    /// Compiles pieces; `wildcards` says whether `*`/`?` in text are wildcards.
    pub(crate) fn compile(pieces: &[Piece], wildcards: bool) -> Pattern {
        let mut tokens = Vec::new();
        let mut vars = Vec::new();
        let mut lit = String::new();
        let push_lit = |tokens: &mut Vec<Token>, lit: &mut String| {
            if !lit.is_empty() {
                tokens.push(Token::Lit(std::mem::take(lit)));
            }
        };
        for piece in pieces {
            match piece {
                Piece::Text(text) if wildcards => {
                    for c in text.chars() {
                        match c {
                            '*' => {
                                push_lit(&mut tokens, &mut lit);
                                // Consecutive stars are one star.
                                if tokens.last() != Some(&Token::Star) {
                                    tokens.push(Token::Star);
                                }
                            }
                            '?' => {
                                push_lit(&mut tokens, &mut lit);
                                tokens.push(Token::Quest);
                            }
                            c => lit.push(c),
                        }
                    }
                }
                Piece::Text(text) => lit.push_str(text),
                Piece::Escaped(c) => lit.push(*c),
                Piece::Variable { key, default } => {
                    push_lit(&mut tokens, &mut lit);
                    tokens.push(Token::Var(vars.len()));
                    vars.push((key.clone(), default.clone()));
                }
            }
        }
        push_lit(&mut tokens, &mut lit);
        let any = tokens == [Token::Star];
        let shape = match tokens.as_slice() {
            [] => Shape::Exact(String::new()),
            [Token::Lit(l)] => Shape::Exact(l.clone()),
            [Token::Lit(l), Token::Star] => Shape::Prefix(l.clone()),
            _ => Shape::General,
        };
        Pattern { tokens, vars, any, shape }
    }

    /// The pattern's text when it is plain literal text (no wildcards, no variables).
    pub(crate) fn as_exact(&self) -> Option<&str> {
        match &self.shape {
            Shape::Exact(l) => Some(l),
            _ => None,
        }
    }

    pub(crate) fn literal(text: &str, wildcards: bool) -> Pattern {
        Pattern::compile(&[Piece::Text(text.to_owned())], wildcards)
    }

    pub(crate) fn is_any(&self) -> bool {
        self.any
    }

    pub(crate) fn has_variables(&self) -> bool {
        !self.vars.is_empty()
    }

    /// Whether `text` matches. `ascii_ci` compares letters ASCII
    /// case-insensitively (actions). Unresolvable variables match nothing.
    pub(crate) fn matches(&self, text: &str, ascii_ci: bool, ctx: &dyn Resolve) -> bool {
        if self.any {
            return true;
        }
        match &self.shape {
            Shape::Exact(l) => l.len() == text.len() && starts_with(text.as_bytes(), l.as_bytes(), ascii_ci),
            Shape::Prefix(l) => starts_with(text.as_bytes(), l.as_bytes(), ascii_ci),
            Shape::General => {
                self.with_values(ctx, |values| glob(&self.tokens, values, text, ascii_ci)).unwrap_or(false)
            }
        }
    }

    /// The pattern's text with variables substituted (for operators that
    /// compare whole strings in ways a glob cannot, such as Unicode
    /// case-insensitive equality). `None` if a variable has no value.
    pub(crate) fn render(&self, ctx: &dyn Resolve) -> Option<String> {
        self.with_values(ctx, |values| {
            let mut out = String::new();
            for t in &self.tokens {
                match t {
                    Token::Lit(l) => out.push_str(l),
                    Token::Star => out.push('*'),
                    Token::Quest => out.push('?'),
                    Token::Var(i) => out.push_str(values[*i]),
                }
            }
            out
        })
    }

    /// Runs `f` with the variables' values, on the stack for up to four.
    fn with_values<'s, R>(&'s self, ctx: &'s dyn Resolve, f: impl FnOnce(&[&'s str]) -> R) -> Option<R> {
        let n = self.vars.len();
        if n == 0 {
            return Some(f(&[]));
        }
        if n <= 4 {
            let mut buf: [&str; 4] = [""; 4];
            for (slot, var) in buf.iter_mut().zip(&self.vars) {
                *slot = value(ctx, var)?;
            }
            return Some(f(&buf[..n]));
        }
        let mut values = Vec::with_capacity(n);
        for var in &self.vars {
            values.push(value(ctx, var)?);
        }
        Some(f(&values))
    }
}

/// A variable's value: the request's, else the default.
fn value<'s>(ctx: &'s dyn Resolve, (key, default): &'s (String, Option<String>)) -> Option<&'s str> {
    ctx.resolve(key).or(default.as_deref())
}

/// Wildcard matching with backtracking to the last `*` (linear in practice,
/// never recursive). `?` matches one character, not one byte.
fn glob(tokens: &[Token], values: &[&str], text: &str, ascii_ci: bool) -> bool {
    let bytes = text.as_bytes();
    let (mut t, mut s) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    loop {
        if t < tokens.len() {
            let advanced = match &tokens[t] {
                Token::Star => {
                    star = Some((t + 1, s));
                    t += 1;
                    continue;
                }
                Token::Quest => {
                    if s < bytes.len() {
                        s += char_len(bytes[s]);
                        true
                    } else {
                        false
                    }
                }
                Token::Lit(l) => {
                    starts_with(&bytes[s..], l.as_bytes(), ascii_ci) && {
                        s += l.len();
                        true
                    }
                }
                Token::Var(i) => {
                    let v = values[*i];
                    starts_with(&bytes[s..], v.as_bytes(), ascii_ci) && {
                        s += v.len();
                        true
                    }
                }
            };
            if advanced {
                t += 1;
                continue;
            }
        } else if s == bytes.len() {
            return true;
        }
        match star {
            Some((after, from)) if from < bytes.len() => {
                let next = from + char_len(bytes[from]);
                star = Some((after, next));
                t = after;
                s = next;
            }
            _ => return false,
        }
    }
}

fn starts_with(text: &[u8], prefix: &[u8], ascii_ci: bool) -> bool {
    text.len() >= prefix.len()
        && if ascii_ci { text[..prefix.len()].eq_ignore_ascii_case(prefix) } else { &text[..prefix.len()] == prefix }
}

/// Length of the UTF-8 sequence starting with `first`.
fn char_len(first: u8) -> usize {
    match first {
        0x00..=0x7f => 1,
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        _ => 4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Vars(&'static [(&'static str, &'static str)]);
    impl Resolve for Vars {
        fn resolve(&self, key: &str) -> Option<&str> {
            self.0.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
        }
    }
    const NONE: Vars = Vars(&[]);

    fn glob_matches(p: &str, text: &str) -> bool {
        Pattern::literal(p, true).matches(text, false, &NONE)
    }

    #[test]
    fn wildcards() {
        assert!(glob_matches("*", ""));
        assert!(glob_matches("a*c", "abbbc"));
        assert!(glob_matches("a*c", "ac"));
        assert!(!glob_matches("a*c", "abd"));
        assert!(glob_matches("a?c", "abc"));
        assert!(glob_matches("a?c", "aéc"));
        assert!(!glob_matches("a?c", "ac"));
        assert!(glob_matches("*/test/*", "1/2/test/3/o.jpg"));
        assert!(!glob_matches("*/test/*", "1-test/o.jpg"));
        assert!(glob_matches("a**b", "ab"));
        assert!(glob_matches("*a*a*a*", "aaa"));
        assert!(!glob_matches("*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaa"));
    }

    #[test]
    fn variables_and_escapes() {
        let ctx = Vars(&[("aws:username", "a*ce")]);
        let p = Pattern::compile(&pieces("home/${aws:username}/*", true), true);
        assert!(p.matches("home/a*ce/x", false, &ctx));
        // A variable's value is literal: its `*` is not a wildcard.
        assert!(!p.matches("home/alice/x", false, &ctx));
        let p = Pattern::compile(&pieces("a${*}b", true), true);
        assert!(p.matches("a*b", false, &NONE));
        assert!(!p.matches("axb", false, &NONE));
        let p = Pattern::compile(&pieces("${aws:PrincipalTag/team, 'company-wide'}", true), true);
        assert!(p.matches("company-wide", false, &NONE));
        let p = Pattern::compile(&pieces("${aws:PrincipalTag/team}", true), true);
        assert!(!p.matches("", false, &NONE));
        // Version 2008-10-17: literal.
        let p = Pattern::compile(&pieces("${aws:username}", false), true);
        assert!(p.matches("${aws:username}", false, &ctx));
    }
}
