import { InvalidInputError } from "./errors.js";

const SHAPE = 'the body must be {"instances": [row, ...]} or a single row object keyed by feature name';

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** The rows of a JSON.parse'd body, and whether it was a bare row; throws on any other shape. */
export function batchOf(body: unknown): { instances: unknown[]; single: boolean } {
  if (isPlainObject(body) && Object.hasOwn(body, "instances")) {
    if (!Array.isArray(body.instances))
      throw new InvalidInputError(`"instances" must be an array of rows; ${SHAPE}`);
    if (body.instances.length === 0)
      throw new InvalidInputError('"instances" is empty: send at least one row');
    return { instances: body.instances, single: false };
  }
  if (isPlainObject(body)) return { instances: [body], single: true };
  throw new InvalidInputError(SHAPE);
}

export type InferRequest = {
  id?: string;
  outputs?: { name: string }[];
  parameters?: Record<string, unknown>;
  inputs: {
    name: string;
    shape: number[];
    datatype: string;
    data: unknown[];
    parameters?: Record<string, unknown>;
  }[];
};
