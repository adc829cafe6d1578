import { setFlagsFromString } from "node:v8";

/**
 * Turns off V8's allocation-site pretenuring for the protogate process.
 * Imported first by cli/main.ts, so it applies before the gateway has
 * allocated anything of a request.
 *
 * Why: pretenuring lets V8 allocate objects from a site whose objects
 * often survived a scavenge directly in the old generation. For a
 * gateway, whose request objects live a few milliseconds, that backfires:
 * once V8 pretenures the objects of some request-scoped site, those
 * objects hold younger ones of the same request, which scavenges then
 * keep and promote until the next full collection. Measured with
 * `bench/gc-pressure.ts` at concurrency 32 (docs/benchmarks.md,
 * "Pretenuring"): 6.5 KB promoted per request whenever this regime set
 * in, about 300 B when it did not, and 1 B with pretenuring off. The
 * flag is read when the collector runs, so setting it at start-up
 * works; an application that embeds `startGateway` decides this for its
 * own process.
 */
setFlagsFromString("--no-allocation-site-pretenuring");
