// Instantiates calhook's three wasm modules (compiled by workerd when this
// worker loads) `n` times per request, with every import stubbed: what a new
// isolate pays for a module before its first call, measured from outside
// (inside workerd the clock stands still while JS runs).
import receiver from "./receiver.wasm";
import mailer from "./mailer.wasm";
import admin from "./admin.wasm";

const modules = { receiver, mailer, admin };

function stubs(mod) {
  const imports = {};
  for (const { module, name, kind } of WebAssembly.Module.imports(mod)) {
    const ns = (imports[module] ??= {});
    if (kind === "function") ns[name] = () => { throw new Error(`stub ${name} called`); };
    else if (kind === "tag") ns[name] = WebAssembly.JSTag;
    else throw new Error(`cannot stub a ${kind} import (${module}.${name})`);
  }
  return imports;
}

const imports = Object.fromEntries(Object.entries(modules).map(([k, m]) => [k, stubs(m)]));

export default {
  fetch(request) {
    const url = new URL(request.url);
    const name = url.searchParams.get("m");
    const n = Number(url.searchParams.get("n") ?? "1");
    const mod = modules[name];
    if (!mod || !(n >= 0)) return new Response("unknown module or count", { status: 400 });
    let pages = 0;
    for (let i = 0; i < n; i++) {
      const instance = new WebAssembly.Instance(mod, imports[name]);
      pages = instance.exports.memory.buffer.byteLength / 65536;
    }
    return Response.json({ module: name, instances: n, memory_pages: pages });
  },
};
