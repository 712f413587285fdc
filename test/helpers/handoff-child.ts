/**
 * A forked process that hands the primary (its parent) connections as the balancer does, then
 * exits at once ("exit") or once they are written ("wait", workers/process/sent-to-primary.ts).
 */
import { connect, createServer, type Socket } from "node:net";
import { sentToPrimary } from "../../workers/process/sent-to-primary.js";

const HANDLES = 3;
const mode = process.argv[2];
const accepted: Socket[] = [];
const server = createServer({ pauseOnConnect: true }, (socket) => {
  accepted.push(socket);
  if (accepted.length < HANDLES) return;
  for (const socket of accepted) process.send?.({ type: "handoff" }, socket);
  if (mode === "wait") void sentToPrimary().then(() => process.exit(0));
  else process.exit(0);
});
server.listen(0, "127.0.0.1", () => {
  const { port } = server.address() as { port: number };
  for (let i = 0; i < HANDLES; i++) connect(port, "127.0.0.1");
});
