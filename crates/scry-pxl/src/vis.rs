//! Pixie's `vis.json`, the part that says what to run: the script's
//! variables (its arguments, with defaults) and the functions its widgets
//! call with them. Layout and chart specs are the UI's business and are
//! carried, not read.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value as Json;

use scry_query::wire::ExecFunc;

use crate::error::{PxlError, Result};

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Vis {
    #[serde(default)]
    pub variables: Vec<Variable>,
    #[serde(default)]
    pub global_funcs: Vec<GlobalFunc>,
    #[serde(default)]
    pub widgets: Vec<Widget>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Variable {
    pub name: String,
    #[serde(rename = "type", default)]
    pub ty: String,
    #[serde(default)]
    pub default_value: Option<String>,
    #[serde(default)]
    pub description: String,
    /// The values a UI may offer; not enforced here.
    #[serde(default)]
    pub valid_values: Vec<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GlobalFunc {
    pub output_name: String,
    pub func: Func,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Widget {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub func: Option<Func>,
    #[serde(default)]
    pub global_func_output_name: Option<String>,
    #[serde(default)]
    pub display_spec: Option<Json>,
    #[serde(default)]
    pub position: Option<Json>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Func {
    pub name: String,
    #[serde(default)]
    pub args: Vec<FuncArg>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FuncArg {
    pub name: String,
    #[serde(default)]
    pub value: Option<String>,
    #[serde(default)]
    pub variable: Option<String>,
}

impl Vis {
    pub fn parse(json: &str) -> Result<Vis> {
        serde_json::from_str(json).map_err(|e| PxlError::script(format!("bad vis spec: {e}")))
    }

    /// The functions to run for these argument values: one per global func
    /// and one per widget with its own func, named as Pixie's CLI names its
    /// tables (the output or widget name).
    pub fn exec_funcs(&self, given: &[(String, String)]) -> Result<Vec<ExecFunc>> {
        for (name, _) in given {
            if !self.variables.iter().any(|v| &v.name == name) {
                let known: Vec<&str> = self.variables.iter().map(|v| v.name.as_str()).collect();
                let known = if known.is_empty() { "none".to_owned() } else { known.join(", ") };
                return Err(PxlError::script(format!("unknown script argument `--{name}`; arguments: {known}")));
            }
        }
        let mut values = BTreeMap::new();
        for v in &self.variables {
            let value = given.iter().rev().find(|(n, _)| n == &v.name).map(|(_, x)| x.clone());
            match value.or_else(|| v.default_value.clone()) {
                Some(x) => values.insert(v.name.clone(), x),
                None => return Err(PxlError::script(format!("the script needs `--{}`: {}", v.name, v.description))),
            };
        }
        let call = |func: &Func, output_name: &str| -> Result<ExecFunc> {
            let mut args = BTreeMap::new();
            for a in &func.args {
                let value = match (&a.value, &a.variable) {
                    (Some(v), _) => v.clone(),
                    (None, Some(var)) => values
                        .get(var)
                        .cloned()
                        .ok_or_else(|| PxlError::script(format!("`{}` uses undeclared variable `{var}`", func.name)))?,
                    (None, None) => {
                        return Err(PxlError::script(format!("`{}` argument `{}` has no value", func.name, a.name)));
                    }
                };
                args.insert(a.name.clone(), value);
            }
            Ok(ExecFunc { func: func.name.clone(), output_name: output_name.to_owned(), args })
        };
        let globals = self.global_funcs.iter().map(|g| call(&g.func, &g.output_name));
        let widgets = self.widgets.iter().filter_map(|w| w.func.as_ref().map(|f| call(f, &w.name)));
        globals.chain(widgets).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VIS: &str = r#"{
      "variables": [
        {"name": "start_time", "type": "PX_STRING", "defaultValue": "-5m", "description": "window"},
        {"name": "namespace", "type": "PX_NAMESPACE", "description": "namespace to show"}
      ],
      "globalFuncs": [{"outputName": "stats", "func": {"name": "stats", "args": [{"name": "start_time", "variable": "start_time"}]}}],
      "widgets": [
        {"name": "Table", "position": {"x": 0}, "func": {"name": "procs", "args": [
          {"name": "start_time", "variable": "start_time"}, {"name": "ns", "variable": "namespace"}, {"name": "n", "value": "3"}]},
         "displaySpec": {"@type": "types.px.dev/px.vispb.Table"}},
        {"name": "Chart", "globalFuncOutputName": "stats"}
      ]
    }"#;

    #[test]
    fn variables_bind_defaults_and_given_values() {
        let vis = Vis::parse(VIS).unwrap();
        let funcs = vis.exec_funcs(&[("namespace".into(), "default".into())]).unwrap();
        assert_eq!(funcs.len(), 2);
        assert_eq!((funcs[0].func.as_str(), funcs[0].output_name.as_str()), ("stats", "stats"));
        assert_eq!(funcs[0].args["start_time"], "-5m");
        assert_eq!((funcs[1].func.as_str(), funcs[1].output_name.as_str()), ("procs", "Table"));
        assert_eq!(funcs[1].args["ns"], "default");
        assert_eq!(funcs[1].args["n"], "3");
        let funcs = vis.exec_funcs(&[("namespace".into(), "x".into()), ("start_time".into(), "-1h".into())]).unwrap();
        assert_eq!(funcs[1].args["start_time"], "-1h");
    }

    #[test]
    fn unknown_and_missing_arguments_are_named() {
        let vis = Vis::parse(VIS).unwrap();
        let e = vis.exec_funcs(&[("nmespace".into(), "x".into())]).unwrap_err();
        assert_eq!(e.to_string(), "unknown script argument `--nmespace`; arguments: start_time, namespace");
        let e = vis.exec_funcs(&[]).unwrap_err();
        assert_eq!(e.to_string(), "the script needs `--namespace`: namespace to show");
        let e = Vis::parse(r#"{"variables": [], "widgtes": []}"#).unwrap_err();
        assert!(e.to_string().starts_with("bad vis spec: unknown field `widgtes`"), "{e}");
    }
}
