/** What each kind of source (file, S3, HTTPS) does for fetchModel and the poller. */
import type { Validators } from "./origin.js";

export type Download =
  | { readonly modified: true; readonly bytes: Uint8Array; readonly validators: Validators }
  | { readonly modified: false };

/** A probe's answer: the version the source holds now, or that `since` still describes it. */
export type Probe = (Validators & { sha256?: string }) | "not-modified";

export interface SourceDriver {
  /** The source as logs may show it. */
  readonly source: string;
  /** Fetched over a network, so worth a copy in MODEL_CACHE_DIR. */
  readonly remote: boolean;
  /** The object's bytes, or `{ modified: false }` when `since` still describes it (conditional GET). */
  download(since: Validators | undefined, signal: AbortSignal): Promise<Download>;
  /** The cheapest look at the current version (S3 HEAD, HTTPS conditional GET, stat). */
  probe(since: Validators | undefined, signal: AbortSignal): Promise<Probe>;
}
