// capsa's JavaScript prelude: the guest API (docs/javascript.md) over the native functions in lib.rs.
// Evaluated once, when the runtime is pre-initialised; every sandbox starts from that snapshot.
// `native` holds the Rust functions; everything user code may see is defined here.
(native) => {
  "use strict";
  const global = globalThis;
  // Captured now, so a script that replaces them cannot break its own results and error reports.
  const { stringify, parse } = JSON;
  const { defineProperty, freeze, fromEntries, entries: objectEntries } = Object;
  const toText = String;
  const define = (object, name, value) =>
    Object.defineProperty(object, name, { value, writable: true, configurable: true, enumerable: false });

  // --- host calls -----------------------------------------------------------------------------
  class HostError extends Error {
    constructor(code, message) {
      super(message);
      this.name = "HostError";
      this.code = code;
    }
  }

  const encodeArgs = (args) => {
    const text = stringify(args === undefined ? null : args, (_, v) =>
      typeof v === "bigint" ? v.toString() : v);
    return text === undefined ? "null" : text;
  };

  // `text` is the host's answer: a status digit, then JSON.
  const decodeAnswer = (text) => {
    const value = parse(text.slice(1));
    if (text[0] === "0") return { ok: true, value };
    const error = new HostError(value.code, value.message);
    fromHost.add(error);
    return { ok: false, error };
  };

  const pending = new Map(); // handle -> { resolve, reject }
  // HostErrors that really came from the host: only their codes become the call's outcome.
  const fromHost = new WeakSet();

  const host = {
    call(name, args) {
      const answer = decodeAnswer(native.call(String(name), encodeArgs(args)));
      if (answer.ok) return answer.value;
      throw answer.error;
    },
    rpc(name, args) {
      return new Promise((resolve, reject) => {
        const handle = native.start(String(name), encodeArgs(args));
        pending.set(handle, { resolve, reject });
      });
    },
    on(event, fn) {
      if (typeof fn !== "function") throw new TypeError("host.on(event, fn): fn must be a function");
      handlers.set(String(event), fn);
    },
  };
  const handlers = new Map();

  // Called by the runtime when no job is left to run: waits for the oldest host call in flight.
  const settleOne = () => {
    const first = pending.entries().next();
    if (first.done) return false;
    const [handle, { resolve, reject }] = first.value;
    pending.delete(handle);
    const answer = decodeAnswer(native.wait(handle));
    if (answer.ok) resolve(answer.value);
    else reject(answer.error);
    return true;
  };

  // --- kv -------------------------------------------------------------------------------------
  // Values are strings, or bytes (Uint8Array / ArrayBuffer) which come back as a Uint8Array.
  const kvValue = (value) => {
    if (typeof value === "string") return { value };
    const body = value instanceof ArrayBuffer || ArrayBuffer.isView(value) ? bodyText(value) : null;
    if (!body) throw new TypeError("kv.set: the value must be a string or bytes (JSON.stringify objects)");
    return { value_base64: body.base64 };
  };
  const kv = {
    get: (key) => host.rpc("kv.get", { key: String(key) }).then((r) =>
      r === null ? null : r.value !== undefined ? r.value : native.base64Decode(r.value_base64)),
    set: (key, value, options = {}) => {
      const args = { key: String(key), ...kvValue(value) };
      if (options.ttl_ms !== undefined) args.ttl_ms = options.ttl_ms;
      return host.rpc("kv.set", args).then(() => undefined);
    },
    delete: (key) => host.rpc("kv.delete", { key: String(key) }).then((r) => Boolean(r && r.deleted)),
    list: (prefix = "", options = {}) => host.rpc("kv.list", { ...options, prefix: String(prefix) }),
  };

  // --- fetch ----------------------------------------------------------------------------------
  class Headers {
    #map = new Map();
    constructor(init) {
      if (init instanceof Headers) init = init.entries();
      else if (init && typeof init === "object" && !(Symbol.iterator in init)) init = Object.entries(init);
      for (const [k, v] of init || []) this.append(k, v);
    }
    append(name, value) {
      const key = String(name).toLowerCase();
      const prev = this.#map.get(key);
      this.#map.set(key, prev === undefined ? String(value) : `${prev}, ${value}`);
    }
    set(name, value) { this.#map.set(String(name).toLowerCase(), String(value)); }
    get(name) { const v = this.#map.get(String(name).toLowerCase()); return v === undefined ? null : v; }
    has(name) { return this.#map.has(String(name).toLowerCase()); }
    delete(name) { this.#map.delete(String(name).toLowerCase()); }
    forEach(fn, thisArg) { for (const [k, v] of this.entries()) fn.call(thisArg, v, k, this); }
    *entries() { yield* [...this.#map].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)); }
    *keys() { for (const [k] of this.entries()) yield k; }
    *values() { for (const [, v] of this.entries()) yield v; }
    [Symbol.iterator]() { return this.entries(); }
    toJSON() { return Object.fromEntries(this.entries()); }
  }

  const bodyText = (body) => {
    if (body === undefined || body === null) return { text: "" };
    if (typeof body === "string") return { text: body };
    if (body instanceof ArrayBuffer || ArrayBuffer.isView(body)) {
      const bytes = body instanceof ArrayBuffer ? new Uint8Array(body)
        : new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
      return { base64: native.base64Encode(bytes) };
    }
    return { text: String(body) };
  };

  class Response {
    #body;
    constructor(body, init = {}) {
      this.#body = bodyText(body);
      this.status = init.status === undefined ? 200 : Number(init.status);
      if (!Number.isInteger(this.status) || this.status < 100 || this.status > 999) {
        throw new RangeError(`Response status ${toText(init.status)} is not an HTTP status`);
      }
      this.statusText = init.statusText === undefined ? "" : String(init.statusText);
      this.headers = new Headers(init.headers);
      this.url = init.url === undefined ? "" : String(init.url);
      this.redirected = false;
    }
    static json(data, init = {}) {
      const headers = new Headers(init.headers);
      if (!headers.has("content-type")) headers.set("content-type", "application/json");
      return new Response(JSON.stringify(data), { ...init, headers });
    }
    get ok() { return this.status >= 200 && this.status < 300; }
    async text() {
      const b = this.#body;
      return b.base64 === undefined ? b.text : native.utf8Decode(native.base64Decode(b.base64));
    }
    async json() { return JSON.parse(await this.text()); }
    async arrayBuffer() {
      const b = this.#body;
      return b.base64 === undefined ? native.utf8Encode(b.text).buffer : native.base64Decode(b.base64).buffer;
    }
    // The handler contract (docs/contract.md): { status, headers, body | body_base64 }.
    toJSON() {
      const out = { status: this.status, headers: this.headers.toJSON() };
      if (this.#body.base64 === undefined) out.body = this.#body.text;
      else out.body_base64 = this.#body.base64;
      return out;
    }
  }

  async function fetch(input, init = {}) {
    const url = typeof input === "string" ? input : input && input.url !== undefined ? input.url : String(input);
    const request = { url: String(url), method: String(init.method || "GET").toUpperCase() };
    const headers = new Headers(init.headers);
    const list = [...headers.entries()];
    if (list.length) request.headers = Object.fromEntries(list);
    if (init.body !== undefined && init.body !== null) {
      const body = bodyText(init.body);
      if (body.base64 === undefined) request.body = body.text;
      else request.body_base64 = body.base64;
    }
    const r = await host.rpc("http.fetch", request);
    const body = r.body_base64 === undefined ? (r.body ?? "") : native.base64Decode(r.body_base64);
    const response = new Response(body, { status: r.status, headers: r.headers, url: r.url ?? request.url });
    response.redirected = Boolean(r.redirected);
    return response;
  }

  // --- console --------------------------------------------------------------------------------
  const inspect = (value, depth = 0, seen = new Set()) => {
    switch (typeof value) {
      case "string": return depth === 0 ? value : JSON.stringify(value);
      case "undefined": return "undefined";
      case "bigint": return `${value}n`;
      case "symbol": return value.toString();
      case "function": return `[Function: ${value.name || "(anonymous)"}]`;
      case "number": return Object.is(value, -0) ? "-0" : String(value);
      case "boolean": return String(value);
    }
    if (value === null) return "null";
    if (value instanceof Error) return value.stack ? `${value.name}: ${value.message}\n${value.stack}`.trimEnd() : `${value.name}: ${value.message}`;
    if (seen.has(value)) return "[Circular]";
    if (depth > 4) return Array.isArray(value) ? "[Array]" : "[Object]";
    seen.add(value);
    try {
      if (Array.isArray(value)) return `[ ${value.map((v) => inspect(v, depth + 1, seen)).join(", ")} ]`.replace("[  ]", "[]");
      if (value instanceof Map) return `Map(${value.size}) { ${[...value].map(([k, v]) => `${inspect(k, depth + 1, seen)} => ${inspect(v, depth + 1, seen)}`).join(", ")} }`;
      if (value instanceof Set) return `Set(${value.size}) { ${[...value].map((v) => inspect(v, depth + 1, seen)).join(", ")} }`;
      if (value instanceof Date) return isNaN(value) ? "Invalid Date" : value.toISOString();
      if (value instanceof RegExp) return String(value);
      if (typeof value.then === "function") return "Promise { <pending> }";
      const entries = Object.entries(value).map(([k, v]) =>
        `${/^[A-Za-z_$][\w$]*$/.test(k) ? k : JSON.stringify(k)}: ${inspect(v, depth + 1, seen)}`);
      const tag = value.constructor && value.constructor !== Object && value.constructor.name ? `${value.constructor.name} ` : "";
      return entries.length ? `${tag}{ ${entries.join(", ")} }` : `${tag}{}`;
    } finally {
      seen.delete(value);
    }
  };
  const format = (args) => args.map((a) => inspect(a)).join(" ") + "\n";
  const console = {
    log: (...args) => native.write(1, format(args)),
    info: (...args) => native.write(1, format(args)),
    debug: (...args) => native.write(1, format(args)),
    warn: (...args) => native.write(2, format(args)),
    error: (...args) => native.write(2, format(args)),
    trace: (...args) => native.write(2, format(args)),
  };

  // --- crypto (random only) -------------------------------------------------------------------
  const crypto = {
    getRandomValues(array) {
      if (!ArrayBuffer.isView(array) || array instanceof Float32Array || array instanceof Float64Array || array instanceof DataView)
        throw new TypeError("getRandomValues needs an integer typed array");
      if (array.byteLength > 65536) throw new RangeError("getRandomValues: at most 65536 bytes");
      new Uint8Array(array.buffer, array.byteOffset, array.byteLength).set(native.fillRandom(array.byteLength));
      return array;
    },
    randomUUID() {
      const b = crypto.getRandomValues(new Uint8Array(16));
      b[6] = (b[6] & 0x0f) | 0x40;
      b[8] = (b[8] & 0x3f) | 0x80;
      const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
      return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
    },
  };

  // --- web platform: DOMException, atob/btoa, TextEncoder/TextDecoder, URL, URLSearchParams ------
  // What Workers-style runtimes offer and scripts reach for first (the table is in docs/javascript.md).
  class DOMException extends Error {
    constructor(message = "", name = "Error") {
      super(message);
      define(this, "name", toText(name));
    }
  }
  const bytesOf = (input, what) => {
    if (input === undefined) return new Uint8Array(0);
    if (input instanceof ArrayBuffer) return new Uint8Array(input);
    if (ArrayBuffer.isView(input)) return new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
    throw new TypeError(`${what}: expected an ArrayBuffer or a view of one`);
  };
  const btoa = (data) => {
    const text = toText(data);
    const bytes = new Uint8Array(text.length);
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c > 255) throw new DOMException("btoa: the string has a character outside Latin-1", "InvalidCharacterError");
      bytes[i] = c;
    }
    return native.base64Encode(bytes);
  };
  const atob = (data) => {
    let text = toText(data).replace(/[\t\n\f\r ]/g, "");
    if (text.length % 4 === 0) text = text.replace(/={1,2}$/, "");
    if (text.length % 4 === 1 || /[^A-Za-z0-9+/]/.test(text))
      throw new DOMException("atob: the string is not correctly encoded", "InvalidCharacterError");
    const bytes = native.base64Decode(text);
    let out = "";
    for (let i = 0; i < bytes.length; i += 8192) out += String.fromCharCode(...bytes.subarray(i, i + 8192));
    return out;
  };
  const wellFormed = (text) => toText(text).toWellFormed();
  class TextEncoder {
    get encoding() { return "utf-8"; }
    encode(input = "") { return native.utf8Encode(wellFormed(input)); }
    encodeInto(source, destination) {
      if (!(destination instanceof Uint8Array)) throw new TypeError("encodeInto: the destination must be a Uint8Array");
      const text = wellFormed(source);
      let read = 0;
      let written = 0;
      for (const ch of text) {
        const cp = ch.codePointAt(0);
        const size = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
        if (written + size > destination.length) break;
        destination.set(native.utf8Encode(ch), written);
        written += size;
        read += ch.length;
      }
      return { read, written };
    }
  }
  const UTF8_LABELS = ["utf-8", "utf8", "unicode-1-1-utf-8", "unicode11utf8", "unicode20utf8", "x-unicode20utf8"];
  // How many bytes at the end of `bytes` start a UTF-8 sequence that is not complete yet.
  const incompleteTail = (bytes) => {
    for (let back = 1; back <= Math.min(3, bytes.length); back++) {
      const b = bytes[bytes.length - back];
      if ((b & 0xc0) === 0x80) continue;
      const need = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
      return need > back ? back : 0;
    }
    return 0;
  };
  class TextDecoder {
    #fatal;
    #ignoreBOM;
    #pending = new Uint8Array(0);
    #started = false;
    constructor(label = "utf-8", options = {}) {
      if (!UTF8_LABELS.includes(toText(label).trim().toLowerCase()))
        throw new RangeError(`TextDecoder: the encoding \`${label}\` is not supported (only utf-8)`);
      this.#fatal = Boolean(options.fatal);
      this.#ignoreBOM = Boolean(options.ignoreBOM);
    }
    get encoding() { return "utf-8"; }
    get fatal() { return this.#fatal; }
    get ignoreBOM() { return this.#ignoreBOM; }
    decode(input, options = {}) {
      let bytes = bytesOf(input, "TextDecoder.decode");
      if (this.#pending.length) {
        const joined = new Uint8Array(this.#pending.length + bytes.length);
        joined.set(this.#pending);
        joined.set(bytes, this.#pending.length);
        bytes = joined;
      }
      const stream = Boolean(options.stream);
      const keep = stream ? incompleteTail(bytes) : 0;
      this.#pending = bytes.slice(bytes.length - keep);
      bytes = bytes.subarray(0, bytes.length - keep);
      if (!this.#started && !this.#ignoreBOM && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf)
        bytes = bytes.subarray(3);
      this.#started = stream && (this.#started || bytes.length > 0);
      return native.utf8Decode(bytes, this.#fatal);
    }
  }

  // application/x-www-form-urlencoded, as the URL standard serialises and parses it.
  const formEncode = (text) => {
    let out = "";
    for (const byte of native.utf8Encode(wellFormed(text))) {
      const c = String.fromCharCode(byte);
      if (/[A-Za-z0-9*\-._]/.test(c)) out += c;
      else if (byte === 0x20) out += "+";
      else out += "%" + byte.toString(16).toUpperCase().padStart(2, "0");
    }
    return out;
  };
  const formDecode = (text) => {
    const source = native.utf8Encode(text.replace(/\+/g, " "));
    const bytes = [];
    const hex = (b) => (b >= 48 && b <= 57) || (b >= 65 && b <= 70) || (b >= 97 && b <= 102);
    for (let i = 0; i < source.length; i++) {
      if (source[i] === 0x25 && i + 2 < source.length && hex(source[i + 1]) && hex(source[i + 2])) {
        bytes.push(parseInt(String.fromCharCode(source[i + 1], source[i + 2]), 16));
        i += 2;
      } else bytes.push(source[i]);
    }
    return native.utf8Decode(new Uint8Array(bytes));
  };
  const urlOfParams = new WeakMap(); // URLSearchParams -> the URL whose query it is
  const QUERY_SET = Symbol("query set");
  const QUERY_CHANGED = Symbol("query changed");
  class URLSearchParams {
    #list = [];
    constructor(init = "") {
      if (typeof init === "object" && init !== null) {
        if (typeof init[Symbol.iterator] === "function") {
          for (const pair of init) {
            const [name, value, ...rest] = [...pair];
            if (value === undefined || rest.length) throw new TypeError("URLSearchParams: each pair must have exactly two items");
            this.#list.push([wellFormed(name), wellFormed(value)]);
          }
        } else {
          for (const name of Reflect.ownKeys(init)) {
            if (typeof name === "string" && Object.getOwnPropertyDescriptor(init, name)?.enumerable)
              this.#list.push([wellFormed(name), wellFormed(init[name])]);
          }
        }
      } else {
        this.#parse(toText(init));
      }
    }
    #parse(text) {
      this.#list = [];
      for (const part of text.replace(/^\?/, "").split("&")) {
        if (part === "") continue;
        const eq = part.indexOf("=");
        this.#list.push(eq < 0 ? [formDecode(part), ""] : [formDecode(part.slice(0, eq)), formDecode(part.slice(eq + 1))]);
      }
    }
    #changed() {
      const url = urlOfParams.get(this);
      if (url) url[QUERY_CHANGED](this.toString());
    }
    // The URL owning these parameters set its query (it calls this with the new one).
    [QUERY_SET](search) { this.#parse(search); }
    get size() { return this.#list.length; }
    append(name, value) { this.#list.push([wellFormed(name), wellFormed(value)]); this.#changed(); }
    delete(name, value) {
      name = wellFormed(name);
      value = value === undefined ? undefined : wellFormed(value);
      this.#list = this.#list.filter(([n, v]) => n !== name || (value !== undefined && v !== value));
      this.#changed();
    }
    get(name) { name = wellFormed(name); const hit = this.#list.find(([n]) => n === name); return hit ? hit[1] : null; }
    getAll(name) { name = wellFormed(name); return this.#list.filter(([n]) => n === name).map(([, v]) => v); }
    has(name, value) {
      name = wellFormed(name);
      value = value === undefined ? undefined : wellFormed(value);
      return this.#list.some(([n, v]) => n === name && (value === undefined || v === value));
    }
    set(name, value) {
      name = wellFormed(name);
      value = wellFormed(value);
      const at = this.#list.findIndex(([n]) => n === name);
      if (at < 0) this.#list.push([name, value]);
      else this.#list = this.#list.filter(([n], i) => n !== name || i === at).map((p, i) => (i === at ? [name, value] : p));
      this.#changed();
    }
    sort() {
      // Stable, by UTF-16 code units, as the standard says.
      this.#list = this.#list.map((p, i) => [p, i]).sort(([a, i], [b, j]) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : i - j)).map(([p]) => p);
      this.#changed();
    }
    forEach(callback, thisArg) { for (const [n, v] of this.#list) callback.call(thisArg, v, n, this); }
    *entries() { for (const [n, v] of this.#list) yield [n, v]; }
    *keys() { for (const [n] of this.#list) yield n; }
    *values() { for (const [, v] of this.#list) yield v; }
    [Symbol.iterator]() { return this.entries(); }
    toString() { return this.#list.map(([n, v]) => `${formEncode(n)}=${formEncode(v)}`).join("&"); }
  }
  class URL {
    #parts;
    #params;
    constructor(url, base) {
      this.#parts = parse(base === undefined ? native.urlParse(toText(url)) : native.urlParse(toText(url), toText(base)));
    }
    static canParse(url, base) { try { new URL(url, base); return true; } catch { return false; } }
    static parse(url, base) { try { return new URL(url, base); } catch { return null; } }
    #set(part, value) {
      this.#parts = parse(native.urlSet(this.#parts.href, part, toText(value)));
      if (this.#params && (part === "href" || part === "search")) this.#params[QUERY_SET](this.#parts.search);
    }
    [QUERY_CHANGED](query) { this.#parts = parse(native.urlSet(this.#parts.href, "search", query)); }
    get searchParams() {
      if (!this.#params) {
        this.#params = new URLSearchParams(this.#parts.search);
        urlOfParams.set(this.#params, this);
      }
      return this.#params;
    }
    get href() { return this.#parts.href; }
    set href(v) { this.#set("href", v); }
    get origin() { return this.#parts.origin; }
    get protocol() { return this.#parts.protocol; }
    set protocol(v) { this.#set("protocol", v); }
    get username() { return this.#parts.username; }
    set username(v) { this.#set("username", v); }
    get password() { return this.#parts.password; }
    set password(v) { this.#set("password", v); }
    get host() { return this.#parts.host; }
    set host(v) { this.#set("host", v); }
    get hostname() { return this.#parts.hostname; }
    set hostname(v) { this.#set("hostname", v); }
    get port() { return this.#parts.port; }
    set port(v) { this.#set("port", v); }
    get pathname() { return this.#parts.pathname; }
    set pathname(v) { this.#set("pathname", v); }
    get search() { return this.#parts.search; }
    set search(v) { this.#set("search", v); }
    get hash() { return this.#parts.hash; }
    set hash(v) { this.#set("hash", v); }
    toString() { return this.#parts.href; }
    toJSON() { return this.#parts.href; }
  }

  const web = { DOMException, atob, btoa, TextEncoder, TextDecoder, URL, URLSearchParams };
  for (const [name, value] of Object.entries({ host, kv, fetch, console, crypto, Headers, Response, HostError, ...web })) {
    define(global, name, value);
  }
  // The granted environment variables (`--env`), read when first used in a sandbox.
  let envCache;
  const env = () => (envCache ??= Object.freeze(native.env()));
  Object.defineProperty(global, "env", { get: env, configurable: true, enumerable: false });
  define(Math, "random", native.random);

  // --- what the runtime calls -----------------------------------------------------------------
  const rejections = new Map(); // promise -> reason
  const trackRejection = (promise, reason, handled) => {
    if (handled) rejections.delete(promise);
    else rejections.set(promise, reason);
  };

  // Never throws: the runtime must always be able to report what went wrong.
  const describe = (error) => {
    try {
      if (error instanceof Error) {
        const stack = toText(error.stack || "").split("\n").filter((l) => l && !l.includes("capsa:")).join("\n");
        const out = { name: toText(error.name), message: toText(error.message), stack };
        if (fromHost.has(error)) out.code = error.code;
        return out;
      }
      return { name: "Uncaught", message: inspect(error), stack: "" };
    } catch (e) {
      if (e instanceof InternalError && e.message === "out of memory") throw e;
      return { name: "Error", message: "(an exception whose description failed)", stack: "" };
    }
  };

  // The JSON text of a result, or undefined when it has none. Values JSON cannot represent (cycles)
  // become their printed form; running out of memory is an error like any other.
  const toResult = (value) => {
    if (value === undefined || typeof value === "function" || typeof value === "symbol") return undefined;
    try {
      return stringify(value, (_, v) => (typeof v === "bigint" ? v.toString() : v));
    } catch (e) {
      if (e instanceof TypeError) return stringify(inspect(value));
      throw e;
    }
  };

  const toResponse = (value) => {
    if (value instanceof Response) return value.toJSON();
    if (value && typeof value === "object" && "status" in value &&
        ("body" in value || "headers" in value || "body_base64" in value)) {
      // A response as the handler wrote it: the host checks it (a status that is not a number,
      // or `body` beside `body_base64`, is its 502), whatever this runtime would let through.
      const out = { status: value.status, headers: value.headers instanceof Headers ? value.headers.toJSON() : (value.headers || {}) };
      if (value.body_base64 !== undefined) out.body_base64 = String(value.body_base64);
      if (value.body_base64 === undefined || value.body !== undefined)
        out.body = typeof value.body === "string" ? value.body : value.body === undefined ? "" : JSON.stringify(value.body);
      return out;
    }
    if (typeof value === "string") return { status: 200, headers: { "content-type": "text/plain; charset=utf-8" }, body: value };
    return { status: 200, headers: { "content-type": "application/json" }, body: toResult(value === undefined ? null : value) };
  };

  const findHandler = (namespace) => {
    const exported = namespace && namespace.default;
    if (exported && typeof exported.fetch === "function") return (req, vars) => exported.fetch(req, vars);
    if (typeof exported === "function") return exported;
    if (namespace && typeof namespace.handler === "function") return namespace.handler;
    if (typeof global.handler === "function") return global.handler;
    // A top-level `const handler = …` is a global binding but not a property of globalThis.
    try {
      if (typeof handler === "function") return handler;
    } catch {
      // Declared but not initialised yet.
    }
    return null;
  };

  const request = (context) => {
    const req = { ...context };
    define(req, "text", async () => req.body_base64 !== undefined
      ? native.utf8Decode(native.base64Decode(req.body_base64)) : (req.body ?? ""));
    define(req, "json", async () => JSON.parse(await req.text()));
    return req;
  };

  return {
    settleOne,
    pendingCount: () => pending.size,
    trackRejection,
    describe,
    toResult,
    // A promise that settles as `value` does (a promise or any thenable).
    adopt: async (value) => value,
    async callHandler(namespace, context) {
      const handler = findHandler(namespace);
      if (!handler) {
        throw new TypeError("no handler: define `function handler(request)` or `export default { fetch(request) }`");
      }
      return toResponse(await handler(request(context), env()));
    },
    async dispatch(event, payload) {
      const fn = handlers.get(event);
      if (!fn) throw new TypeError(`no handler for event \`${event}\`: register one with host.on(${JSON.stringify(event)}, fn)`);
      return fn(payload);
    },
    // Unhandled rejections left at the end of a call, described; the list is emptied.
    takeRejections() {
      const reasons = [...rejections.values()];
      rejections.clear();
      return reasons.map(describe);
    },
    // Forgets what a finished (or failed) call left behind: host calls the host no longer knows
    // about, and rejections already reported or belonging to an error already reported.
    forget() {
      pending.clear();
      rejections.clear();
    },
    reportRejection(d) {
      native.write(2, `Uncaught (in promise) ${d.name}: ${d.message}\n${d.stack ? d.stack + "\n" : ""}`);
    },
  };
}
