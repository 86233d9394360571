//! The plugins directory: every `.wasm`/`.wat` file in it is a plugin named after the file, compiled
//! when the gateway starts and served at `POST /execute/{plugin}?func=NAME`. A background task looks
//! at the directory every second and compiles new or changed files, and drops deleted ones, without a
//! restart. A file that does not compile is logged and skipped; the previous version keeps serving.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock, Weak};
use std::time::{Duration, SystemTime};

use capsa::Language;

use crate::error::ApiError;
use crate::function::Function;
use crate::gateway::Gateway;

/// How often the directory is looked at.
const POLL: Duration = Duration::from_secs(1);

/// A plugin file as last seen.
#[derive(Clone, PartialEq, Eq)]
struct Seen {
    modified: Option<SystemTime>,
    len: u64,
}

struct Plugin {
    /// The file as last looked at, compiled or not: an unchanged file is not compiled again.
    seen: Seen,
    /// The last version that compiled; `None` when none has.
    function: Option<Arc<Function>>,
}

/// The plugins of one directory.
pub struct Plugins {
    dir: PathBuf,
    loaded: Arc<RwLock<HashMap<String, Plugin>>>,
}

impl Plugins {
    /// Compiles every plugin in `dir`.
    ///
    /// # Errors
    ///
    /// `invalid_input` when `dir` is not a readable directory. Plugins that do not compile are
    /// skipped with a warning.
    pub async fn open(dir: PathBuf, gateway: &Gateway) -> Result<Plugins, ApiError> {
        if !dir.is_dir() {
            return Err(ApiError::invalid_input(format!(
                "plugins directory `{}` does not exist",
                dir.display()
            )));
        }
        let plugins = Plugins {
            dir,
            loaded: Arc::new(RwLock::new(HashMap::new())),
        };
        rescan(&plugins.dir, &plugins.loaded, gateway).await;
        Ok(plugins)
    }

    /// Starts watching the directory; stops when the gateway is gone.
    pub fn watch(gateway: &Arc<Gateway>) {
        let weak: Weak<Gateway> = Arc::downgrade(gateway);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(POLL).await;
                let Some(gateway) = weak.upgrade() else {
                    return;
                };
                if let Some(plugins) = &gateway.plugins {
                    rescan(&plugins.dir, &plugins.loaded, &gateway).await;
                }
            }
        });
    }

    /// The plugin called `name`.
    pub fn get(&self, name: &str) -> Option<Arc<Function>> {
        let loaded = self.loaded.read().unwrap_or_else(|p| p.into_inner());
        loaded.get(name).and_then(|p| p.function.clone())
    }

    /// The names of the loaded plugins, sorted.
    pub fn names(&self) -> Vec<String> {
        let loaded = self.loaded.read().unwrap_or_else(|p| p.into_inner());
        let mut names: Vec<String> = loaded
            .iter()
            .filter(|(_, p)| p.function.is_some())
            .map(|(name, _)| name.clone())
            .collect();
        names.sort();
        names
    }
}

/// The plugin name of a file: its stem, when the file is `.wasm`/`.wat` and the stem is a valid
/// function name.
fn plugin_name(path: &Path) -> Option<String> {
    let ext = path.extension()?.to_str()?;
    if ext != "wasm" && ext != "wat" {
        return None;
    }
    let stem = path.file_stem()?.to_str()?;
    stem.parse::<capsa_store::FunctionName>()
        .ok()
        .map(|n| n.to_string())
}

async fn rescan(dir: &Path, loaded: &RwLock<HashMap<String, Plugin>>, gateway: &Gateway) {
    let mut present: HashMap<String, (PathBuf, Seen)> = HashMap::new();
    match std::fs::read_dir(dir) {
        Ok(entries) => {
            for entry in entries.flatten() {
                let path = entry.path();
                let (Some(name), Ok(meta)) = (plugin_name(&path), entry.metadata()) else {
                    continue;
                };
                if meta.is_file() {
                    let seen = Seen {
                        modified: meta.modified().ok(),
                        len: meta.len(),
                    };
                    present.insert(name, (path, seen));
                }
            }
        }
        Err(e) => {
            tracing::warn!(dir = %dir.display(), error = %e, "cannot read the plugins directory");
            return;
        }
    }
    let stale: Vec<(String, PathBuf, Seen)> = {
        let current = loaded.read().unwrap_or_else(|p| p.into_inner());
        present
            .iter()
            .filter(|(name, (_, seen))| current.get(*name).is_none_or(|p| p.seen != *seen))
            .map(|(name, (path, seen))| (name.clone(), path.clone(), seen.clone()))
            .collect()
    };
    for (name, path, seen) in stale {
        let code = match std::fs::read(&path) {
            Ok(code) => code,
            Err(e) => {
                tracing::warn!(plugin = %name, error = %e, "cannot read plugin");
                continue;
            }
        };
        let file = path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        match gateway
            .programs
            .get(&gateway.engine, Language::Wasm, &file, code.into())
            .await
        {
            Ok(program) => {
                let function = Arc::new(Function {
                    label: format!("plugin:{name}"),
                    version: None,
                    program,
                    limits: gateway.base_limits.clone(),
                    grants: capsa::Grants::new(),
                });
                tracing::info!(plugin = %name, "plugin loaded");
                loaded.write().unwrap_or_else(|p| p.into_inner()).insert(
                    name,
                    Plugin {
                        seen,
                        function: Some(function),
                    },
                );
            }
            Err(e) => {
                // Remembered, so the same broken file is not compiled (and reported) every second;
                // a previous version that compiled keeps serving.
                tracing::warn!(plugin = %name, error = %e.message, "plugin does not compile; not loaded");
                let mut loaded = loaded.write().unwrap_or_else(|p| p.into_inner());
                let plugin = loaded.entry(name).or_insert(Plugin {
                    seen: seen.clone(),
                    function: None,
                });
                plugin.seen = seen;
            }
        }
    }
    let mut current = loaded.write().unwrap_or_else(|p| p.into_inner());
    current.retain(|name, _| {
        let keep = present.contains_key(name);
        if !keep {
            tracing::info!(plugin = %name, "plugin removed");
        }
        keep
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugin_names_come_from_valid_stems() {
        assert_eq!(
            plugin_name(Path::new("/p/count.wasm")).as_deref(),
            Some("count")
        );
        assert_eq!(
            plugin_name(Path::new("/p/count.wat")).as_deref(),
            Some("count")
        );
        assert_eq!(plugin_name(Path::new("/p/count.js")), None);
        assert_eq!(plugin_name(Path::new("/p/Bad Name.wasm")), None);
        assert_eq!(plugin_name(Path::new("/p/.wasm")), None);
    }
}
