/**
 * application/json bodies for one route scope: a fast parse first (e.g. fast-rows.ts, straight
 * to a typed array), and Fastify's own JSON parser (secure-json-parse, with the app's
 * prototype-poisoning settings) whenever the fast parse declines. Errors therefore always come
 * from the usual parser and the route's own checks, worded as before.
 */
import type { FastifyInstance, FastifyRequest } from "fastify";

export function fastJsonBodies(
  scope: FastifyInstance,
  fast: (body: Buffer, request: FastifyRequest) => object | null,
  /**
   * Before the usual parser, for bodies it must not read (an OIP body with INT64 data, whose digits
   * JSON.parse would round): the parsed body, or undefined to leave it to the usual parser.
   */
  special?: (body: Buffer) => unknown,
): void {
  const { onProtoPoisoning, onConstructorPoisoning } = scope.initialConfig;
  const usual = scope.getDefaultJsonParser(onProtoPoisoning ?? "error", onConstructorPoisoning ?? "error");
  scope.removeContentTypeParser("application/json");
  // As bytes: the fast parse reads them undecoded, and the usual parser decodes them itself.
  scope.addContentTypeParser("application/json", { parseAs: "buffer" }, (request, body, done) => {
    const buffer = body as Buffer;
    let parsed: object | null;
    try {
      parsed = fast(buffer, request);
    } catch (error) {
      // A fast reader that recognises the body and finds it wrong (a binary-data body's framing).
      return done(error as Error, undefined);
    }
    if (parsed !== null) return done(null, parsed);
    if (special) {
      let read: unknown;
      try {
        read = special(buffer);
      } catch (error) {
        return done(error as Error, undefined);
      }
      if (read !== undefined) return done(null, read);
    }
    // secure-json-parse takes a Buffer as well (it decodes it); Fastify's type says string only.
    usual(request, buffer as unknown as string, done);
  });
}
