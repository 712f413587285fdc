/**
 * Models from a path, file://, s3:// or https://, for the primary only: it fetches, verifies and
 * hands the bytes to its workers, which never talk to S3 or the network.
 */
export { ModelSourceError, type ModelSourceErrorCode, ModelSourceErrorCodes } from "./errors.js";
export {
  checkModel,
  FETCH_RESULTS,
  type FetchObserver,
  type FetchResult,
  fetchFrom,
  fetchModel,
  modelSource,
  type SourceSettings,
} from "./fetch-model.js";
export type { FetchedModel, ModelOrigin, UnchangedModel } from "./origin.js";
export { ModelPoller, type PollerLog, type PollerSettings } from "./poller.js";
