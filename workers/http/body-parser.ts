/**
 * application/json bodies for one route scope: a fast parse first (e.g. fast-rows.ts, straight
 * to a Float32Array), and Fastify's own JSON parser (secure-json-parse, with the app's
 * prototype-poisoning settings) whenever the fast parse declines. Errors therefore always come
 * from the usual parser and the route's own checks, worded as before.
 */
import type { FastifyInstance } from "fastify";

export function fastJsonBodies(scope: FastifyInstance, fast: (body: Buffer) => object | null): void {
  const { onProtoPoisoning, onConstructorPoisoning } = scope.initialConfig;
  const usual = scope.getDefaultJsonParser(onProtoPoisoning ?? "error", onConstructorPoisoning ?? "error");
  scope.removeContentTypeParser("application/json");
  // As bytes: the fast parse reads them undecoded, and the usual parser decodes them itself.
  scope.addContentTypeParser("application/json", { parseAs: "buffer" }, (request, body, done) => {
    const parsed = fast(body as Buffer);
    if (parsed !== null) done(null, parsed);
    // secure-json-parse takes a Buffer as well (it decodes it); Fastify's type says string only.
    else usual(request, body as unknown as string, done);
  });
}
