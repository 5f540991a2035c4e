// The room token travels in the URL fragment (#token=JWT) so it never reaches server logs.
// The payload is decoded for display only; the server verifies the signature.

/** The token from `location.hash` (`#token=...`), or null. */
export function tokenFromHash(hash = location.hash) {
  const params = new URLSearchParams(hash.replace(/^#/, ""));
  const token = params.get("token");
  return token ? token.trim() : null;
}

/** The decoded JWT payload object; throws on anything that is not a three-part base64url JWT. */
export function decodeTokenPayload(token) {
  const parts = token.split(".");
  if (parts.length !== 3) throw new Error("not a JWT");
  const b64 = parts[1].replace(/-/g, "+").replace(/_/g, "/");
  const padded = b64 + "=".repeat((4 - (b64.length % 4)) % 4);
  const bytes = Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
  const payload = JSON.parse(new TextDecoder().decode(bytes));
  if (payload === null || typeof payload !== "object") throw new Error("payload is not an object");
  return payload;
}

/** Display facts from a payload: identity, name, role, room, grants, expiry. */
export function describeToken(payload) {
  const grants = payload.grants && typeof payload.grants === "object" ? payload.grants : {};
  return {
    identity: String(payload.sub ?? ""),
    name: String(payload.name || payload.sub || ""),
    role: String(payload.role ?? ""),
    room: typeof payload.room === "string" ? payload.room : null,
    grants: {
      publish: grants.publish === true,
      subscribe: grants.subscribe === true,
      admin: grants.admin === true,
      hidden: grants.hidden === true,
    },
    expiresAt: typeof payload.exp === "number" ? new Date(payload.exp * 1000) : null,
  };
}
