/** One destination actor per destination: its workflow id is derived from the destination id. */
export function destinationWorkflowId(destinationId: string): string {
  return `destination-${destinationId}`;
}
