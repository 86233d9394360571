//! capsa's JavaScript runtime: QuickJS-ng (through rquickjs) as a wasm32-wasip1 module.
//!
//! The host pre-initialises it with wizer (`wizer-initialize` builds the runtime, the context and the
//! prelude), so a sandbox starts with JavaScript ready. Each call passes one JSON request to `run` and
//! gets one JSON answer back; `docs/javascript.md` describes what scripts see, and the host side lives
//! in `crates/capsa/src/lang/js.rs`.
//!
//! Requests and answers are the typed protocol of `capsa_wire::protocol`, the very types the host
//! writes and reads.

use std::cell::{Cell, RefCell};
use std::ffi::CString;
use std::io::Write as _;

use capsa_wire::protocol::{Answer, Op, Rejections, Request, Thrown};
use rquickjs::function::{Func, Opt};
use rquickjs::promise::PromiseState;
use rquickjs::{
    Context, Ctx, Function, Module, Object, Persistent, Runtime, TypedArray, Value, qjs,
};
use serde_json::{Value as Json, json};

capsa_guest::export_alloc!();

const PRELUDE: &str = include_str!("prelude.js");
const PRELUDE_FILE: &str = "capsa:prelude";

/// How much of the room left under the sandbox's memory limit QuickJS's own allocator may take: the
/// rest is for the allocator's overhead and for reporting the failure cleanly.
const HEAP_SHARE_PERCENT: u64 = 90;

struct State {
    runtime: Runtime,
    context: Context,
    api: Persistent<Object<'static>>,
}

thread_local! {
    static STATE: RefCell<Option<State>> = const { RefCell::new(None) };
    static TRACKER: RefCell<Option<Persistent<Function<'static>>>> = const { RefCell::new(None) };
    static RANDOM: Cell<u64> = const { Cell::new(0x9e37_79b9_7f4a_7c15) };
    /// Linear memory that is not QuickJS's heap (the shadow stack, static data, allocator slack), as
    /// measured when the runtime was pre-initialised.
    static FIXED_BYTES: Cell<u64> = const { Cell::new(0) };
    /// The request's source failed to parse (set where it is compiled, read when the failure is
    /// reported).
    static PARSE_FAILED: Cell<bool> = const { Cell::new(false) };
}

/// A failure to compile the request's own source: reported with `syntax` set.
fn parse_failed<'js>(ctx: &Ctx<'js>, error: rquickjs::Error) -> Value<'js> {
    PARSE_FAILED.with(|p| p.set(true));
    caught(ctx, error)
}

#[link(wasm_import_module = "wasi_snapshot_preview1")]
unsafe extern "C" {
    #[link_name = "random_get"]
    fn wasi_random_get(buf: *mut u8, len: usize) -> u16;
}

fn random_bytes(buf: &mut [u8]) {
    // SAFETY: `buf` is valid for writes of its length.
    let errno = unsafe { wasi_random_get(buf.as_mut_ptr(), buf.len()) };
    if errno != 0 {
        // No randomness from the host: never hand out predictable "random" bytes.
        std::process::abort();
    }
}

/// Runs once, at build time, under wizer: everything made here is in the snapshot.
#[unsafe(export_name = "wizer-initialize")]
pub extern "C" fn initialize() {
    let runtime = Runtime::new().expect("QuickJS runtime");
    let context = Context::full(&runtime).expect("QuickJS context");
    let api = context.with(|ctx| {
        let native = native_functions(&ctx).expect("native functions");
        let prelude: Function =
            eval_raw(&ctx, PRELUDE, PRELUDE_FILE, qjs::JS_EVAL_TYPE_GLOBAL as i32)
                .and_then(|v| v.get())
                .expect("prelude evaluates to a function");
        let api: Object = prelude.call((native,)).expect("prelude runs");
        let track: Function = api.get("trackRejection").expect("trackRejection");
        TRACKER.with(|t| *t.borrow_mut() = Some(Persistent::save(&ctx, track)));
        Persistent::save(&ctx, api)
    });
    runtime.set_host_promise_rejection_tracker(Some(Box::new(|ctx, promise, reason, handled| {
        let track = TRACKER.with(|t| t.borrow().clone());
        if let Some(track) = track.and_then(|t| t.restore(&ctx).ok()) {
            let _ = track.call::<_, ()>((promise, reason, handled));
        }
    })));
    let memory = core::arch::wasm32::memory_size(0) as u64 * 65536;
    let heap = u64::try_from(runtime.memory_usage().malloc_size).unwrap_or(0);
    FIXED_BYTES.with(|f| f.set(memory.saturating_sub(heap)));
    STATE.with(|s| {
        *s.borrow_mut() = Some(State {
            runtime,
            context,
            api,
        })
    });
}

fn native_functions<'js>(ctx: &Ctx<'js>) -> rquickjs::Result<Object<'js>> {
    let native = Object::new(ctx.clone())?;
    native.set(
        "call",
        Func::from(|name: String, args: String| -> String {
            answer(capsa_guest::start_raw(&name, args.as_bytes()))
        }),
    )?;
    native.set(
        "start",
        Func::from(|name: String, args: String| -> u32 {
            capsa_guest::start_raw(&name, args.as_bytes()).into_handle()
        }),
    )?;
    native.set(
        "wait",
        Func::from(|handle: u32| -> String { answer(capsa_guest::Pending::from_handle(handle)) }),
    )?;
    native.set(
        "write",
        Func::from(|fd: i32, text: String| {
            // A write past the output cap ends the call on the host side; nothing to do here.
            let _ = if fd == 2 {
                std::io::stderr().write_all(text.as_bytes())
            } else {
                std::io::stdout().write_all(text.as_bytes())
            };
        }),
    )?;
    native.set(
        "env",
        Func::from(|ctx: Ctx<'js>| -> rquickjs::Result<Object<'js>> {
            // Only what the call granted: capsa gives the sandbox no other variables.
            let env = Object::new(ctx)?;
            for (key, value) in std::env::vars() {
                env.set(key, value)?;
            }
            Ok(env)
        }),
    )?;
    // Installed as `Math.random` itself, so it carries the name a native `Math.random` has.
    native.set(
        "random",
        Function::new(ctx.clone(), || -> f64 {
            // xorshift64*, seeded from the host's randomness at the start of every call.
            RANDOM.with(|state| {
                let mut x = state.get();
                x ^= x >> 12;
                x ^= x << 25;
                x ^= x >> 27;
                state.set(x);
                (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
            })
        })?
        .with_name("random")?,
    )?;
    native.set(
        "fillRandom",
        Func::from(
            |ctx: Ctx<'js>, len: u32| -> rquickjs::Result<TypedArray<'js, u8>> {
                let mut buf = vec![0u8; len as usize];
                random_bytes(&mut buf);
                TypedArray::new(ctx, buf)
            },
        ),
    )?;
    native.set(
        "base64Encode",
        Func::from(|bytes: TypedArray<'js, u8>| -> String {
            capsa_guest::base64_encode(bytes.as_bytes().unwrap_or_default())
        }),
    )?;
    native.set(
        "base64Decode",
        Func::from(
            |ctx: Ctx<'js>, text: String| -> rquickjs::Result<TypedArray<'js, u8>> {
                match capsa_guest::base64_decode(&text) {
                    Some(bytes) => TypedArray::new(ctx, bytes),
                    None => Err(rquickjs::Exception::throw_type(&ctx, "invalid base64")),
                }
            },
        ),
    )?;
    native.set(
        "utf8Decode",
        Func::from(
            |ctx: Ctx<'js>,
             bytes: TypedArray<'js, u8>,
             fatal: Opt<bool>|
             -> rquickjs::Result<String> {
                let bytes = bytes.as_bytes().unwrap_or_default();
                match std::str::from_utf8(bytes) {
                    Ok(text) => Ok(text.to_owned()),
                    Err(_) if fatal.0 == Some(true) => Err(rquickjs::Exception::throw_type(
                        &ctx,
                        "the encoded data was not valid utf-8",
                    )),
                    Err(_) => Ok(String::from_utf8_lossy(bytes).into_owned()),
                }
            },
        ),
    )?;
    native.set(
        "urlParse",
        Func::from(
            |ctx: Ctx<'js>, input: String, base: Opt<String>| -> rquickjs::Result<String> {
                let parsed = match base.0 {
                    None => url::Url::parse(&input),
                    Some(base) => url::Url::parse(&base).and_then(|b| b.join(&input)),
                };
                match parsed {
                    Ok(url) => Ok(url_parts(&url)),
                    Err(e) => Err(rquickjs::Exception::throw_type(
                        &ctx,
                        &format!("Invalid URL: {e}"),
                    )),
                }
            },
        ),
    )?;
    native.set(
        "urlSet",
        Func::from(
            |ctx: Ctx<'js>,
             href: String,
             part: String,
             value: String|
             -> rquickjs::Result<String> {
                let invalid = |e: &dyn std::fmt::Display| {
                    rquickjs::Exception::throw_type(&ctx, &format!("Invalid URL: {e}"))
                };
                let mut url = url::Url::parse(&href).map_err(|e| invalid(&e))?;
                use url::quirks;
                // As the URL standard's setters: an invalid value leaves the URL as it was,
                // except for `href`, which throws.
                // Refused values leave the URL as it was, as the standard's setters do.
                let _: Result<(), ()> = match part.as_str() {
                    "href" => {
                        quirks::set_href(&mut url, &value).map_err(|e| invalid(&e))?;
                        Ok(())
                    }
                    "protocol" => quirks::set_protocol(&mut url, &value),
                    "username" => quirks::set_username(&mut url, &value),
                    "password" => quirks::set_password(&mut url, &value),
                    "host" => quirks::set_host(&mut url, &value),
                    "hostname" => quirks::set_hostname(&mut url, &value),
                    "port" => quirks::set_port(&mut url, &value),
                    "pathname" => {
                        quirks::set_pathname(&mut url, &value);
                        Ok(())
                    }
                    "search" => {
                        quirks::set_search(&mut url, &value);
                        Ok(())
                    }
                    "hash" => {
                        quirks::set_hash(&mut url, &value);
                        Ok(())
                    }
                    _ => return Err(invalid(&format!("no URL part `{part}`"))),
                };
                Ok(url_parts(&url))
            },
        ),
    )?;
    native.set(
        "utf8Encode",
        Func::from(
            |ctx: Ctx<'js>, text: String| -> rquickjs::Result<TypedArray<'js, u8>> {
                TypedArray::new(ctx, text.into_bytes())
            },
        ),
    )?;
    Ok(native)
}

/// A URL's parts as the URL standard's getters give them, as JSON for the prelude's `URL`.
fn url_parts(url: &url::Url) -> String {
    use url::quirks;
    json!({
        "href": quirks::href(url),
        "origin": quirks::origin(url),
        "protocol": quirks::protocol(url),
        "username": quirks::username(url),
        "password": quirks::password(url),
        "host": quirks::host(url),
        "hostname": quirks::hostname(url),
        "port": quirks::port(url),
        "pathname": quirks::pathname(url),
        "search": quirks::search(url),
        "hash": quirks::hash(url),
    })
    .to_string()
}

/// A finished host call as the prelude reads it: `0` or `1`, then the JSON result or error.
fn answer(pending: capsa_guest::Pending) -> String {
    match pending.wait_raw() {
        Ok(bytes) => format!("0{}", String::from_utf8_lossy(&bytes)),
        Err(e) => format!("1{}", json!({"code": e.code, "message": e.message})),
    }
}

/// Runs one request. The host writes it with `alloc`; the answer goes back with `return_string`.
///
/// # Safety
///
/// `ptr` and `len` must describe a buffer the host filled through `alloc`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn run(ptr: *mut u8, len: u32) -> i64 {
    // SAFETY: guaranteed by the caller; `alloc` reserved exactly `len` bytes.
    let input = unsafe { Vec::from_raw_parts(ptr, len as usize, len as usize) };
    let answer = match serde_json::from_slice::<Request>(&input) {
        Ok(request) => execute(&request),
        Err(e) => failure(
            "invalid_input",
            "Error",
            &format!("bad runtime request: {e}"),
        ),
    };
    drop(input);
    capsa_guest::return_string(serde_json::to_string(&answer).unwrap_or_default())
}

fn failure(code: &str, name: &str, message: &str) -> Answer {
    Answer {
        code: Some(code.to_owned()),
        error: Some(Thrown {
            name: name.to_owned(),
            message: message.to_owned(),
            ..Thrown::default()
        }),
        ..Answer::default()
    }
}

fn execute(request: &Request) -> Answer {
    PARSE_FAILED.with(|p| p.set(false));
    let mut seed = [0u8; 8];
    random_bytes(&mut seed);
    RANDOM.with(|r| r.set(u64::from_le_bytes(seed) | 1));

    STATE.with(|state| {
        let state = state.borrow();
        let Some(state) = state.as_ref() else {
            return failure(
                "internal",
                "Error",
                "the JavaScript runtime was not pre-initialised",
            );
        };
        if let Some(limit) = request.memory_limit {
            // QuickJS's share of what the limit leaves beside the runtime's fixed part. (Asking
            // QuickJS for its current usage would walk the whole heap on every call.)
            // (At least 1: QuickJS reads 0 as no limit.)
            let heap = (limit.saturating_sub(FIXED_BYTES.with(Cell::get)) / 100
                * HEAP_SHARE_PERCENT)
                .max(1);
            state
                .runtime
                .set_memory_limit(usize::try_from(heap).unwrap_or(usize::MAX));
        }
        state.context.with(|ctx| {
            let api = match state.api.clone().restore(&ctx) {
                Ok(api) => api,
                Err(e) => return failure("internal", "Error", &e.to_string()),
            };
            forget(&api);
            match operate(&ctx, &api, &request.op) {
                Ok(done) => finish(&ctx, &api, rejections(&request.op), done),
                Err(thrown) => thrown_failure(&ctx, &api, thrown),
            }
        })
    })
}

/// What a successful operation produced.
struct Done<'js> {
    value: Option<Value<'js>>,
    bytecode: Option<Vec<u8>>,
}

/// What the request says to do with unhandled rejections.
fn rejections(op: &Op<'_>) -> Rejections {
    match op {
        Op::Eval(source) | Op::Handler { source, .. } => source.rejections,
        _ => Rejections::Warn,
    }
}

fn operate<'js>(ctx: &Ctx<'js>, api: &Object<'js>, op: &Op<'_>) -> Result<Done<'js>, Value<'js>> {
    let done = |value| Done {
        value,
        bytecode: None,
    };
    match op {
        Op::Eval(source) => {
            let (code, file) = (source.code.as_str(), file_name(&source.file));
            if source.module {
                evaluate_module(ctx, api, file, code)?;
                Ok(done(None))
            } else {
                let (function, mode) = compile_script(ctx, code, file)?;
                Ok(done(run_script(ctx, api, function, mode)?))
            }
        }
        Op::Compile(source) => {
            let (function, mode) =
                compile_script(ctx, source.code.as_str(), file_name(&source.file))?;
            let bytecode = write_bytecode(ctx, &function, mode)?;
            Ok(Done {
                value: None,
                bytecode: Some(bytecode),
            })
        }
        Op::EvalCompiled { bytecode } => {
            let bytes = capsa_guest::base64_decode(bytecode)
                .ok_or_else(|| error_value(ctx, "invalid bytecode encoding"))?;
            let (function, mode) = read_bytecode(ctx, &bytes)?;
            Ok(done(run_script(ctx, api, function, mode)?))
        }
        Op::Handler { source, request } => {
            let (code, file) = (source.code.as_str(), file_name(&source.file));
            let namespace = if source.module {
                evaluate_module(ctx, api, file, code)?.into_value()
            } else {
                let (function, mode) = compile_script(ctx, code, file)?;
                run_script(ctx, api, function, mode)?;
                Value::new_undefined(ctx.clone())
            };
            let context = json_to_js(ctx, request)?;
            let call: Function = api.get("callHandler").map_err(|e| caught(ctx, e))?;
            let promise: Value = call
                .call((namespace, context))
                .map_err(|e| caught(ctx, e))?;
            Ok(done(Some(drain(ctx, api, promise)?)))
        }
        Op::Dispatch { event, payload } => {
            let payload = json_to_js(ctx, payload)?;
            let dispatch: Function = api.get("dispatch").map_err(|e| caught(ctx, e))?;
            let promise: Value = dispatch
                .call((&**event, payload))
                .map_err(|e| caught(ctx, e))?;
            Ok(done(Some(drain(ctx, api, promise)?)))
        }
    }
}

/// The file name stack traces show.
fn file_name(file: &str) -> &str {
    if file.is_empty() { "main.js" } else { file }
}

/// How a classic script was compiled: as plain global code, or, when it uses top-level `await`
/// (which plain global code cannot parse), as an async script whose promise resolves to
/// `{ value }`. Either way the completion value is the result.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ScriptMode {
    Plain,
    Async,
}

impl ScriptMode {
    fn flags(self) -> i32 {
        let async_flag = match self {
            ScriptMode::Plain => 0,
            ScriptMode::Async => qjs::JS_EVAL_FLAG_ASYNC,
        };
        (qjs::JS_EVAL_TYPE_GLOBAL | async_flag | qjs::JS_EVAL_FLAG_COMPILE_ONLY) as i32
    }

    /// The byte in front of a compiled script's bytecode that says how it was compiled.
    fn tag(self) -> u8 {
        match self {
            ScriptMode::Plain => b'P',
            ScriptMode::Async => b'A',
        }
    }
}

/// Compiles a classic script as plain global code when it parses as that, so that `await` stays
/// an identifier in scripts that never await (as in every engine), else as an async script.
fn compile_script<'js>(
    ctx: &Ctx<'js>,
    code: &str,
    file: &str,
) -> Result<(Value<'js>, ScriptMode), Value<'js>> {
    if let Ok(function) = eval_raw(ctx, code, file, ScriptMode::Plain.flags()) {
        return Ok((function, ScriptMode::Plain));
    }
    // Forget the plain parse's error: the async parse reports the script's real one.
    let _ = ctx.catch();
    let function =
        eval_raw(ctx, code, file, ScriptMode::Async.flags()).map_err(|e| parse_failed(ctx, e))?;
    Ok((function, ScriptMode::Async))
}

/// Runs a compiled script: its completion value, awaited when it is a promise or thenable.
fn run_script<'js>(
    ctx: &Ctx<'js>,
    api: &Object<'js>,
    function: Value<'js>,
    mode: ScriptMode,
) -> Result<Option<Value<'js>>, Value<'js>> {
    // SAFETY: `function` is a live compiled function of `ctx`; `JS_EvalFunction` takes ownership of
    // a reference, so it gets its own.
    let value = unsafe {
        let raw = ctx.as_raw().as_ptr();
        let value = qjs::JS_EvalFunction(raw, qjs::JS_DupValue(raw, function.as_raw()));
        checked(ctx, value).map_err(|e| caught(ctx, e))?
    };
    let value = match mode {
        ScriptMode::Async => completion(drain(ctx, api, value)?),
        // Jobs and host calls still run; a promise as the value is awaited here.
        ScriptMode::Plain => Some(drain(ctx, api, value)?).filter(|v| !v.is_undefined()),
    };
    settled(ctx, api, value)
}

/// An async script's promise resolves to `{ value }`, the script's completion value.
fn completion(settled: Value<'_>) -> Option<Value<'_>> {
    settled
        .as_object()
        .and_then(|o| o.get::<_, Value>("value").ok())
        .filter(|v| !v.is_undefined())
}

/// A script whose last value is a promise or a thenable gives what it settles to: awaited like the
/// rest of the call (inside its deadline), and a rejection is the call's exception.
fn settled<'js>(
    ctx: &Ctx<'js>,
    api: &Object<'js>,
    value: Option<Value<'js>>,
) -> Result<Option<Value<'js>>, Value<'js>> {
    let Some(value) = value else { return Ok(None) };
    let thenable = value.is_promise()
        || match value.as_object() {
            Some(object) => object
                .get::<_, Value>("then")
                .map_err(|e| caught(ctx, e))?
                .is_function(),
            None => false,
        };
    if !thenable {
        return Ok(Some(value));
    }
    let adopt: Function = api.get("adopt").map_err(|e| caught(ctx, e))?;
    let promise: Value = adopt.call((value,)).map_err(|e| caught(ctx, e))?;
    drain(ctx, api, promise).map(Some)
}

fn evaluate_module<'js>(
    ctx: &Ctx<'js>,
    api: &Object<'js>,
    file: &str,
    code: &str,
) -> Result<Object<'js>, Value<'js>> {
    let declared = Module::declare(ctx.clone(), file, code).map_err(|e| parse_failed(ctx, e))?;
    let (module, promise) = declared.eval().map_err(|e| caught(ctx, e))?;
    drain(ctx, api, promise.into_value())?;
    module.namespace().map_err(|e| caught(ctx, e))
}

/// Evaluates `code` under `file` (the name stack traces show).
fn eval_raw<'js>(
    ctx: &Ctx<'js>,
    code: &str,
    file: &str,
    flags: i32,
) -> rquickjs::Result<Value<'js>> {
    let mut source = Vec::with_capacity(code.len() + 1);
    source.extend_from_slice(code.as_bytes());
    source.push(0);
    let file = CString::new(file.replace('\0', "")).unwrap_or_default();
    // SAFETY: `source` is NUL-terminated and outlives the call; the context is live.
    unsafe {
        let value = qjs::JS_Eval(
            ctx.as_raw().as_ptr(),
            source.as_ptr().cast(),
            code.len() as _,
            file.as_ptr(),
            flags,
        );
        checked(ctx, value)
    }
}

/// # Safety
///
/// `value` must be a fresh value of `ctx` (ownership passes to the returned `Value`).
unsafe fn checked<'js>(ctx: &Ctx<'js>, value: qjs::JSValue) -> rquickjs::Result<Value<'js>> {
    // SAFETY: guaranteed by the caller.
    unsafe {
        if qjs::JS_VALUE_GET_TAG(value) == qjs::JS_TAG_EXCEPTION {
            Err(rquickjs::Error::Exception)
        } else {
            Ok(Value::from_raw(ctx.clone(), value))
        }
    }
}

fn write_bytecode<'js>(
    ctx: &Ctx<'js>,
    function: &Value<'js>,
    mode: ScriptMode,
) -> Result<Vec<u8>, Value<'js>> {
    let mut len = 0u32;
    // SAFETY: `function` is a live value of `ctx`; the returned buffer is QuickJS-allocated and freed
    // with `js_free` after copying.
    unsafe {
        let buf = qjs::JS_WriteObject(
            ctx.as_raw().as_ptr(),
            &mut len,
            function.as_raw(),
            qjs::JS_WRITE_OBJ_BYTECODE as i32,
        );
        if buf.is_null() {
            return Err(ctx.catch());
        }
        let mut bytes = Vec::with_capacity(len as usize + 1);
        bytes.push(mode.tag());
        bytes.extend_from_slice(std::slice::from_raw_parts(buf, len as usize));
        qjs::js_free(ctx.as_raw().as_ptr(), buf.cast());
        Ok(bytes)
    }
}

fn read_bytecode<'js>(
    ctx: &Ctx<'js>,
    bytes: &[u8],
) -> Result<(Value<'js>, ScriptMode), Value<'js>> {
    let (mode, bytes) = match bytes.split_first() {
        Some((&b'P', rest)) => (ScriptMode::Plain, rest),
        Some((&b'A', rest)) => (ScriptMode::Async, rest),
        _ => return Err(error_value(ctx, "invalid bytecode")),
    };
    // SAFETY: the bytes were produced by `write_bytecode` of this very runtime build; the host only
    // passes bytecode it got from `compile` (users cannot supply their own).
    unsafe {
        let function = qjs::JS_ReadObject(
            ctx.as_raw().as_ptr(),
            bytes.as_ptr(),
            bytes.len() as u32,
            qjs::JS_READ_OBJ_BYTECODE as i32,
        );
        checked(ctx, function)
            .map(|function| (function, mode))
            .map_err(|e| caught(ctx, e))
    }
}

/// Runs jobs and settles host calls until `value` (a promise, or any value) is settled.
fn drain<'js>(
    ctx: &Ctx<'js>,
    api: &Object<'js>,
    value: Value<'js>,
) -> Result<Value<'js>, Value<'js>> {
    let settle: Function = api.get("settleOne").map_err(|e| caught(ctx, e))?;
    // Host calls nobody awaited (a `kv.set` fired and forgotten) still finish, and what their
    // callbacks do still runs, before the call returns.
    let finish_forgotten = || -> Result<(), Value<'js>> {
        while settle.call::<_, bool>(()).map_err(|e| caught(ctx, e))? {
            run_jobs(ctx)?;
        }
        Ok(())
    };
    let Some(promise) = value.as_promise().cloned() else {
        run_jobs(ctx)?;
        finish_forgotten()?;
        return Ok(value);
    };
    loop {
        run_jobs(ctx)?;
        match promise.state() {
            PromiseState::Resolved => {
                let result = promise
                    .result::<Value>()
                    .unwrap_or(Ok(value))
                    .map_err(|e| caught(ctx, e))?;
                finish_forgotten()?;
                return Ok(result);
            }
            PromiseState::Rejected => {
                return Err(match promise.result::<Value>() {
                    Some(Err(e)) => caught(ctx, e),
                    _ => error_value(ctx, "promise rejected"),
                });
            }
            PromiseState::Pending => {
                let progressed: bool = settle.call(()).map_err(|e| caught(ctx, e))?;
                if !progressed {
                    return Err(error_value(
                        ctx,
                        "the code awaits a promise that can never settle: no job and no host call is left to run",
                    ));
                }
            }
        }
    }
}

fn run_jobs<'js>(ctx: &Ctx<'js>) -> Result<(), Value<'js>> {
    loop {
        let mut job_ctx = std::ptr::null_mut();
        // SAFETY: the runtime is live; `job_ctx` receives the context of a failed job.
        let status = unsafe {
            qjs::JS_ExecutePendingJob(qjs::JS_GetRuntime(ctx.as_raw().as_ptr()), &mut job_ctx)
        };
        match status {
            0 => return Ok(()),
            s if s < 0 => return Err(ctx.catch()),
            _ => {}
        }
    }
}

/// The exception behind an rquickjs error.
fn caught<'js>(ctx: &Ctx<'js>, error: rquickjs::Error) -> Value<'js> {
    match error {
        rquickjs::Error::Exception => ctx.catch(),
        other => error_value(ctx, &other.to_string()),
    }
}

fn error_value<'js>(ctx: &Ctx<'js>, message: &str) -> Value<'js> {
    let _ = rquickjs::Exception::throw_message(ctx, message);
    ctx.catch()
}

fn json_to_js<'js>(ctx: &Ctx<'js>, value: &Json) -> Result<Value<'js>, Value<'js>> {
    ctx.json_parse(value.to_string())
        .map_err(|e| caught(ctx, e))
}

fn js_to_json<'js>(ctx: &Ctx<'js>, value: Value<'js>) -> Option<Json> {
    let text = ctx.json_stringify(value).ok()??.to_string().ok()?;
    serde_json::from_str(&text).ok()
}

fn finish<'js>(ctx: &Ctx<'js>, api: &Object<'js>, policy: Rejections, done: Done<'js>) -> Answer {
    let rejections: Vec<Json> = api
        .get::<_, Function>("takeRejections")
        .and_then(|f| f.call::<_, Value>(()))
        .ok()
        .and_then(|v| js_to_json(ctx, v))
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default();
    if let Some(first) = rejections.first() {
        if policy == Rejections::Error {
            return Answer {
                code: Some("guest_exception".into()),
                error: Some(thrown(first)),
                unhandled_rejection: true,
                ..Answer::default()
            };
        }
        let report: Option<Function> = api.get("reportRejection").ok();
        for rejection in &rejections {
            if let (Some(report), Ok(d)) = (&report, json_to_js(ctx, rejection)) {
                let _ = report.call::<_, ()>((d,));
            }
        }
    }
    let result = match done.value {
        None => Json::Null,
        Some(value) => {
            let text = api
                .get::<_, Function>("toResult")
                .and_then(|f| f.call::<_, Option<String>>((value,)));
            match text {
                Ok(Some(text))
                    if capsa_wire::protocol::json_depth(text.as_bytes())
                        > capsa_wire::protocol::MAX_RESULT_DEPTH =>
                {
                    forget(api);
                    return failure(
                        "guest_exception",
                        "RangeError",
                        &capsa_wire::protocol::too_deep_message(),
                    );
                }
                Ok(Some(text)) => serde_json::from_str(&text).unwrap_or(Json::String(text)),
                Ok(None) => Json::Null,
                // Serialising the result failed (out of memory): that is the call's outcome.
                Err(e) => return thrown_failure(ctx, api, caught(ctx, e)),
            }
        }
    };
    Answer {
        ok: true,
        result: Some(result),
        bytecode: done.bytecode.map(|b| capsa_guest::base64_encode(&b)),
        ..Answer::default()
    }
}

/// An exception as `describe` reported it.
fn thrown(described: &Json) -> Thrown {
    Thrown::from_value(described)
}

/// Drops what an earlier call in this sandbox left behind (see the prelude's `forget`).
fn forget(api: &Object<'_>) {
    if let Ok(forget) = api.get::<_, Function>("forget") {
        let _ = forget.call::<_, ()>(());
    }
}

fn thrown_failure<'js>(ctx: &Ctx<'js>, api: &Object<'js>, thrown_value: Value<'js>) -> Answer {
    let described = api
        .get::<_, Function>("describe")
        .and_then(|f| f.call::<_, Value>((thrown_value,)))
        .ok()
        .and_then(|v| js_to_json(ctx, v));
    forget(api);
    let Some(error) = described else {
        // `describe` fails only when QuickJS has no memory left to build the report.
        return failure("memory_limit_exceeded", "InternalError", "out of memory");
    };
    let mut error = thrown(&error);
    error.syntax = PARSE_FAILED.with(Cell::take) && error.name == "SyntaxError";
    let out_of_memory = error.name == "InternalError" && error.message == "out of memory";
    let code = if out_of_memory {
        "memory_limit_exceeded"
    } else {
        "guest_exception"
    };
    Answer {
        code: Some(code.into()),
        error: Some(error),
        ..Answer::default()
    }
}
