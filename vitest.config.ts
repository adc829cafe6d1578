import { defineConfig } from "vitest/config";

/** Tests live only under test/ (mirroring the source tree). */
export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 20_000,
    hookTimeout: 30_000,
    pool: "forks",
    allowOnly: false,
  },
});
