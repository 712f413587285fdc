/** Polling for a condition, shared by unit and process-level tests (it starts nothing). */

/** Polls `check` until it returns true; throws after `timeoutMs` or when `abort` says so. */
export async function waitFor(
  check: () => Promise<boolean> | boolean,
  timeoutMs: number,
  abort: () => boolean = () => false,
  context = "",
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (abort()) throw new Error(`gave up waiting: the process exited\n${context}`);
    try {
      if (await check()) return;
    } catch {
      // not yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out after ${timeoutMs} ms`);
}
