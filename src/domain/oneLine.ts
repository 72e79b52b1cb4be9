/** `text` on one line: each run of whitespace (newlines included) becomes one space, none at the ends. */
export function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}
