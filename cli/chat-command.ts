import { type ProtogateClient, Role, streamChat } from "../sdk/index.js";
import { forTerminal } from "./terminal-text.js";

/** Where the chat command writes: streamed text goes to `write`, the rest to `note`. */
export interface ChatOutput {
  readonly write: (text: string) => void;
  readonly note: (line: string) => void;
}

/**
 * `protogate chat MODEL "prompt"`: streams the answer to the terminal as it
 * is generated and shows each tool call (name, id, exact arguments) once it
 * is complete. Tool calls are only shown, never executed. Ctrl-C cancels
 * the stream, which stops generation on the backend. What the model wrote
 * goes through forTerminal: it cannot drive the terminal.
 */
export async function chatCommand(client: ProtogateClient, args: readonly string[], output: ChatOutput, signal?: AbortSignal): Promise<void> {
  const [model, ...words] = args;
  const prompt = words.join(" ");
  if (model === undefined || prompt === "") throw new Error('usage: protogate chat MODEL "prompt"');
  let reasoning = false;
  for await (const chunk of streamChat(
    client,
    { model, messages: [{ role: Role.USER, content: prompt }] },
    signal === undefined ? {} : { signal },
  )) {
    switch (chunk.kind) {
      case "reasoning":
        if (!reasoning) output.note("[thinking]");
        reasoning = true;
        output.write(forTerminal(chunk.text));
        break;
      case "text":
        if (reasoning) output.write("\n[answer]\n");
        reasoning = false;
        output.write(forTerminal(chunk.text));
        break;
      case "tool-call":
        output.note(forTerminal(`\n[tool call ${chunk.call.name} id=${chunk.call.id}] ${chunk.call.arguments}`));
        break;
      case "end": {
        const usage = chunk.end.usage;
        const timings = chunk.end.timings;
        output.note(
          `\n[${chunk.end.rawFinishReason || "done"}; ${usage?.promptTokens ?? 0} in / ${usage?.completionTokens ?? 0} out; ` +
            `first token ${Math.round(timings?.timeToFirstTokenMs ?? 0)} ms, total ${Math.round(timings?.totalMs ?? 0)} ms]`,
        );
        for (const warning of chunk.end.warnings) output.note(forTerminal(`[warning] ${warning.message}`));
        break;
      }
      case "start":
        break;
    }
  }
}
