// A thin wrapper over the Socket.IO connection of docs/protocol.md: requests are events with
// an acknowledgement, turned into promises that resolve with the result or reject on {error}.

const DEFAULT_TIMEOUT_MS = 15000;
// A refusal that says "ask again shortly" (docs/protocol.md, "Error codes"): the room is busy
// while an emergency's withdrawal decides whether it closes; it closes, or admits again, within
// 30 s (an undecided hold lapses then), so the tries below last longer than that.
export const ROOM_BUSY = "room_busy";
const BUSY_RETRY_MS = [500, 1000, 2000, 4000, 5000];
const BUSY_TRIES = 12; // 47.5 s of waiting in all

/** How long to wait before asking again after the `attempt`-th refusal in a row (0 first)
 * with `code`; null: not again (not a refusal to retry, or tried long enough). */
export function retryDelay(code, attempt) {
  if (code !== ROOM_BUSY || attempt >= BUSY_TRIES) return null;
  return BUSY_RETRY_MS[Math.min(attempt, BUSY_RETRY_MS.length - 1)];
}

export class SignalingError extends Error {
  constructor(code, message) {
    super(message || code);
    this.name = "SignalingError";
    this.code = code;
  }
}

export class Signaling {
  /**
   * `io` is the socket.io-client factory (room-live.js imports it from the ES module build).
   * `room`, when given, is the room the page is for: the server refuses a token of another one.
   */
  constructor(io, url, token, room = null) {
    this.socket = io(url, {
      auth: room ? { token, room } : { token },
      transports: ["websocket"],
      autoConnect: false,
      // weak rural uplinks: keep retrying, but not hammering
      reconnectionDelay: 1000,
      reconnectionDelayMax: 8000,
    });
  }

  /** Connect once; resolves on `connect`, rejects with a SignalingError on `connect_error`. */
  connect() {
    return new Promise((resolve, reject) => {
      const onConnect = () => {
        cleanup();
        resolve();
      };
      const onError = (err) => {
        // a refusal by the server (err.data set) is final; a transport failure is retried
        if (err && err.data) {
          cleanup();
          this.socket.disconnect();
          reject(new SignalingError(err.data.code || "connect_error", err.data.message || err.message));
        }
      };
      const cleanup = () => {
        this.socket.off("connect", onConnect);
        this.socket.off("connect_error", onError);
      };
      this.socket.on("connect", onConnect);
      this.socket.on("connect_error", onError);
      this.socket.connect();
    });
  }

  /** Emit `event` with `payload`; resolve with the ack result, reject on `{error}` or timeout. */
  request(event, payload = {}, timeoutMs = DEFAULT_TIMEOUT_MS) {
    return new Promise((resolve, reject) => {
      this.socket.timeout(timeoutMs).emit(event, payload, (err, result) => {
        if (err && !this.socket.connected) {
          reject(new SignalingError("disconnected", `connection closed before the answer to ${event}`));
        } else if (err) {
          reject(new SignalingError("timeout", `no answer to ${event} within ${timeoutMs} ms`));
        } else if (result && typeof result === "object" && result.error) {
          reject(new SignalingError(result.error.code, result.error.message));
        } else {
          resolve(result);
        }
      });
    });
  }

  on(event, handler) {
    this.socket.on(event, handler);
    return () => this.socket.off(event, handler);
  }

  get connected() {
    return this.socket.connected;
  }

  close() {
    this.socket.disconnect();
  }
}
