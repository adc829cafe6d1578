/** Control characters a terminal acts on: C0 but tab and newline, DEL, and C1. */
const terminalControls = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g;

/**
 * Text from the gateway made safe to print: control characters become
 * visible `\uXXXX` escapes, and carriage returns are dropped (CRLF becomes
 * LF).
 *
 * Why: what the CLI prints comes from a model (answers, reasoning, tool
 * calls) or a backend (model ids), and either can carry escape sequences —
 * a prompt-injected model could clear the screen, rewrite what was shown
 * with `\r`, retitle the window or, on some terminals, write the clipboard.
 * The SDK, curl and `buf curl` still give the exact bytes; JSON text (tool
 * arguments) never holds a raw control character, so it prints unchanged.
 *
 * @example
 * forTerminal("ok\u001b[2J"); // "ok\\u001b[2J"
 */
export function forTerminal(text: string): string {
  return text.replace(terminalControls, (char) => (char === "\r" ? "" : `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`));
}
