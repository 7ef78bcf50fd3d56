//! Data flow between states: InputPath, Parameters/Arguments, ResultSelector, ResultPath, OutputPath, Assign and templates, in JSONPath and JSONata.

use super::*;

/// What paths read: the state's (effective) input, the context object, the variables.
pub(crate) struct Data<'a> {
    pub(crate) input: &'a Value,
    pub(crate) ctx: &'a Value,
    pub(crate) vars: &'a Vars,
}

impl Data<'_> {
    pub(crate) fn pick(&self, p: &Path) -> Option<Value> {
        match &p.var {
            Some(v) => self.vars.get(v).and_then(|x| p.select(x)),
            None => p.select(if p.context { self.ctx } else { self.input }),
        }
    }

    pub(crate) fn select(&self, p: &Path) -> Result<Value, Failure> {
        self.pick(p).ok_or_else(|| match &p.var {
            Some(v) if !self.vars.contains_key(v) => Failure::runtime(format!(
                "Invalid path '{}': the variable ${v} is not defined",
                p.text
            )),
            _ => Failure::runtime(format!(
                "Invalid path '{}' : No results for path: {}",
                p.text, p.text
            )),
        })
    }
}

/// `$states` for JSONata: the state's input and the context object.
pub(crate) fn states(raw: &Value, ctx: &Value) -> Value {
    json!({"input": raw, "context": ctx})
}

pub(crate) fn query_error(message: impl Into<String>) -> Failure {
    Failure::new("States.QueryEvaluationError", message)
}

/// Evaluate a JSONata template with `$states` and the variables.
pub(crate) fn jeval(t: &JTemplate, states: &Value, vars: &Vars) -> Result<Value, Failure> {
    let mut scope = vars.clone();
    scope.insert("states".into(), states.clone());
    let input = &states["input"];
    fn walk(t: &JTemplate, input: &Value, scope: &Vars) -> Result<Option<Value>, Failure> {
        Ok(match t {
            JTemplate::Literal(v) => Some(v.clone()),
            JTemplate::Expr(e) => crate::jsonata::evaluate(e, input, scope).map_err(query_error)?,
            JTemplate::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for i in items {
                    out.extend(walk(i, input, scope)?);
                }
                Some(Value::Array(out))
            }
            JTemplate::Object(fields) => {
                let mut o = Map::new();
                for (k, t) in fields {
                    if let Some(v) = walk(t, input, scope)? {
                        o.insert(k.clone(), v);
                    }
                }
                Some(Value::Object(o))
            }
        })
    }
    walk(t, input, &scope)?.ok_or_else(|| query_error("The JSONata expression returned no value"))
}

/// `jeval` of an optional template, or `default` when there is none.
pub(crate) fn jeval_or(
    t: &Option<JTemplate>,
    states: &Value,
    vars: &Vars,
    default: &Value,
) -> Result<Value, Failure> {
    match t {
        Some(t) => jeval(t, states, vars),
        None => Ok(default.clone()),
    }
}

/// Evaluate `Assign` (every value against the variables as they were) and set the variables.
pub(crate) fn apply_assign(
    assign: &Option<Assign>,
    input: &Value,
    ctx: &Value,
    states: &Value,
    vars: &mut Vars,
) -> Result<(), Failure> {
    let Some(a) = assign else {
        return Ok(());
    };
    let values = match a {
        Assign::Path(t) => render(
            t,
            &Data {
                input,
                ctx,
                vars: &*vars,
            },
        )?,
        Assign::Jsonata(t) => jeval(t, states, vars)?,
    };
    if let Value::Object(o) = values {
        let total: usize = o.values().map(|v| v.to_string().len()).sum();
        if total > 256 * 1024 {
            return Err(Failure::new(
                "States.Runtime",
                "The variables assigned by a state may not exceed 256 KiB",
            ));
        }
        vars.extend(o);
    }
    Ok(())
}

pub(crate) fn select_input(
    state: &State,
    raw: &Value,
    ctx: &Value,
    vars: &Vars,
) -> Result<Value, Failure> {
    match &state.input_path {
        None => Ok(json!({})),
        Some(p) => Data {
            input: raw,
            ctx,
            vars,
        }
        .select(p),
    }
}

pub(crate) fn select_output(
    state: &State,
    v: Value,
    ctx: &Value,
    vars: &Vars,
) -> Result<Value, Failure> {
    match &state.output_path {
        None => Ok(json!({})),
        Some(p) => Data {
            input: &v,
            ctx,
            vars,
        }
        .select(p),
    }
}

/// ResultPath, then OutputPath.
pub(crate) fn finish(
    state: &State,
    raw: &Value,
    result: Value,
    ctx: &Value,
    vars: &Vars,
) -> Result<Value, Failure> {
    let merged = match &state.result_path {
        None => raw.clone(),
        Some(p) => {
            let mut out = raw.clone();
            p.set(&mut out, result)
                .map_err(|m| Failure::new("States.ResultPathMatchFailure", m))?;
            out
        }
    };
    select_output(state, merged, ctx, vars)
}

/// Evaluate a payload template against `input` and the context object.
pub fn render_template(t: &Template, input: &Value, ctx: &Value) -> Result<Value, Failure> {
    render(
        t,
        &Data {
            input,
            ctx,
            vars: &Vars::new(),
        },
    )
}

pub(crate) fn render(t: &Template, data: &Data) -> Result<Value, Failure> {
    Ok(match t {
        Template::Literal(v) => v.clone(),
        Template::Path(p) => data.select(p)?,
        Template::Call(c) => intrinsics::eval_with(c, &|p: &Path| data.pick(p))
            .map_err(|m| Failure::new("States.IntrinsicFailure", m))?,
        Template::Array(a) => Value::Array(
            a.iter()
                .map(|t| render(t, data))
                .collect::<Result<_, _>>()?,
        ),
        Template::Object(fields) => {
            let mut o = Map::new();
            for (k, t) in fields {
                o.insert(k.clone(), render(t, data)?);
            }
            Value::Object(o)
        }
    })
}
