import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startWeatherServer, type WeatherServer } from "../../examples/weather/server.js";
import { embeddedSandboxSettings } from "../../server/config/sandbox-settings.js";
import type { RunningGateway } from "../../server/gateway.js";
import { createProtogateClient, type ProtogateClient, SandboxOutcome } from "../../sdk/index.js";
import { createOllamaFake, type OllamaFake } from "../helpers/fake-upstream/index.js";
import { startTestGateway } from "../helpers/start-test-gateway.js";
import { weatherOperator } from "../helpers/weather-operator.js";

const forecastPath = "/weather.v1.WeatherService/GetForecast";

describe("an operator service (examples/weather) called from sandbox code", () => {
  let weather: WeatherServer;
  let ollama: OllamaFake;
  let gateway: RunningGateway;
  let client: ProtogateClient;
  const forecastCalls = () => weather.requests.filter((request) => request.path === forecastPath).length;

  beforeAll(async () => {
    weather = await startWeatherServer({ port: 0 });
    ollama = await createOllamaFake({ models: [{ name: "qwen3:0.6b", capabilities: ["completion", "tools"] }] });
    gateway = await startTestGateway({
      backends: [{ id: "ollama", kind: "ollama", url: ollama.url }],
      overrides: { sandbox: { ...embeddedSandboxSettings, operatorServices: [weatherOperator({ upstreamUrl: weather.url })] } },
    });
    client = createProtogateClient({ baseUrl: gateway.url });
    await client.sandbox.check({ code: "return 1;" });
  });

  afterAll(async () => {
    await gateway.close();
    await ollama.close();
    await weather.close();
  });

  it("is typed and documented in the SDK", async () => {
    const { entries } = await client.sandbox.searchDocs({ query: "gateway.weather.getForecast", limit: 1 });
    expect(entries[0]).toMatchObject({
      path: "gateway.weather.getForecast",
      signature: "gateway.weather.getForecast(request: GetForecastRequest): Promise<GetForecastResponse>",
      protoName: "weather.v1.WeatherService.GetForecast",
    });
    expect(entries[0]?.doc).toContain("The forecast for the next days in one city.");
    const check = await client.sandbox.check({ code: 'return await gateway.weather.getForecast({ cty: "Paris", days: 2 });' });
    expect(check.ok).toBe(false);
    expect(check.diagnostics[0]?.help).toContain("`cty` is not a field of GetForecastRequest. Did you mean `city`?");
    expect(check.diagnostics[0]?.help).toContain("- city: string — The city, for example \"Paris\". Rules: required; length 2–64 characters.");
  });

  it("is proxied to the upstream, together with the gateway's own services", async () => {
    const before = forecastCalls();
    const run = await client.sandbox.execute({
      code: [
        "const { models } = await gateway.models.listModels({});",
        'const forecast = await gateway.weather.getForecast({ city: "Paris", days: 2, units: "UNITS_FAHRENHEIT" });',
        "return { model: models[0]?.id, city: forecast.city, units: forecast.units, days: forecast.days.map((d) => d.date) };",
      ].join("\n"),
    });
    expect(run.outcome).toBe(SandboxOutcome.OK);
    expect(JSON.parse(run.returnJson)).toEqual({
      model: "qwen3:0.6b",
      city: "Paris",
      units: "UNITS_FAHRENHEIT",
      days: ["2026-01-01", "2026-01-02"],
    });
    expect(run.calls.map((c) => [c.service, c.method, c.code])).toEqual([
      ["models", "listModels", "ok"],
      ["weather", "getForecast", "ok"],
    ]);
    expect(forecastCalls()).toBe(before + 1);
  });

  it("collects the upstream's server stream", async () => {
    const run = await client.sandbox.execute({
      code: 'const alerts = await gateway.weather.watchAlerts({ city: "Seville" });\nreturn alerts.map((a) => a.kind);',
    });
    expect(run.returnJson).toBe('["heat","wind"]');
  });

  it("checks the service's own protovalidate rules: invalid_argument in the code, nothing sent upstream", async () => {
    const before = forecastCalls();
    const run = await client.sandbox.execute({
      code: [
        "try {",
        '  return await gateway.weather.getForecast({ city: "Paris", days: 9 });',
        "} catch (e) {",
        "  if (e instanceof SdkError) return { code: e.code, message: e.message };",
        "  throw e;",
        "}",
      ].join("\n"),
    });
    expect(run.outcome).toBe(SandboxOutcome.OK);
    expect(JSON.parse(run.returnJson)).toEqual({
      code: "invalid_argument",
      message: "days: must be greater than or equal to 1 and less than or equal to 7 [uint32.gte_lte]",
    });
    expect(run.calls.map((c) => [c.service, c.method, c.code])).toEqual([["weather", "getForecast", "invalid_argument"]]);
    expect(forecastCalls()).toBe(before);
  });

  it("reports an upstream that is down as unavailable", async () => {
    const down = await startTestGateway({
      backends: [{ id: "ollama", kind: "ollama", url: ollama.url }],
      overrides: { sandbox: { ...embeddedSandboxSettings, operatorServices: [weatherOperator({ upstreamUrl: "http://127.0.0.1:9" })] } },
    });
    try {
      const run = await createProtogateClient({ baseUrl: down.url }).sandbox.execute({
        code: 'try { await gateway.weather.getForecast({ city: "Paris", days: 1 }); return "ok"; } catch (e) { return e instanceof SdkError ? e.code : "other"; }',
      });
      expect(run.returnJson).toBe('"unavailable"');
    } finally {
      await down.close();
    }
  });
});
