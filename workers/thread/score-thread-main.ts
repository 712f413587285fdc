/** The module piscina loads in each scoring thread: the thread's handler, from the factory. */
import { workerData } from "piscina";
import type { ThreadData } from "../scoring/protocol.js";
import { createScoreThread } from "./score-thread.js";

export default createScoreThread(workerData as ThreadData).score;
