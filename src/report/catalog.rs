//! Control catalogs: `report_templates/<framework>/controls.toml`, compiled in and overridable
//! with `--template-dir` (a copy of `report_templates/` edited by the user). Every problem is
//! reported with the file, line and key, before anything is read.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::checks::{self, Params};

/// Frameworks with a bundled catalog.
pub const FRAMEWORKS: &[(&str, &str)] = &[
    ("soc2", include_str!("../../report_templates/soc2/controls.toml")),
    ("iso27001", include_str!("../../report_templates/iso27001/controls.toml")),
    ("fedramp", include_str!("../../report_templates/fedramp/controls.toml")),
];

/// A check as a control names it, with its parameters.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct CheckRef {
    pub check: String,
    #[serde(flatten)]
    pub params: Params,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Control {
    pub id: String,
    pub title: String,
    pub objective: String,
    /// What counts as an exception, in words.
    pub exception: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    pub checks: Vec<CheckRef>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Catalog {
    pub framework: String,
    pub name: String,
    pub title: String,
    pub description: String,
    #[serde(rename = "control")]
    pub controls: Vec<Control>,
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CatalogError {
    #[error("unknown framework {0:?}; use one of soc2, iso27001, fedramp (or add report_templates/{0}/controls.toml to a --template-dir)")]
    UnknownFramework(String),
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
}

impl Catalog {
    /// The catalog of `framework`: from `template_dir` when it has one, else the bundled one.
    pub fn load(framework: &str, template_dir: Option<&Path>) -> Result<Catalog, CatalogError> {
        if let Some(dir) = template_dir {
            let path: PathBuf = dir.join(framework).join("controls.toml");
            if path.exists() {
                let text = std::fs::read_to_string(&path)
                    .map_err(|source| CatalogError::Io { path: path.display().to_string(), source })?;
                return Catalog::parse(&text, &path.display().to_string());
            }
        }
        let text = FRAMEWORKS
            .iter()
            .find(|(f, _)| *f == framework)
            .map(|(_, t)| *t)
            .ok_or_else(|| CatalogError::UnknownFramework(framework.to_string()))?;
        Catalog::parse(text, &format!("report_templates/{framework}/controls.toml (bundled)"))
    }

    /// Parse and validate a catalog's text; `path` names it in errors.
    pub fn parse(text: &str, path: &str) -> Result<Catalog, CatalogError> {
        let invalid = |message: String| CatalogError::Invalid { path: path.to_string(), message };
        let cat: Catalog = toml_edit::de::from_str(text).map_err(|e| invalid(e.to_string().trim_end().to_string()))?;
        let mut seen = std::collections::BTreeSet::new();
        for c in &cat.controls {
            if !seen.insert(&c.id) {
                return Err(invalid(format!("control {} is defined twice", c.id)));
            }
            if c.checks.is_empty() {
                return Err(invalid(format!("control {}: no checks (give checks = [{{ check = \"…\" }}])", c.id)));
            }
            for r in &c.checks {
                let Some(check) = checks::find(&r.check) else {
                    let names: Vec<&str> = checks::CHECKS.iter().map(|c| c.name()).collect();
                    return Err(invalid(format!(
                        "control {}: unknown check {:?}; use one of: {}",
                        c.id,
                        r.check,
                        names.join(", ")
                    )));
                };
                if let Some(k) = r.params.keys().find(|k| !check.params().contains(&k.as_str())) {
                    return Err(invalid(format!(
                        "control {}: check {} has no parameter {k:?} (it takes: {})",
                        c.id,
                        r.check,
                        if check.params().is_empty() { "none".to_string() } else { check.params().join(", ") }
                    )));
                }
            }
        }
        if cat.controls.is_empty() {
            return Err(invalid("no [[control]] entries".into()));
        }
        Ok(cat)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_catalogs_hold_the_required_controls() {
        let ids = |f: &str| -> Vec<String> {
            let c = Catalog::load(f, None).unwrap();
            c.controls.iter().flat_map(|c| std::iter::once(c.id.clone()).chain(c.aliases.clone())).collect()
        };
        let soc2 = ids("soc2");
        for id in ["CC6.1", "CC6.2", "CC6.3", "CC7.2", "CC7.3", "CC8.1"] {
            assert!(soc2.contains(&id.to_string()), "{id}");
        }
        let iso = ids("iso27001");
        for id in ["A.5.15", "A.5.28", "A.8.2", "A.8.15", "A.8.16", "A.8.32", "A.12.4.1", "A.12.4.4"] {
            assert!(iso.contains(&id.to_string()), "{id}");
        }
        let fedramp = ids("fedramp");
        for id in ["AU-2", "AU-3", "AU-3(1)", "AU-5", "AU-6", "AU-8", "AU-9", "AU-11", "AU-12", "AC-2(4)", "CM-3"] {
            assert!(fedramp.contains(&id.to_string()), "{id}");
        }
    }

    #[test]
    fn problems_name_the_file_line_and_key() {
        let base = "framework = \"x\"\nname = \"X\"\ntitle = \"t\"\ndescription = \"d\"\n";
        let unknown_key = format!("{base}[[control]]\nid = \"A\"\ntitle = \"t\"\nobjective = \"o\"\nexception = \"e\"\nchecks = [{{ check = \"timestamps\" }}]\ncolour = \"red\"\n");
        let e = Catalog::parse(&unknown_key, "my.toml").unwrap_err().to_string();
        assert!(e.starts_with("my.toml: ") && e.contains("colour") && e.contains("line 11"), "{e}");
        let bad_check = unknown_key.replace("\ncolour = \"red\"", "").replace("timestamps", "timestampz");
        let e = Catalog::parse(&bad_check, "my.toml").unwrap_err().to_string();
        assert!(e.contains("unknown check \"timestampz\"") && e.contains("timestamps"), "{e}");
        let bad_param =
            unknown_key.replace("\ncolour = \"red\"", "").replace("\"timestamps\" }", "\"retention\", dayz = 3 }");
        let e = Catalog::parse(&bad_param, "my.toml").unwrap_err().to_string();
        assert_eq!(e, "my.toml: control A: check retention has no parameter \"dayz\" (it takes: days)");
        assert!(matches!(Catalog::load("pci", None), Err(CatalogError::UnknownFramework(_))));
    }
}
