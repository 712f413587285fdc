/**
 * A helper thread asked one request at a time by id, started on first use and unreferenced while
 * idle (so it never keeps its process alive): the primary's model validator and a worker's model
 * loader both keep heavy work off their event loop this way. A thread that fails answers every
 * request still waiting with `failed(message)`, and the next request starts a new one.
 *
 * A thread asked to end when idle (`endAfterIdleMs`) is terminated once it has had nothing to do
 * for that long: what its last request left on its heap (a model's file bytes, its Forest, the
 * copies made while compiling it) is garbage nothing collects otherwise, since an idle thread
 * allocates nothing and so never runs its garbage collector again. Ending the thread frees all of
 * it at once; what it shared (SharedArrayBuffers, a shared WebAssembly memory) lives on with its
 * other holders.
 */
import { Worker } from "node:worker_threads";

export class RequestThread<Request extends { readonly id: number }, Reply extends { readonly id: number }> {
  #thread: Worker | null = null;
  #next = 1;
  readonly #waiting = new Map<number, (reply: Reply) => void>();
  #idleTimer: NodeJS.Timeout | null = null;

  /**
   * @param module the thread's entry file
   * @param failed the reply a waiting request gets when the thread fails
   * @param options.endAfterIdleMs end the thread after this long without a request (default: never)
   */
  constructor(
    private readonly module: () => string,
    private readonly failed: (message: string) => Reply,
    private readonly options: { readonly endAfterIdleMs?: number } = {},
  ) {}

  /** Sends `request` (given its id) and resolves with the thread's reply to it. */
  ask(request: (id: number) => Request): Promise<Reply> {
    return new Promise<Reply>((resolve) => {
      const id = this.#next++;
      this.#waiting.set(id, resolve);
      const thread = this.#worker();
      this.#stopIdleTimer();
      thread.ref();
      thread.postMessage(request(id));
    });
  }

  #worker(): Worker {
    if (this.#thread) return this.#thread;
    const thread = new Worker(this.module());
    thread.on("message", (reply: Reply) => {
      this.#waiting.get(reply.id)?.(reply);
      this.#waiting.delete(reply.id);
      if (this.#waiting.size === 0) {
        thread.unref();
        this.#endWhenIdle(thread);
      }
    });
    thread.on("error", (error) => {
      for (const resolve of this.#waiting.values()) resolve(this.failed(error.message));
      this.#waiting.clear();
      this.#thread = null;
    });
    thread.on("exit", () => {
      if (this.#thread === thread) this.#thread = null;
    });
    this.#thread = thread;
    return thread;
  }

  #endWhenIdle(thread: Worker): void {
    const after = this.options.endAfterIdleMs;
    if (after === undefined) return;
    this.#idleTimer = setTimeout(() => {
      this.#idleTimer = null;
      if (this.#thread !== thread || this.#waiting.size > 0) return;
      this.#thread = null;
      void thread.terminate();
    }, after);
    this.#idleTimer.unref();
  }

  #stopIdleTimer(): void {
    if (this.#idleTimer) clearTimeout(this.#idleTimer);
    this.#idleTimer = null;
  }

  async close(): Promise<void> {
    this.#stopIdleTimer();
    await this.#thread?.terminate();
    this.#thread = null;
  }
}
