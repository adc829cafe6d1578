import { describe, expect, it } from "vitest";
import { parseServeArgs } from "../../../server/config/cli-args.js";
import { ConfigError } from "../../../server/config/config-file.js";

describe("parseServeArgs", () => {
  it("returns nothing set for no flags", () => {
    expect(parseServeArgs([])).toEqual({ configPath: undefined, host: undefined, port: undefined, backends: [] });
  });

  it("reads every flag, in both `--flag value` and `--flag=value` form, keeping backends in order", () => {
    expect(
      parseServeArgs([
        "--config",
        "protogate.yaml",
        "--host=0.0.0.0",
        "--port",
        "0",
        "--backend",
        "openai=http://127.0.0.1:8080",
        "--backend=ollama=http://127.0.0.1:11434/",
        "--backend",
        "openai=https://gpu-box:8000",
      ]),
    ).toEqual({
      configPath: "protogate.yaml",
      host: "0.0.0.0",
      port: 0,
      backends: [
        { kind: "openai", url: "http://127.0.0.1:8080" },
        { kind: "ollama", url: "http://127.0.0.1:11434/" },
        { kind: "openai", url: "https://gpu-box:8000" },
      ],
    });
  });

  it("collects --allow-host names, checked by listen.allowed_hosts' own rule", () => {
    expect(parseServeArgs(["--allow-host", "gateway.internal", "--allow-host=*"]).allowedHosts).toEqual(["gateway.internal", "*"]);
    expect(() => parseServeArgs(["--allow-host", "http://gateway.internal"])).toThrow(
      new ConfigError('--allow-host must be a host name such as gateway.internal, or *, got "http://gateway.internal"'),
    );
  });

  it("lets a later flag win", () => {
    expect(parseServeArgs(["--port", "1", "--port=2"]).port).toBe(2);
  });

  it.each([
    [["--verbose"], 'unknown option "--verbose" (serve takes --config FILE, --host HOST, --port N, --backend KIND=URL, --allow-host NAME)'],
    [["serve"], 'unknown option "serve" (serve takes --config FILE, --host HOST, --port N, --backend KIND=URL, --allow-host NAME)'],
    [["--config"], "--config needs a value"],
    [["--port"], "--port needs a value"],
    [["--port", "65536"], '--port must be a number from 0 to 65535, got "65536"'],
    [["--port", "-1"], '--port must be a number from 0 to 65535, got "-1"'],
    [["--port=8o80"], '--port must be a number from 0 to 65535, got "8o80"'],
    [["--port="], '--port must be a number from 0 to 65535, got ""'],
    [["--backend", "http://127.0.0.1:8080"], '--backend must be KIND=URL with KIND openai or ollama, got "http://127.0.0.1:8080"'],
    [["--backend", "vllm=http://127.0.0.1:8000"], '--backend must be KIND=URL with KIND openai or ollama, got "vllm=http://127.0.0.1:8000"'],
    [["--backend", "=http://x"], '--backend must be KIND=URL with KIND openai or ollama, got "=http://x"'],
    [["--backend", "constructor=http://x"], '--backend must be KIND=URL with KIND openai or ollama, got "constructor=http://x"'],
    [["--backend", "toString=http://x"], '--backend must be KIND=URL with KIND openai or ollama, got "toString=http://x"'],
    [["--backend", "openai=127.0.0.1:8080"], '--backend URL must start with http:// or https://, got "127.0.0.1:8080"'],
    [["--backend", "ollama=ftp://x"], '--backend URL must start with http:// or https://, got "ftp://x"'],
  ])("rejects %j", (argv, message) => {
    expect(() => parseServeArgs(argv)).toThrow(new ConfigError(message));
  });
});
