// Counts the crossings between a Rust worker's wasm and the JS runtime:
// every call from wasm into JS (wasm-bindgen's imports: runtime APIs, string
// and value transfers, promise glue) and every call from JS into wasm (the
// entry point, and each resumption of a future when a promise settles).
// Imported first by the bench entry (`calhook.js`), it patches
// `WebAssembly.Instance` before the worker's module instantiates its wasm.
// `GET /__crossings` (answered by `withCrossings`) returns the counts since
// the last call and resets them.

const counts = { toJs: new Map(), toWasm: new Map() };

function counted(map, name, f) {
  return function (...args) {
    map.set(name, (map.get(name) ?? 0) + 1);
    return f.apply(this, args);
  };
}

const RealInstance = WebAssembly.Instance;
WebAssembly.Instance = function (module, imports) {
  const wrappedImports = {};
  for (const [ns, fns] of Object.entries(imports ?? {})) {
    wrappedImports[ns] = {};
    for (const [name, v] of Object.entries(fns)) {
      // wasm-bindgen's names end in a hash: count by the readable part.
      const label = name.replace(/_[0-9a-f]{16}$/, "");
      wrappedImports[ns][name] = typeof v === "function" ? counted(counts.toJs, label, v) : v;
    }
  }
  const instance = new RealInstance(module, wrappedImports);
  const exports = {};
  for (const [name, v] of Object.entries(instance.exports)) {
    exports[name] = typeof v === "function" ? counted(counts.toWasm, name.replace(/__h[0-9a-f]{16}$/, ""), v) : v;
  }
  return { exports };
};

/** The counts since the last call, and a reset. */
export function takeCrossings() {
  const out = {
    toJs: Object.fromEntries(counts.toJs),
    toWasm: Object.fromEntries(counts.toWasm),
  };
  counts.toJs.clear();
  counts.toWasm.clear();
  return out;
}

/** A workers-rs entrypoint class that also answers `GET /__crossings`. */
export function withCrossings(inner) {
  return class extends inner {
    async fetch(request) {
      if (new URL(request.url).pathname === "/__crossings") return Response.json(takeCrossings());
      return super.fetch(request);
    }
  };
}
