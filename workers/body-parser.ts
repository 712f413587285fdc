/**
 * application/json bodies for one route scope: a fast parse first (e.g. fast-rows.ts, straight
 * to a Float32Array), and Fastify's own JSON parser (secure-json-parse, with the app's
 * prototype-poisoning settings) whenever the fast parse declines. Errors therefore always come
 * from the usual parser and the route's own checks, worded as before.
 */
import type { FastifyInstance } from "fastify";

export function fastJsonBodies(scope: FastifyInstance, fast: (text: string) => object | null): void {
  const { onProtoPoisoning, onConstructorPoisoning } = scope.initialConfig;
  const usual = scope.getDefaultJsonParser(onProtoPoisoning ?? "error", onConstructorPoisoning ?? "error");
  scope.removeContentTypeParser("application/json");
  scope.addContentTypeParser("application/json", { parseAs: "string" }, (request, body, done) => {
    const parsed = fast(body as string);
    if (parsed !== null) done(null, parsed);
    else usual(request, body as string, done);
  });
}
