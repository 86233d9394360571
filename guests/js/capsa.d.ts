// Type declarations for the globals capsa's JavaScript runtime gives scripts (docs/javascript.md).
//
// Use them from TypeScript with a triple-slash reference or by listing this file in tsconfig.json:
//
//     /// <reference path="./capsa.d.ts" />
//
// Everything here exists only where the call's grants allow it: an ungranted host function, KV
// namespace or host ends the call with `capability_denied` unless the script catches the HostError.

export {};

declare global {
  /** A host call that failed: the error code (`capability_denied`, `invalid_input`, `host_error`, …) and message. */
  class HostError extends Error {
    readonly name: "HostError";
    readonly code: string;
  }

  /** Named host functions, JSON in and out (docs/abi.md). */
  const host: {
    /** Calls a host function and waits for its result. Throws a HostError on failure. */
    call<T = unknown>(name: string, args?: unknown): T;
    /** Starts a host function and returns at once; several in flight run concurrently on the host. */
    rpc<T = unknown>(name: string, args?: unknown): Promise<T>;
    /** Registers the handler `Session.dispatch(event, payload)` calls (sessions only). */
    on(event: string, handler: (payload: any) => unknown): void;
  };

  /** The call's KV namespace (`--kv`), values as text or bytes. */
  const kv: {
    get(key: string): Promise<string | Uint8Array | null>;
    set(key: string, value: string | Uint8Array | ArrayBuffer, options?: { ttl_ms?: number }): Promise<void>;
    delete(key: string): Promise<boolean>;
    list(prefix?: string, options?: { limit?: number; cursor?: string }): Promise<{ keys: string[]; cursor: string | null }>;
  };

  type HeadersInit = Headers | Record<string, string> | Iterable<[string, string]>;
  type BodyInit = string | ArrayBuffer | ArrayBufferView;

  class Headers {
    constructor(init?: HeadersInit);
    append(name: string, value: string): void;
    set(name: string, value: string): void;
    get(name: string): string | null;
    has(name: string): boolean;
    delete(name: string): void;
    forEach(fn: (value: string, name: string, headers: Headers) => void, thisArg?: unknown): void;
    entries(): IterableIterator<[string, string]>;
    keys(): IterableIterator<string>;
    values(): IterableIterator<string>;
    [Symbol.iterator](): IterableIterator<[string, string]>;
  }

  interface ResponseInit {
    status?: number;
    statusText?: string;
    headers?: HeadersInit;
  }

  class Response {
    constructor(body?: BodyInit | null, init?: ResponseInit);
    static json(data: unknown, init?: ResponseInit): Response;
    readonly status: number;
    readonly statusText: string;
    readonly ok: boolean;
    readonly headers: Headers;
    readonly url: string;
    readonly redirected: boolean;
    text(): Promise<string>;
    json<T = any>(): Promise<T>;
    arrayBuffer(): Promise<ArrayBuffer>;
  }

  interface RequestInit {
    method?: string;
    headers?: HeadersInit;
    body?: BodyInit | null;
  }

  /** Outbound HTTP to granted hosts only (`--allow-host`), SSRF-safe (docs/http.md). */
  function fetch(url: string | URL | { url: string }, init?: RequestInit): Promise<Response>;

  /** The URL standard's URL (docs/javascript.md, "Web platform APIs"). */
  class URL {
    constructor(url: string | URL, base?: string | URL);
    static canParse(url: string | URL, base?: string | URL): boolean;
    static parse(url: string | URL, base?: string | URL): URL | null;
    href: string;
    readonly origin: string;
    protocol: string;
    username: string;
    password: string;
    host: string;
    hostname: string;
    port: string;
    pathname: string;
    search: string;
    hash: string;
    readonly searchParams: URLSearchParams;
    toString(): string;
    toJSON(): string;
  }

  class URLSearchParams implements Iterable<[string, string]> {
    constructor(init?: string | Record<string, string> | Iterable<[string, string]>);
    readonly size: number;
    append(name: string, value: string): void;
    delete(name: string, value?: string): void;
    get(name: string): string | null;
    getAll(name: string): string[];
    has(name: string, value?: string): boolean;
    set(name: string, value: string): void;
    sort(): void;
    forEach(callback: (value: string, name: string, params: URLSearchParams) => void, thisArg?: unknown): void;
    entries(): IterableIterator<[string, string]>;
    keys(): IterableIterator<string>;
    values(): IterableIterator<string>;
    [Symbol.iterator](): IterableIterator<[string, string]>;
    toString(): string;
  }

  /** UTF-8 only. */
  class TextEncoder {
    readonly encoding: "utf-8";
    encode(input?: string): Uint8Array;
    encodeInto(source: string, destination: Uint8Array): { read: number; written: number };
  }

  /** UTF-8 only: another encoding label is a RangeError. */
  class TextDecoder {
    constructor(label?: string, options?: { fatal?: boolean; ignoreBOM?: boolean });
    readonly encoding: "utf-8";
    readonly fatal: boolean;
    readonly ignoreBOM: boolean;
    decode(input?: ArrayBuffer | ArrayBufferView, options?: { stream?: boolean }): string;
  }

  class DOMException extends Error {
    constructor(message?: string, name?: string);
  }

  function atob(data: string): string;
  function btoa(data: string): string;

  /** The environment variables the call granted (`--env`), and no others. */
  const env: Readonly<Record<string, string>>;

  /** Randomness from the host, fresh in every sandbox. */
  const crypto: {
    getRandomValues<T extends Int8Array | Uint8Array | Uint8ClampedArray | Int16Array | Uint16Array | Int32Array | Uint32Array | BigInt64Array | BigUint64Array>(array: T): T;
    randomUUID(): string;
  };

  /** The request context a handler gets (docs/contract.md). */
  interface CapsaRequest {
    method: string;
    path: string;
    route?: Record<string, string>;
    query?: Record<string, string>;
    headers?: Record<string, string>;
    body?: string;
    body_base64?: string;
    client?: string;
    text(): Promise<string>;
    json<T = any>(): Promise<T>;
  }

  /** What a handler returns: a Response, a `{ status, headers, body }` object, or any JSON value (200). */
  type CapsaResponse =
    | Response
    | { status: number; headers?: Record<string, string> | Headers; body?: string | unknown; body_base64?: string }
    | unknown;
}
