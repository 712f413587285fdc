/**
 * The access log is written in batches (4 KiB or 250 ms): every line still arrives, whether the
 * worker keeps running (the periodic flush) or stops gracefully with lines still buffered. A line
 * names the model version the request was for.
 */
import t from "tap";
import { postJson, startServer, waitFor } from "../helpers/server.js";

const ROW = { height: 180, weight: 80, shoe_size: 44 };

t.test("every request's line arrives, while running and at a graceful stop", async (t) => {
  const server = await startServer({ WORKERS: "1", ACCESS_LOG: "on" });
  t.teardown(() => server.stop());
  const accessLines = () => server.events().filter((e) => e.log === "access" && e.path === "/predict");

  // A few requests (far less than 4 KiB of lines): written by the periodic flush.
  for (let i = 0; i < 3; i++) t.equal((await postJson(`${server.url}/predict`, ROW)).status, 200);
  await waitFor(() => accessLines().length === 3, 5000);
  t.pass("a quiet worker's lines arrive within the flush period");

  // Then a burst, and a stop straight after it: nothing buffered may be lost.
  const burst = 200;
  await Promise.all(Array.from({ length: burst }, () => postJson(`${server.url}/predict`, ROW)));
  t.equal(await server.stop("SIGTERM"), 0, "clean exit");
  const lines = accessLines();
  t.equal(lines.length, 3 + burst, `${lines.length} access lines for ${3 + burst} requests`);
  t.match(lines[0], {
    method: "POST",
    status: 200,
    rows: 1,
    model: "default",
    model_version: /^[0-9a-f]{12}$/,
    client: "127.0.0.1",
  });
});
