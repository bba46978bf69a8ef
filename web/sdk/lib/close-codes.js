// WebSocket close codes (docs/protocol.md, "Close codes"; the server's table is
// crates/proto/src/close.rs).

/** Close codes with meaning for reconnection (docs/protocol.md, "Close codes"). */
export const CloseCode = Object.freeze({
  NORMAL: 1000,
  PROTOCOL_ERROR: 1002,
  INVALID_PAYLOAD: 1007,
  MESSAGE_TOO_BIG: 1009,
  INTERNAL_ERROR: 1011,
  SERVICE_RESTART: 1012,
  AUTH_FAILED: 4001,
  AUTH_TIMEOUT: 4002,
  TOKEN_EXPIRED: 4003,
  TOO_MANY_CONNECTIONS: 4005,
  SLOW_CONSUMER: 4008,
  RATE_LIMITED: 4009,
  HEARTBEAT_TIMEOUT: 4010,
});
