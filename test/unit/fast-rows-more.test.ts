/**
 * The fast row parser, continued (see test/unit/fast-rows.test.ts): the second half of the default model's
 * bodies from another seed, and OIP infer bodies.
 */
import t from "tap";
import { checkInferBodies, checkPredictBodies } from "../helpers/fast-rows-cases.js";

const RUNS = Number(process.env.FAST_ROWS_RUNS ?? 100_000);

checkPredictBodies(t, "default", Math.ceil(RUNS / 2), 20261125);
checkInferBodies(t, Math.ceil(RUNS / 5), 20261124);
