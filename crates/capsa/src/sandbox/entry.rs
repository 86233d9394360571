//! The entry points of core modules and runtime components (`docs/abi.md` §2): an entry checked
//! against the module's exports before any sandbox exists ([`Prepared`]), and the calls of
//! exported functions with numbers or strings.

use capsa_wire::protocol::RUN_EXPORT;
use serde_json::Value;
use wasmtime::{FuncType, Store, Val, ValType};

use super::http_proxy::IncomingRequest;
use crate::call::{Entry, FunctionArgs};
use crate::error::{Error, ErrorCode, Result};
use crate::host::SandboxState;
use crate::module::Module;
use crate::outcome::abi_misuse;

/// The entry point, checked against the module's exports before any sandbox exists.
pub(crate) enum Prepared {
    Start,
    Numbers {
        name: String,
        params: Vec<Val>,
    },
    Strings {
        name: String,
        args: Vec<String>,
        returns_string: bool,
    },
    /// A `wasi:http` component's handler, called with this request.
    Http(IncomingRequest),
}

impl Prepared {
    /// A call of a language runtime's `run` export with one protocol request
    /// (`capsa_wire::protocol`). The runtime is capsa's own, so there is nothing to check first.
    pub(crate) fn runtime(request: String) -> Prepared {
        Prepared::Strings {
            name: RUN_EXPORT.to_owned(),
            args: vec![request],
            returns_string: true,
        }
    }
}

/// Checks the entry point against the module's exports and converts the arguments.
pub(crate) fn prepare(module: &Module, entry: &Entry) -> Result<Prepared> {
    if module.is_http_proxy() {
        return Err(Error::invalid_input(
            "a wasi:http component is called as a handler (`--handler` / the gateway)",
        ));
    }
    if module.is_runtime_component() {
        return prepare_runtime(entry);
    }
    let (name, args) = match entry {
        Entry::Start => {
            return if module.is_command() {
                Ok(Prepared::Start)
            } else {
                let names = module.function_names();
                Err(Error::invalid_input(if names.is_empty() {
                    "module has no `_start` and exports no function: there is nothing to run"
                        .to_owned()
                } else {
                    format!(
                        "module has no `_start`; call one of its functions instead: {}",
                        names.join(", ")
                    )
                }))
            };
        }
        Entry::Function { name, args } => (name, args),
    };
    let ty = module.function_type(name).ok_or_else(|| {
        Error::new(
            ErrorCode::NotFound,
            format!(
                "module exports no function `{name}`; it has: {}",
                module.function_names().join(", ")
            ),
        )
    })?;
    match args {
        FunctionArgs::Numbers(args) => prepare_numbers(name, ty, args),
        FunctionArgs::Strings(args) => prepare_strings(module, name, ty, args),
    }
}

/// Components are capsa's own runtimes, called through one `string -> string` export; its type is
/// checked when it is called.
fn prepare_runtime(entry: &Entry) -> Result<Prepared> {
    match entry {
        Entry::Function {
            name,
            args: FunctionArgs::Strings(args),
        } if args.len() == 1 => Ok(Prepared::Strings {
            name: name.clone(),
            args: args.clone(),
            returns_string: true,
        }),
        _ => Err(Error::invalid_input(
            "a component is called through one string export",
        )),
    }
}

/// Numbers converted to the parameter types of `name`'s `ty`.
fn prepare_numbers(name: &str, ty: &FuncType, args: &[String]) -> Result<Prepared> {
    let params: Vec<ValType> = ty.params().collect();
    if args.len() != params.len() {
        return Err(Error::invalid_input(format!(
            "function `{name}` takes {} arguments, got {}",
            params.len(),
            args.len()
        )));
    }
    let params = params
        .iter()
        .zip(args)
        .map(|(ty, arg)| parse_number(ty, arg))
        .collect::<Result<_>>()?;
    Ok(Prepared::Numbers {
        name: name.to_owned(),
        params,
    })
}

/// Strings passed as `(ptr, len)` pairs through the module's `alloc` (docs/abi.md §2).
fn prepare_strings(
    module: &Module,
    name: &str,
    ty: &FuncType,
    args: &[String],
) -> Result<Prepared> {
    let params: Vec<ValType> = ty.params().collect();
    let pairs_ok =
        params.len() == 2 * args.len() && params.iter().all(|t| matches!(t, ValType::I32));
    let results: Vec<ValType> = ty.results().collect();
    let returns_string = match results.as_slice() {
        [] => false,
        [ValType::I64] => true,
        _ => {
            return Err(Error::invalid_input(format!(
                "function `{name}` does not return a string: expected no result or an i64 `ptr << 32 | len`"
            )));
        }
    };
    if !pairs_ok {
        return Err(Error::invalid_input(format!(
            "function `{name}` does not take {} string arguments: expected {} i32 parameters (ptr, len per string)",
            args.len(),
            2 * args.len()
        )));
    }
    if module.function_type("alloc").is_none() {
        return Err(Error::invalid_input(
            "string arguments need the module to export `alloc(len: i32) -> i32` (see docs/abi.md)",
        ));
    }
    Ok(Prepared::Strings {
        name: name.to_owned(),
        args: args.to_vec(),
        returns_string,
    })
}

fn parse_number(ty: &ValType, arg: &str) -> Result<Val> {
    let bad = |what: &str| Error::invalid_input(format!("argument `{arg}` is not {what}"));
    let float = |arg: &str| -> Option<f64> {
        match arg.to_ascii_lowercase().as_str() {
            "nan" => Some(f64::NAN),
            "inf" | "+inf" => Some(f64::INFINITY),
            "-inf" => Some(f64::NEG_INFINITY),
            other => other.parse().ok(),
        }
    };
    Ok(match ty {
        ValType::I32 => Val::I32(
            arg.parse::<i32>()
                .or_else(|_| arg.parse::<u32>().map(|u| u as i32))
                .map_err(|_| bad("an i32"))?,
        ),
        ValType::I64 => Val::I64(
            arg.parse::<i64>()
                .or_else(|_| arg.parse::<u64>().map(|u| u as i64))
                .map_err(|_| bad("an i64"))?,
        ),
        ValType::F32 => Val::F32((float(arg).ok_or_else(|| bad("an f32"))? as f32).to_bits()),
        ValType::F64 => Val::F64(float(arg).ok_or_else(|| bad("an f64"))?.to_bits()),
        other => {
            return Err(Error::invalid_input(format!(
                "parameters of type `{other}` cannot be passed from the command line"
            )));
        }
    })
}

pub(super) fn number_json(val: &Val) -> Value {
    let float = |f: f64| {
        serde_json::Number::from_f64(f).map_or_else(|| Value::String(f.to_string()), Value::Number)
    };
    match val {
        Val::I32(v) => Value::from(*v),
        Val::I64(v) => Value::from(*v),
        Val::F32(bits) => float(f64::from(f32::from_bits(*bits))),
        Val::F64(bits) => float(f64::from_bits(*bits)),
        other => Value::String(format!("{other:?}")),
    }
}

/// Calls a component's `string -> string` export (capsa's runtimes).
pub(super) async fn call_component(
    store: &mut Store<SandboxState>,
    instance: &wasmtime::component::Instance,
    prepared: &Prepared,
) -> wasmtime::Result<Option<Value>> {
    let Prepared::Strings { name, args, .. } = prepared else {
        return Err(abi_misuse(
            "a component is called through one string export",
        ));
    };
    let [arg] = args.as_slice() else {
        return Err(abi_misuse("a component export takes one string"));
    };
    let func = instance
        .get_typed_func::<(&str,), (String,)>(&mut *store, name.as_str())
        .map_err(|e| abi_misuse(format!("component export `{name}`: {e:#}")))?;
    let (answer,) = func.call_async(&mut *store, (arg.as_str(),)).await?;
    Ok(Some(Value::String(answer)))
}

pub(super) async fn call_with_strings(
    store: &mut Store<SandboxState>,
    instance: &wasmtime::Instance,
    name: &str,
    args: &[String],
    returns_string: bool,
) -> wasmtime::Result<Option<Value>> {
    let memory = instance
        .get_memory(&mut *store, "memory")
        .ok_or_else(|| abi_misuse("string arguments need the module to export `memory`"))?;
    let alloc = instance
        .get_typed_func::<u32, u32>(&mut *store, "alloc")
        .map_err(|e| abi_misuse(format!("`alloc` must be `(i32) -> i32`: {e:#}")))?;
    let dealloc = match instance.get_export(&mut *store, "dealloc") {
        None => None,
        Some(_) => Some(
            instance
                .get_typed_func::<(u32, u32), ()>(&mut *store, "dealloc")
                .map_err(|e| abi_misuse(format!("`dealloc` must be `(i32, i32)`: {e:#}")))?,
        ),
    };
    let mut params = Vec::with_capacity(args.len() * 2);
    for arg in args {
        let len = u32::try_from(arg.len())
            .map_err(|_| wasmtime::format_err!("string argument is larger than 4 GiB"))?;
        let ptr = alloc.call_async(&mut *store, len).await?;
        memory
            .write(&mut *store, ptr as usize, arg.as_bytes())
            .map_err(|_| abi_misuse("`alloc` returned a pointer outside memory"))?;
        params.push(Val::I32(ptr as i32));
        params.push(Val::I32(len as i32));
    }
    let func = instance
        .get_func(&mut *store, name)
        .ok_or_else(|| wasmtime::format_err!("export `{name}` vanished"))?;
    let mut results = vec![Val::I32(0); usize::from(returns_string)];
    func.call_async(&mut *store, &params, &mut results).await?;
    let Some(Val::I64(packed)) = results.first() else {
        return Ok(None);
    };
    let (ptr, len) = ((*packed as u64 >> 32) as u32, *packed as u32);
    // Bounds-check before copying: the length is the guest's word, up to 4 GiB.
    let start = ptr as usize;
    let text = memory
        .data(&*store)
        .get(start..start.saturating_add(len as usize))
        .map(|bytes| String::from_utf8_lossy(bytes).into_owned())
        .ok_or_else(|| {
            abi_misuse(format!(
                "function `{name}` returned a string outside memory"
            ))
        })?;
    if let Some(dealloc) = dealloc {
        dealloc.call_async(&mut *store, (ptr, len)).await?;
    }
    Ok(Some(Value::String(text)))
}
