//! The `Condition` element: every operator, `...IfExists`, and the
//! `ForAllValues:` / `ForAnyValue:` set operators (IAM User Guide, "IAM JSON
//! policy elements: Condition operators"; "Creating a condition with multiple
//! keys or values"; "Single-valued vs. multivalued condition keys").
//!
//! The rules, as AWS documents them:
//! - several operators, and several keys under one operator, are AND-ed;
//!   several values for one key are OR-ed — for negated operators (`...Not...`)
//!   the condition is the negation of the positive one, so the values act as AND;
//! - a key missing from the request makes a condition false, except that
//!   negated operators are then true, `...IfExists` is true, `Null` tests for
//!   presence, `ForAllValues:` is true and `ForAnyValue:` is false;
//! - `ForAllValues:` holds when every request value satisfies the operator
//!   against the policy's values, `ForAnyValue:` when at least one does; a
//!   negated operator is applied to each request value (the value matches
//!   none of the policy's values);
//! - a policy value whose variable has no value matches nothing, so
//!   `StringNotEquals` against it holds ("Policy variables with no value").

use std::net::IpAddr;

use base64::Engine;

use crate::arn::ArnPattern;
use crate::context::RequestContext;
use crate::date::{self, Instant};
use crate::ip::Cidr;
use crate::json::Json;
use crate::pattern::{self, Pattern};

/// The condition operators, without `IfExists` and set qualifiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    StringEquals,
    StringNotEquals,
    StringEqualsIgnoreCase,
    StringNotEqualsIgnoreCase,
    StringLike,
    StringNotLike,
    NumericEquals,
    NumericNotEquals,
    NumericLessThan,
    NumericLessThanEquals,
    NumericGreaterThan,
    NumericGreaterThanEquals,
    DateEquals,
    DateNotEquals,
    DateLessThan,
    DateLessThanEquals,
    DateGreaterThan,
    DateGreaterThanEquals,
    Bool,
    BinaryEquals,
    IpAddress,
    NotIpAddress,
    ArnEquals,
    ArnLike,
    ArnNotEquals,
    ArnNotLike,
    Null,
}

const OPERATORS: [(&str, Operator); 27] = [
    ("StringEquals", Operator::StringEquals),
    ("StringNotEquals", Operator::StringNotEquals),
    ("StringEqualsIgnoreCase", Operator::StringEqualsIgnoreCase),
    ("StringNotEqualsIgnoreCase", Operator::StringNotEqualsIgnoreCase),
    ("StringLike", Operator::StringLike),
    ("StringNotLike", Operator::StringNotLike),
    ("NumericEquals", Operator::NumericEquals),
    ("NumericNotEquals", Operator::NumericNotEquals),
    ("NumericLessThan", Operator::NumericLessThan),
    ("NumericLessThanEquals", Operator::NumericLessThanEquals),
    ("NumericGreaterThan", Operator::NumericGreaterThan),
    ("NumericGreaterThanEquals", Operator::NumericGreaterThanEquals),
    ("DateEquals", Operator::DateEquals),
    ("DateNotEquals", Operator::DateNotEquals),
    ("DateLessThan", Operator::DateLessThan),
    ("DateLessThanEquals", Operator::DateLessThanEquals),
    ("DateGreaterThan", Operator::DateGreaterThan),
    ("DateGreaterThanEquals", Operator::DateGreaterThanEquals),
    ("Bool", Operator::Bool),
    ("BinaryEquals", Operator::BinaryEquals),
    ("IpAddress", Operator::IpAddress),
    ("NotIpAddress", Operator::NotIpAddress),
    ("ArnEquals", Operator::ArnEquals),
    ("ArnLike", Operator::ArnLike),
    ("ArnNotEquals", Operator::ArnNotEquals),
    ("ArnNotLike", Operator::ArnNotLike),
    ("Null", Operator::Null),
];

impl Operator {
    pub fn name(self) -> &'static str {
        OPERATORS.iter().find(|(_, op)| *op == self).map(|(n, _)| *n).unwrap_or("")
    }

    /// Negated operators hold when the positive one does not.
    pub fn is_negated(self) -> bool {
        use Operator::*;
        matches!(
            self,
            StringNotEquals
                | StringNotEqualsIgnoreCase
                | StringNotLike
                | NumericNotEquals
                | DateNotEquals
                | NotIpAddress
                | ArnNotEquals
                | ArnNotLike
        )
    }

    fn is_date(self) -> bool {
        use Operator::*;
        matches!(
            self,
            DateEquals | DateNotEquals | DateLessThan | DateLessThanEquals | DateGreaterThan | DateGreaterThanEquals
        )
    }
}

/// `ForAllValues:` or `ForAnyValue:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetOperator {
    ForAllValues,
    ForAnyValue,
}

/// A parsed operator name such as `ForAnyValue:StringLikeIfExists`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OperatorName {
    pub operator: Operator,
    pub set: Option<SetOperator>,
    pub if_exists: bool,
}

impl OperatorName {
    /// Operator names are case-sensitive; `IfExists` goes on any operator but `Null`.
    pub fn parse(name: &str) -> Option<OperatorName> {
        let (set, rest) = if let Some(r) = name.strip_prefix("ForAllValues:") {
            (Some(SetOperator::ForAllValues), r)
        } else if let Some(r) = name.strip_prefix("ForAnyValue:") {
            (Some(SetOperator::ForAnyValue), r)
        } else {
            (None, name)
        };
        let lookup = |n: &str| OPERATORS.iter().find(|(k, _)| *k == n).map(|(_, op)| *op);
        if let Some(operator) = lookup(rest) {
            return Some(OperatorName { operator, set, if_exists: false });
        }
        let base = rest.strip_suffix("IfExists")?;
        let operator = lookup(base).filter(|op| *op != Operator::Null)?;
        Some(OperatorName { operator, set, if_exists: true })
    }
}

/// The policy's values for one key, compiled for its operator.
#[derive(Debug, Clone, PartialEq)]
enum Values {
    /// String*, and Bool (which also takes variables): patterns, wildcards
    /// only for `StringLike`/`StringNotLike`.
    Strings(Vec<Pattern>),
    Numbers(Vec<Option<f64>>),
    Dates(Vec<Option<Instant>>),
    Binary(Vec<Option<Vec<u8>>>),
    Ips(Vec<Option<Cidr>>),
    Arns(Vec<ArnPattern>),
    Null(Vec<Option<bool>>),
}

/// One `operator: { key: values }` test.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    name: OperatorName,
    /// The key as written.
    key: String,
    key_lower: String,
    /// The values as written (numbers and booleans as their JSON text).
    raw: Vec<String>,
    values: Values,
}

/// Why a condition block is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ConditionFault {
    /// Not an object of objects of strings (or lists of them), or an unknown
    /// operator with keys under it.
    Syntax,
    UnknownOperator(String),
    /// A Date* value that is neither ISO 8601 nor epoch time.
    BadDate,
}

/// Parses a statement's `Condition` element. `variables` is true for Version 2012-10-17.
pub(crate) fn parse_block(block: &Json, variables: bool) -> Result<Vec<Condition>, ConditionFault> {
    let members = block.as_object().ok_or(ConditionFault::Syntax)?;
    let mut out = Vec::new();
    for (op_name, body) in members {
        let keys = body.as_object().ok_or(ConditionFault::Syntax)?;
        let Some(name) = OperatorName::parse(op_name) else {
            if keys.is_empty() {
                // IAM accepts an unknown operator with nothing under it.
                continue;
            }
            return Err(ConditionFault::UnknownOperator(op_name.clone()));
        };
        for (key, value) in keys {
            let raw = scalar_list(value).ok_or(ConditionFault::Syntax)?;
            let values = compile(name.operator, &raw, variables)?;
            out.push(Condition { name, key: key.clone(), key_lower: key.to_ascii_lowercase(), raw, values });
        }
    }
    Ok(out)
}

/// A condition value: a string, number or boolean, or a list of them.
fn scalar_list(value: &Json) -> Option<Vec<String>> {
    let one = |v: &Json| match v {
        Json::String(s) => Some(s.clone()),
        Json::Number(n) => Some(n.clone()),
        Json::Bool(b) => Some(b.to_string()),
        _ => None,
    };
    match value {
        Json::Array(items) => items.iter().map(one).collect(),
        other => one(other).map(|v| vec![v]),
    }
}

fn compile(op: Operator, raw: &[String], variables: bool) -> Result<Values, ConditionFault> {
    use Operator::*;
    // "You can use a policy variable with the String/ARN/Boolean condition
    // operators"; not with Numeric, Date, Binary, IP address or Null.
    let strings = |wildcards: bool| {
        Values::Strings(raw.iter().map(|v| Pattern::compile(&pattern::pieces(v, variables), wildcards)).collect())
    };
    Ok(match op {
        StringEquals | StringNotEquals | StringEqualsIgnoreCase | StringNotEqualsIgnoreCase | Bool => strings(false),
        StringLike | StringNotLike => strings(true),
        NumericEquals
        | NumericNotEquals
        | NumericLessThan
        | NumericLessThanEquals
        | NumericGreaterThan
        | NumericGreaterThanEquals => Values::Numbers(raw.iter().map(|v| number(v)).collect()),
        op if op.is_date() => {
            let dates: Vec<Option<Instant>> = raw.iter().map(|v| date::parse(v)).collect();
            if dates.iter().any(Option::is_none) {
                return Err(ConditionFault::BadDate);
            }
            Values::Dates(dates)
        }
        BinaryEquals => {
            Values::Binary(raw.iter().map(|v| base64::engine::general_purpose::STANDARD.decode(v).ok()).collect())
        }
        IpAddress | NotIpAddress => Values::Ips(raw.iter().map(|v| Cidr::parse(v)).collect()),
        ArnEquals | ArnLike | ArnNotEquals | ArnNotLike => {
            Values::Arns(raw.iter().map(|v| ArnPattern::compile(v, variables)).collect())
        }
        Null => Values::Null(
            raw.iter()
                .map(|v| match v.to_ascii_lowercase().as_str() {
                    "true" => Some(true),
                    "false" => Some(false),
                    _ => None,
                })
                .collect(),
        ),
        _ => unreachable!("every operator is compiled"),
    })
}

fn number(text: &str) -> Option<f64> {
    let t = text.trim();
    let plausible = t.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E'));
    if !plausible {
        return None;
    }
    t.parse::<f64>().ok().filter(|n| n.is_finite())
}

fn boolean(text: &str) -> Option<bool> {
    if text.eq_ignore_ascii_case("true") {
        Some(true)
    } else if text.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

impl Condition {
    pub fn operator(&self) -> OperatorName {
        self.name
    }

    pub fn key(&self) -> &str {
        &self.key
    }

    pub fn values(&self) -> &[String] {
        &self.raw
    }

    /// Whether the condition holds for the request.
    pub(crate) fn holds(&self, ctx: &RequestContext) -> bool {
        let present = ctx.values(&self.key_lower);
        if let Values::Null(expect) = &self.values {
            // Null: true means "the key is absent", false "the key is present".
            return expect.iter().any(|e| *e == Some(present.is_none()));
        }
        let negated = self.name.operator.is_negated();
        let Some(request) = present else {
            if self.name.if_exists {
                return true;
            }
            return match self.name.set {
                Some(SetOperator::ForAllValues) => true,
                Some(SetOperator::ForAnyValue) => false,
                None => negated,
            };
        };
        match self.name.set {
            None => {
                let positive = request.iter().any(|r| self.any_value_matches(r, ctx));
                positive != negated
            }
            Some(SetOperator::ForAnyValue) => request.iter().any(|r| self.any_value_matches(r, ctx) != negated),
            Some(SetOperator::ForAllValues) => request.iter().all(|r| self.any_value_matches(r, ctx) != negated),
        }
    }

    /// Whether one request value matches at least one of the policy's values
    /// under the positive form of the operator.
    fn any_value_matches(&self, r: &str, ctx: &RequestContext) -> bool {
        use Operator::*;
        let op = self.name.operator;
        match &self.values {
            Values::Strings(patterns) => match op {
                StringEquals | StringNotEquals | StringLike | StringNotLike => {
                    patterns.iter().any(|p| p.matches(r, false, ctx))
                }
                StringEqualsIgnoreCase | StringNotEqualsIgnoreCase => patterns.iter().any(|p| {
                    if r.is_ascii() && !p.has_variables() {
                        p.matches(r, true, ctx)
                    } else {
                        p.render(ctx).is_some_and(|v| v.to_lowercase() == r.to_lowercase())
                    }
                }),
                Bool => {
                    let Some(want) = boolean(r) else { return false };
                    patterns.iter().any(|p| p.render(ctx).and_then(|v| boolean(&v)) == Some(want))
                }
                _ => false,
            },
            Values::Numbers(numbers) => {
                let Some(r) = number(r) else { return false };
                numbers.iter().flatten().any(|p| match op {
                    NumericEquals | NumericNotEquals => r == *p,
                    NumericLessThan => r < *p,
                    NumericLessThanEquals => r <= *p,
                    NumericGreaterThan => r > *p,
                    NumericGreaterThanEquals => r >= *p,
                    _ => false,
                })
            }
            Values::Dates(dates) => {
                let Some(r) = date::parse(r) else { return false };
                dates.iter().flatten().any(|p| match op {
                    DateEquals | DateNotEquals => r == *p,
                    DateLessThan => r < *p,
                    DateLessThanEquals => r <= *p,
                    DateGreaterThan => r > *p,
                    DateGreaterThanEquals => r >= *p,
                    _ => false,
                })
            }
            Values::Binary(blobs) => {
                let decoded = base64::engine::general_purpose::STANDARD.decode(r);
                let bytes: &[u8] = match &decoded {
                    Ok(b) => b,
                    Err(_) => r.as_bytes(),
                };
                blobs.iter().flatten().any(|p| p.as_slice() == bytes)
            }
            Values::Ips(cidrs) => {
                let Ok(addr) = r.trim().parse::<IpAddr>() else { return false };
                cidrs.iter().flatten().any(|c| c.contains(addr))
            }
            Values::Arns(patterns) => patterns.iter().any(|p| p.matches(r, ctx)),
            Values::Null(_) => false,
        }
    }
}
