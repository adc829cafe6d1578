/**
 * The gateway's side of the typed code sandbox: the SDK built from the
 * gateway's own descriptors and the operator services', the host bridge
 * that validates and performs SDK calls, the long-lived checker and executor
 * pool with the audit log, and the MCP endpoint. The folder `sandbox/` does
 * the checking and running and knows nothing about Connect or HTTP; this
 * one connects it to the gateway.
 */
import type { Transport } from "@connectrpc/connect";
import type { SandboxSettings } from "../config/sandbox-settings.js";
import type { Logger } from "../log/logger.js";
import { createGatewaySandbox, type GatewaySandbox, type SandboxAuditRecord } from "./gateway-sandbox.js";
import { loadOperatorServices } from "./operator-services.js";
import { createSandboxSdk, loadGatewayDescriptors } from "./sandbox-sdk.js";

export { callerHeader, callerName, peerAddressKey, peerContextValues } from "./caller.js";
export type {
  GatewaySandbox,
  GatewaySandboxOptions,
  RunLimits,
  SandboxAuditRecord,
  SandboxRun,
  SandboxRunRequest,
} from "./gateway-sandbox.js";
export { createGatewaySandbox } from "./gateway-sandbox.js";
export type { HostBridgeOptions } from "./host-bridge.js";
export { createHostBridge } from "./host-bridge.js";
export type { McpEndpointOptions } from "./mcp-endpoint.js";
export { createMcpEndpoint } from "./mcp-endpoint.js";
export type { LoadOperatorServicesOptions, OperatorService } from "./operator-services.js";
export { loadOperatorServices } from "./operator-services.js";
export type { MethodRoute, SandboxSdk, SandboxSdkOptions } from "./sandbox-sdk.js";
export { createSandboxSdk, loadGatewayDescriptors } from "./sandbox-sdk.js";

/** Options of {@link setUpGatewaySandbox}. */
export interface SetUpGatewaySandboxOptions {
  readonly settings: SandboxSettings;
  /** Calls the gateway's own services in-process. */
  readonly gatewayTransport: Transport;
  readonly log: Logger;
  /** Called with each run's audit record (for metrics). */
  readonly onRun?: (record: SandboxAuditRecord) => void;
}

/**
 * What the gateway calls at start-up: loads the operator services, builds
 * the SDK, creates the sandbox and, when `prestart` is set, starts its
 * checker and pool. Resolves to undefined when the sandbox is turned off.
 * Throws a ConfigError for a bad operator service or SDK setting.
 *
 * @example
 * const sandbox = await setUpGatewaySandbox({ settings, gatewayTransport, log });
 * await sandbox?.close();
 */
export async function setUpGatewaySandbox(options: SetUpGatewaySandboxOptions): Promise<GatewaySandbox | undefined> {
  const { settings } = options;
  if (!settings.enabled) return undefined;
  const operators = await loadOperatorServices(settings.operatorServices);
  const sdk = createSandboxSdk({
    gateway: loadGatewayDescriptors(),
    gatewayTransport: options.gatewayTransport,
    operators,
    allowedMethods: settings.allowedMethods,
  });
  const sandbox = createGatewaySandbox({
    sdk,
    settings,
    log: options.log,
    ...(options.onRun === undefined ? {} : { onRun: options.onRun }),
  });
  if (settings.prestart) sandbox.start();
  return sandbox;
}
