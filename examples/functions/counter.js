// A handler with state in a KV namespace: `capsa run examples/functions/counter.js --handler --kv demo`.
async function handler(request) {
  const count = Number((await kv.get("count")) ?? "0") + 1;
  await kv.set("count", String(count));
  return { status: 200, headers: { "content-type": "text/plain" }, body: `call number ${count}\n` };
}
