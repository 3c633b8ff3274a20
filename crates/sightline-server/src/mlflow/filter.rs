//! The common forms of MLflow's search filter grammar: comparisons joined by `AND`,
//! each `field op value` with `=`, `!=`, `LIKE`, `ILIKE` (`%` and `_` wildcards),
//! `<`, `<=`, `>`, `>=` (numbers), and `IN ('a', 'b')`. Fields may be dotted
//! (`tags.x`, `params.lr`) or backquoted. Anything else is refused with 400 rather than
//! guessed at.

use crate::error::ApiError;

#[derive(Debug, Clone, PartialEq)]
enum Op {
    Eq,
    Ne,
    Like,
    ILike,
    Lt,
    Le,
    Gt,
    Ge,
    In,
}

#[derive(Debug, Clone, PartialEq)]
struct Clause {
    field: String,
    op: Op,
    values: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Filter(Vec<Clause>);

fn bad(message: String) -> ApiError {
    super::invalid("filter", &message)
}

struct Lexer<'a> {
    rest: &'a str,
}

impl<'a> Lexer<'a> {
    fn skip(&mut self) {
        self.rest = self.rest.trim_start();
    }

    fn done(&mut self) -> bool {
        self.skip();
        self.rest.is_empty()
    }

    fn word(&mut self) -> Option<&'a str> {
        self.skip();
        let end =
            self.rest.find(|c: char| !(c.is_alphanumeric() || matches!(c, '_' | '.' | '-'))).unwrap_or(self.rest.len());
        if end == 0 {
            return None;
        }
        let (w, rest) = self.rest.split_at(end);
        self.rest = rest;
        Some(w)
    }

    /// A field: dotted segments, each bare or backquoted (`tags.x`, ``tags.`a b` ``,
    /// `` `tags`.`x` ``).
    fn field(&mut self) -> Result<String, ApiError> {
        self.skip();
        let mut out = String::new();
        loop {
            if let Some(rest) = self.rest.strip_prefix('`') {
                let end = rest.find('`').ok_or_else(|| bad("has an unclosed '`'".into()))?;
                out.push_str(&rest[..end]);
                self.rest = &rest[end + 1..];
            } else {
                let w = self.word().ok_or_else(|| bad(format!("expected a field at {:?}", self.rest)))?;
                out.push_str(w);
            }
            if out.ends_with('.') && self.rest.starts_with('`') {
                continue;
            }
            match self.rest.strip_prefix('.') {
                Some(rest) => {
                    out.push('.');
                    self.rest = rest;
                }
                None => return Ok(out),
            }
        }
    }

    fn op(&mut self) -> Result<Op, ApiError> {
        self.skip();
        for (text, op) in [("!=", Op::Ne), ("<=", Op::Le), (">=", Op::Ge), ("=", Op::Eq), ("<", Op::Lt), (">", Op::Gt)]
        {
            if let Some(rest) = self.rest.strip_prefix(text) {
                self.rest = rest;
                return Ok(op);
            }
        }
        match self.word().map(str::to_ascii_uppercase).as_deref() {
            Some("LIKE") => Ok(Op::Like),
            Some("ILIKE") => Ok(Op::ILike),
            Some("IN") => Ok(Op::In),
            _ => Err(bad(format!("expected an operator (=, !=, LIKE, ILIKE, <, <=, >, >=, IN) at {:?}", self.rest))),
        }
    }

    fn value(&mut self) -> Result<String, ApiError> {
        self.skip();
        let quote = self.rest.chars().next().filter(|c| *c == '\'' || *c == '"');
        if let Some(q) = quote {
            let body = &self.rest[1..];
            let end = body.find(q).ok_or_else(|| bad(format!("has an unclosed {q}")))?;
            self.rest = &body[end + 1..];
            return Ok(body[..end].to_owned());
        }
        self.word().map(str::to_owned).ok_or_else(|| bad(format!("expected a value at {:?}", self.rest)))
    }

    fn punct(&mut self, c: char) -> bool {
        self.skip();
        match self.rest.strip_prefix(c) {
            Some(rest) => {
                self.rest = rest;
                true
            }
            None => false,
        }
    }
}

/// Longest filter accepted.
const MAX_FILTER: usize = 4096;

pub fn parse(text: &str) -> Result<Filter, ApiError> {
    if text.len() > MAX_FILTER {
        return Err(bad(format!("must have at most {MAX_FILTER} bytes")));
    }
    let mut lx = Lexer { rest: text };
    let mut clauses = Vec::new();
    if lx.done() {
        return Ok(Filter(clauses));
    }
    loop {
        let field = lx.field()?;
        let op = lx.op()?;
        let values = if op == Op::In {
            if !lx.punct('(') {
                return Err(bad("IN needs a parenthesized list".into()));
            }
            let mut values = vec![lx.value()?];
            while lx.punct(',') {
                values.push(lx.value()?);
            }
            if !lx.punct(')') {
                return Err(bad("IN list is not closed".into()));
            }
            values
        } else {
            vec![lx.value()?]
        };
        clauses.push(Clause { field, op, values });
        if lx.done() {
            return Ok(Filter(clauses));
        }
        match lx.word().map(str::to_ascii_uppercase).as_deref() {
            Some("AND") => {}
            _ => return Err(bad(format!("only AND joins comparisons; unexpected {:?}", lx.rest))),
        }
    }
}

/// SQL LIKE: `%` any run, `_` one character. Dynamic programming over the text, so a
/// pattern of many `%` costs O(pattern × text), never backtracking or deep recursion.
fn like(pattern: &[char], text: &[char]) -> bool {
    // row[j]: whether the pattern read so far matches text[..j].
    let mut row = vec![false; text.len() + 1];
    row[0] = true;
    for &p in pattern {
        let mut next = vec![false; text.len() + 1];
        match p {
            '%' => {
                let mut any = false;
                for j in 0..=text.len() {
                    any |= row[j];
                    next[j] = any;
                }
            }
            _ => {
                for j in 1..=text.len() {
                    next[j] = row[j - 1] && (p == '_' || text[j - 1] == p);
                }
            }
        }
        row = next;
    }
    row[text.len()]
}

impl Filter {
    /// Whether a record matches every clause; `value` gives a field's value, `None`
    /// when the record has no such field (which matches nothing).
    pub fn matches(&self, value: &dyn Fn(&str) -> Option<String>) -> bool {
        self.0.iter().all(|c| {
            let field = c.field.strip_prefix("attributes.").unwrap_or(&c.field);
            // MLflow writes both `tag.x` and `tags.x` (the client itself adds
            // ``tag.`mlflow.prompt.is_prompt` != 'true'`` to model searches).
            let field = match field.strip_prefix("tag.") {
                Some(k) => format!("tags.{k}"),
                None => field.to_owned(),
            };
            // A missing tag or param is "not equal" to anything, as in MLflow.
            let Some(v) = value(&field) else { return c.op == Op::Ne };
            let want = &c.values[0];
            let num = || Some((v.parse::<f64>().ok()?, want.parse::<f64>().ok()?));
            match c.op {
                Op::Eq => &v == want,
                Op::Ne => &v != want,
                Op::In => c.values.contains(&v),
                Op::Like => like(&want.chars().collect::<Vec<_>>(), &v.chars().collect::<Vec<_>>()),
                Op::ILike => like(
                    &want.to_lowercase().chars().collect::<Vec<_>>(),
                    &v.to_lowercase().chars().collect::<Vec<_>>(),
                ),
                Op::Lt => num().is_some_and(|(a, b)| a < b),
                Op::Le => num().is_some_and(|(a, b)| a <= b),
                Op::Gt => num().is_some_and(|(a, b)| a > b),
                Op::Ge => num().is_some_and(|(a, b)| a >= b),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    fn check(filter: &str, fields: &[(&str, &str)], expected: bool) {
        let f = parse(filter).unwrap_or_else(|e| panic!("{filter}: {}", e.detail));
        let got = f.matches(&|k| fields.iter().find(|(n, _)| *n == k).map(|(_, v)| (*v).to_owned()));
        assert_eq!(got, expected, "{filter} on {fields:?}");
    }

    #[test]
    fn common_forms() {
        let m = [("name", "churn-model"), ("run_id", "abc"), ("tags.team", "risk"), ("metrics.auc", "0.91")];
        check("name='churn-model'", &m, true);
        check("name = \"churn-model\"", &m, true);
        check("name LIKE '%churn%'", &m, true);
        check("name like 'churn%'", &m, true);
        check("name LIKE '%x%'", &m, false);
        check("name ILIKE '%CHURN%'", &m, true);
        check("run_id='abc' AND name != 'x'", &m, true);
        check("run_id IN ('x', 'abc')", &m, true);
        check("tags.team = 'risk'", &m, true);
        check("`tags`.`team` = 'risk'", &m, true);
        check("tags.`team` = 'risk'", &m, true);
        check("metrics.auc > 0.9", &m, true);
        check("metrics.auc <= 0.9", &m, false);
        check("attributes.run_id = 'abc'", &m, true);
        check("tags.missing = 'x'", &m, false);
        check("tags.missing != 'x'", &m, true);
        check("name LIKE 'churn%' AND tag.`mlflow.prompt.is_prompt` != 'true'", &m, true);
        check("tag.team = 'risk'", &m, true);
        check("", &m, true);
    }

    #[test]
    fn bad_filters_are_refused() {
        for bad in ["name", "name = ", "name = 'x", "name = 'x' OR name = 'y'", "name ~ 'x'", "run_id IN 'x'"] {
            assert!(parse(bad).is_err(), "{bad} was accepted");
        }
    }
}
