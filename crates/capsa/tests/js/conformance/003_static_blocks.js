// expect: [["block1:3","field","block2:1"],true,1,2]
// covers: class static blocks, static fields evaluation order, static private fields
const log = [];
class Config {
  static defaults = { retries: 3 };
  static #registry = new Map();
  static {
    log.push('block1:' + this.defaults.retries);
    Config.#registry.set('a', 1);
  }
  static later = log.push('field');
  static {
    log.push('block2:' + Config.#registry.size);
    this.ready = true;
  }
  static lookup(k) { return Config.#registry.get(k); }
}
[log, Config.ready, Config.lookup('a'), Config.later]
