import { ModelState, type ProtogateClient } from "../sdk/index.js";
import { formatTable } from "./text-table.js";

const stateNames: Record<ModelState, string> = {
  [ModelState.UNSPECIFIED]: "unknown",
  [ModelState.AVAILABLE]: "available",
  [ModelState.LOADING]: "loading",
  [ModelState.LOADED]: "loaded",
  [ModelState.UNAVAILABLE]: "unavailable",
};

/**
 * `protogate models`: prints a table of every model with its backend,
 * state, context length and known capabilities, through the SDK.
 */
export async function modelsCommand(client: ProtogateClient, print: (line: string) => void): Promise<void> {
  const { models } = await client.models.listModels({});
  if (models.length === 0) {
    print("no models (is a backend configured and running? see `protogate serve --help`)");
    return;
  }
  const rows = models.map((model) => {
    const capabilities = model.capabilities;
    const known = capabilities === undefined ? [] : Object.entries(capabilities).filter(([key, value]) => !key.startsWith("$") && value === true).map(([key]) => key);
    return [
      model.id,
      model.backend,
      stateNames[model.state],
      model.contextLength === undefined ? "-" : String(model.contextLength),
      known.length === 0 ? "-" : known.join(","),
    ];
  });
  for (const line of formatTable(["MODEL", "BACKEND", "STATE", "CONTEXT", "CAPABILITIES"], rows)) print(line);
}
