// Preloaded into the Portkey process by bench/gateway-overhead.ts
// (`node --import ./bench/peers/loopback-only.mjs …/start-server.js`).
// Portkey's Node entry calls `listen(port)` without a host, which binds every
// interface; a benchmark must stay on loopback, so a listen call that names
// no host gets 127.0.0.1. Nothing else changes: this runs once, before any
// request, and adds no work per request.
import net from "node:net";

const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function listenOnLoopback(...args) {
  const [first, second] = args;
  if (typeof first === "number" && (second === undefined || typeof second === "function")) {
    return listen.call(this, first, "127.0.0.1", ...args.slice(1).filter((arg) => arg !== undefined));
  }
  return listen.apply(this, args);
};
