// A TypeScript handler with typed input; the types are stripped before it runs. See docs/contract.md.
/// <reference path="../../guests/js/capsa.d.ts" />

interface Greeting {
  hello: string;
  length: number;
}

function handler(request: CapsaRequest): { status: number; headers: Record<string, string>; body: string } {
  const name: string = request.query?.name ?? "world";
  const greeting: Greeting = { hello: name, length: name.length };
  return { status: 200, headers: { "content-type": "application/json" }, body: JSON.stringify(greeting) };
}
