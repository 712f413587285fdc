/** The repository API's bearer check: the token exactly, as a bearer, whatever case the scheme has. */
import t from "tap";
import { bearerMatches } from "../../server/repository-api.js";

t.test("the bearer token, and nothing else", async (t) => {
  const token = "0123456789abcdef-token";
  t.ok(bearerMatches(`Bearer ${token}`, token));
  t.ok(bearerMatches(`bearer ${token}`, token), "the scheme is case-insensitive (RFC 7235)");
  for (const header of [
    undefined,
    "",
    token,
    `Bearer ${token}x`,
    `Bearer ${token.slice(1)}`,
    `Basic ${token}`,
    `Bearer  `,
    `Bearer ${token} extra`,
  ])
    t.notOk(bearerMatches(header, token), JSON.stringify(header));
  t.notOk(bearerMatches("Bearer ", ""), "no token configured: nothing matches");
});
