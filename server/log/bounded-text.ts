/**
 * Cuts text that came from a client or a backend to `maxChars` before it
 * goes into an error message or a log line, saying how much was left out.
 * Error messages quote what was wrong (an unknown JSON key, an unknown
 * option, a model name), and a client that sends a 3 MB key would
 * otherwise get it back, several times over, and write it to the log:
 * both would grow with whatever a client chooses to send.
 *
 * The cut never splits a UTF-16 surrogate pair, so the text stays valid
 * Unicode.
 *
 * @example
 * boundText("x".repeat(5000), 100); // "xxx…x… (4900 more characters)"
 */
export function boundText(text: string, maxChars: number): string {
  if (text.length <= maxChars) return text;
  let end = maxChars;
  const last = text.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end -= 1; // a high surrogate whose pair would be cut off
  return `${text.slice(0, end)}… (${text.length - end} more characters)`;
}
