type Stopper = () => Promise<void>;
const stoppers: Stopper[] = [];

/** Registers a shared server's stop function, run once after all tests. */
export function onShutdown(stop: Stopper): void {
  stoppers.push(stop);
}

export async function stopSharedServices(): Promise<void> {
  for (const stop of stoppers.splice(0).reverse()) await stop();
}
