//! ARN patterns for `Resource`/`NotResource` and the Arn* condition operators:
//! "Each of the six colon-delimited components of the ARN is checked
//! separately and each can include multi-character match wildcards (*) or
//! single-character match wildcards (?)" (IAM User Guide, "Condition
//! operators", ARN condition operators; "IAM JSON policy elements: Resource",
//! Using wildcards in resource ARNs). The sixth component is the rest of the
//! ARN, colons included; inside it `*` spans `/`.

use crate::pattern::{self, Pattern, Piece, Resolve};

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ArnPattern {
    /// Fewer than six components (`*`, or text that is not an ARN): matched
    /// as one wildcard string.
    Whole(Pattern),
    /// `arn`, partition, service, region, account, resource.
    Segments(Box<[Pattern; 6]>),
    /// The common case: the first five components are plain text (kept with
    /// their five colons, `arn:aws:s3:::`), only the resource varies.
    Prefixed { prefix: String, resource: Pattern },
}

impl ArnPattern {
    pub(crate) fn compile(text: &str, variables: bool) -> ArnPattern {
        let pieces = pattern::pieces(text, variables);
        let mut segments: Vec<Vec<Piece>> = vec![Vec::new()];
        for piece in pieces {
            match piece {
                Piece::Text(text) => {
                    let mut rest = text.as_str();
                    while segments.len() < 6 {
                        let Some(i) = rest.find(':') else { break };
                        if i > 0 {
                            segments.last_mut().unwrap().push(Piece::Text(rest[..i].to_owned()));
                        }
                        segments.push(Vec::new());
                        rest = &rest[i + 1..];
                    }
                    if !rest.is_empty() {
                        segments.last_mut().unwrap().push(Piece::Text(rest.to_owned()));
                    }
                }
                other => segments.last_mut().unwrap().push(other),
            }
        }
        if segments.len() < 6 {
            return ArnPattern::Whole(Pattern::compile(&pattern::pieces(text, variables), true));
        }
        let mut compiled: Vec<Pattern> = segments.iter().map(|s| Pattern::compile(s, true)).collect();
        if compiled[..5].iter().all(|p| p.as_exact().is_some()) {
            let mut prefix = String::new();
            for p in &compiled[..5] {
                prefix.push_str(p.as_exact().unwrap_or_default());
                prefix.push(':');
            }
            let resource = compiled.pop().expect("six segments");
            return ArnPattern::Prefixed { prefix, resource };
        }
        let array: [Pattern; 6] = compiled.try_into().expect("six segments");
        ArnPattern::Segments(Box::new(array))
    }

    /// Whether the ARN `value` matches, component by component.
    pub(crate) fn matches(&self, value: &str, ctx: &dyn Resolve) -> bool {
        match self {
            ArnPattern::Whole(p) => p.matches(value, false, ctx),
            ArnPattern::Prefixed { prefix, resource } => match value.strip_prefix(prefix.as_str()) {
                Some(rest) => resource.matches(rest, false, ctx),
                None => false,
            },
            ArnPattern::Segments(segments) => {
                let mut parts = value.splitn(6, ':');
                for segment in segments.iter() {
                    match parts.next() {
                        Some(part) if segment.matches(part, false, ctx) => {}
                        _ => return false,
                    }
                }
                true
            }
        }
    }

    /// Whether the pattern covers "no particular resource" (a request whose
    /// resource is `*`, such as `s3:ListAllMyBuckets`): `*` itself, or an ARN
    /// whose resource component is `*` (`arn:aws:s3:::*`, as the IAM User
    /// Guide's "Policy evaluation logic" example grants `s3:ListAllMyBuckets`).
    pub(crate) fn covers_any_resource(&self) -> bool {
        match self {
            ArnPattern::Whole(p) => p.is_any(),
            ArnPattern::Segments(segments) => segments[5].is_any(),
            ArnPattern::Prefixed { resource, .. } => resource.is_any(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct NoVars;
    impl Resolve for NoVars {
        fn resolve(&self, _: &str) -> Option<&str> {
            None
        }
    }

    #[test]
    fn components_are_matched_separately() {
        // The IAM User Guide's ArnLike example.
        let p = ArnPattern::compile("arn:aws:someservice:*:111122223333:finance/*", true);
        let v = "arn:aws:someservice:us-east-2:999999999999:store/abc:111122223333:finance/document.txt";
        assert!(!p.matches(v, &NoVars));
        assert!(Pattern::literal("arn:aws:someservice:*:111122223333:finance/*", true).matches(v, false, &NoVars));
        assert!(p.matches("arn:aws:someservice:us-east-2:111122223333:finance/a:b", &NoVars));
    }

    #[test]
    fn star_spans_slashes_in_the_resource_component() {
        let p = ArnPattern::compile("arn:aws:s3:::DOC-EXAMPLE-BUCKET/*/test/*", true);
        for ok in [
            "DOC-EXAMPLE-BUCKET/1/2/test/3/object.jpg",
            "DOC-EXAMPLE-BUCKET//test/object.jpg",
            "DOC-EXAMPLE-BUCKET/1/test/",
        ] {
            assert!(p.matches(&format!("arn:aws:s3:::{ok}"), &NoVars), "{ok}");
        }
        for bad in [
            "DOC-EXAMPLE-BUCKET/1-test/object.jpg",
            "DOC-EXAMPLE-BUCKET/test/object.jpg",
            "DOC-EXAMPLE-BUCKET/1/2/test.jpg",
        ] {
            assert!(!p.matches(&format!("arn:aws:s3:::{bad}"), &NoVars), "{bad}");
        }
    }
}
