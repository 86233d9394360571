// expect: [8080,null,null,"b",null,"called",null,null,null,"undefined",true,0,"fallback",2]
// covers: optional chaining on properties, computed members, calls, short-circuiting (no side effects), delete and typeof with ?.
const cfg = { server: { port: 8080, hosts: ['a', 'b'], fn() { return 'called'; } }, nul: null };
let calls = 0;
const side = () => { calls++; return 'k'; };
const r = [
  cfg.server?.port,
  cfg.client?.port,
  cfg.client?.port.deep.deeper,
  cfg.server.hosts?.[1],
  cfg.missing?.[side()],
  cfg.server.fn?.(),
  cfg.server.nofn?.(),
  cfg.nul?.x,
  (cfg.client?.a)?.b,
  typeof cfg.client?.x,
  delete cfg.client?.x,
  calls,
  null?.x ?? 'fallback',
  cfg?.['ser' + 'ver']?.hosts.length,
];
r
