// The edge-latency model of `scripts/bench`: wraps a receiver's `env` so that
// every D1 call (first/all/run/raw on a statement, batch, exec) and every
// queue send (send, sendBatch) waits `BENCH_D1_DELAY_MS` / `BENCH_QUEUE_DELAY_MS`
// (vars) before it runs, as a write to a distant D1 primary and a queue send
// take at the edge. Local `wrangler dev` answers both in well under a
// millisecond, which hides how many round trips a request waits for in turn.
// The same file wraps calhook's receiver and the TypeScript anchors alike.
// Bindings stay what workers-rs expects: a Proxy keeps the binding's
// constructor (`D1Database`, `WorkerQueue`).

const sleep = (ms) => (ms > 0 ? new Promise((r) => setTimeout(r, ms)) : Promise.resolve());
/** The real statement behind each wrapped one, for `batch`. */
const realStatement = new WeakMap();
const wrappedEnvs = new WeakMap();

function statement(s, ms) {
  const wrapped = new Proxy(s, {
    get(target, key) {
      const v = Reflect.get(target, key);
      // The constructor as it is: workers-rs checks its name.
      if (typeof v !== "function" || key === "constructor") return v;
      if (key === "bind") return (...args) => statement(v.apply(target, args), ms);
      if (key === "first" || key === "all" || key === "run" || key === "raw") {
        return async (...args) => {
          await sleep(ms);
          return v.apply(target, args);
        };
      }
      return v.bind(target);
    },
  });
  realStatement.set(wrapped, s);
  return wrapped;
}

function database(db, ms) {
  return new Proxy(db, {
    get(target, key) {
      const v = Reflect.get(target, key);
      // The constructor as it is: workers-rs checks its name.
      if (typeof v !== "function" || key === "constructor") return v;
      if (key === "prepare") return (sql) => statement(v.call(target, sql), ms);
      if (key === "batch") {
        return async (list) => {
          await sleep(ms);
          return v.call(target, Array.from(list, (s) => realStatement.get(s) ?? s));
        };
      }
      if (key === "exec") {
        return async (...args) => {
          await sleep(ms);
          return v.apply(target, args);
        };
      }
      return v.bind(target);
    },
  });
}

function queue(q, ms) {
  return new Proxy(q, {
    get(target, key) {
      const v = Reflect.get(target, key);
      // The constructor as it is: workers-rs checks its name.
      if (typeof v !== "function" || key === "constructor") return v;
      if (key === "send" || key === "sendBatch") {
        return async (...args) => {
          await sleep(ms);
          return v.apply(target, args);
        };
      }
      return v.bind(target);
    },
  });
}

/** `env` with its D1 databases and queue producers delayed. */
export function withLatency(env) {
  if (wrappedEnvs.has(env)) return wrappedEnvs.get(env);
  const d1 = Number(env.BENCH_D1_DELAY_MS ?? 30);
  const q = Number(env.BENCH_QUEUE_DELAY_MS ?? 10);
  const bindings = new Map();
  const wrapped = new Proxy(env, {
    get(target, key) {
      if (bindings.has(key)) return bindings.get(key);
      const v = Reflect.get(target, key);
      let out = v;
      const kind = v && typeof v === "object" ? v.constructor?.name : undefined;
      if (kind === "D1Database") out = database(v, d1);
      if (kind === "WorkerQueue") out = queue(v, q);
      bindings.set(key, out);
      return out;
    },
  });
  wrappedEnvs.set(env, wrapped);
  return wrapped;
}

/** A worker's default export with its `fetch` given the delayed `env`:
 *  an entrypoint class (workers-rs) or a handler object (the anchors). */
export function withLatencyEntry(inner) {
  if (typeof inner === "function") {
    return class extends inner {
      constructor(ctx, env) {
        super(ctx, withLatency(env));
      }
    };
  }
  return { ...inner, fetch: (request, env, ctx) => inner.fetch(request, withLatency(env), ctx) };
}
