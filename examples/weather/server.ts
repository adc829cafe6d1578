/**
 * A tiny Connect implementation of weather.v1.WeatherService: the example
 * operator service that sandbox code reaches through protogate (see
 * docs/sandbox.md). Forecasts are made up, deterministically from the city
 * name, so tests and the README can rely on them.
 *
 * Run it: `npx tsx examples/weather/server.ts --port 9090`, then start
 * protogate with examples/weather/protogate.yaml.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { pathToFileURL } from "node:url";
import type { ConnectRouter, ServiceImpl } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { createValidateInterceptor } from "@connectrpc/validate";
import { type DayForecast, Units, WeatherService } from "./gen/weather/v1/weather_service_pb.js";

/** One HTTP request the server received (before any validation). */
export interface ReceivedRequest {
  readonly method: string;
  /** e.g. /weather.v1.WeatherService/GetForecast */
  readonly path: string;
}

/** A listening weather server. */
export interface WeatherServer {
  /** e.g. http://127.0.0.1:9090 */
  readonly url: string;
  /** Every request received, in order: tests check what reached the upstream. */
  readonly requests: readonly ReceivedRequest[];
  close(): Promise<void>;
}

const summaries = ["sunny", "cloudy", "rain", "snow"] as const;

/** A small stable number from text, so the same city always gets the same weather. */
function seedOf(text: string): number {
  let seed = 7;
  for (const char of text.toLowerCase()) seed = (seed * 31 + (char.codePointAt(0) ?? 0)) % 9973;
  return seed;
}

/** The service: forecasts from the city name, and one heat alert for cities starting with "S". */
export const weatherService: ServiceImpl<typeof WeatherService> = {
  getForecast(request) {
    const seed = seedOf(request.city);
    const units = request.units === Units.FAHRENHEIT ? Units.FAHRENHEIT : Units.CELSIUS;
    const days: Array<Omit<DayForecast, "$typeName">> = [];
    for (let day = 0; day < request.days; day++) {
      const lowCelsius = ((seed + day * 3) % 15) - 2;
      const highCelsius = lowCelsius + 4 + ((seed + day) % 6);
      const convert = (celsius: number) => (units === Units.FAHRENHEIT ? Math.round(celsius * 1.8 + 32) : celsius);
      days.push({
        date: new Date(Date.UTC(2026, 0, 1 + day)).toISOString().slice(0, 10),
        low: convert(lowCelsius),
        high: convert(highCelsius),
        summary: summaries[(seed + day) % summaries.length] ?? "sunny",
      });
    }
    return { city: request.city, units, days };
  },
  async *watchAlerts(request) {
    if (request.city.toLowerCase().startsWith("s")) {
      yield { kind: "heat", text: `Heat warning for ${request.city}` };
      yield { kind: "wind", text: `Strong wind in ${request.city} tonight` };
    }
  },
};

/** The Connect routes; the adapter adds validation of the proto's protovalidate rules. */
function routes(router: ConnectRouter): void {
  router.service(WeatherService, weatherService);
}

/**
 * Starts the weather service on HTTP/1.1 (Connect and gRPC-Web).
 *
 * @example
 * const weather = await startWeatherServer({ port: 0 });
 * console.log(weather.url);
 * await weather.close();
 */
export async function startWeatherServer(options: { readonly host?: string; readonly port?: number } = {}): Promise<WeatherServer> {
  const requests: ReceivedRequest[] = [];
  const handler = connectNodeAdapter({ routes, interceptors: [createValidateInterceptor()], jsonOptions: { ignoreUnknownFields: false } });
  const server = createServer((request, response) => {
    requests.push({ method: request.method ?? "", path: (request.url ?? "").split("?")[0] ?? "" });
    handler(request, response);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 9090, options.host ?? "127.0.0.1", () => resolve());
  });
  const { address, port } = server.address() as AddressInfo;
  return {
    url: `http://${address}:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const portFlag = process.argv.indexOf("--port");
  const port = portFlag === -1 ? 9090 : Number(process.argv[portFlag + 1]);
  const weather = await startWeatherServer({ port });
  console.log(`weather service listening on ${weather.url}`);
  const stop = () => void weather.close().then(() => process.exit(0));
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}
