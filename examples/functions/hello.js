// A JavaScript handler: `capsa run examples/functions/hello.js --handler` with the request context on
// stdin, or deploy it to the gateway. See docs/contract.md.
export default {
  async fetch(request) {
    const name = request.query?.name ?? "world";
    return Response.json({ hello: name, method: request.method });
  },
};
