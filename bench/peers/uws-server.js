// Peer: uWebSockets.js (npm @trufflesuite/uws-js-unofficial, the native binary for Node 20).
// Rooms are uWS topics from the upgrade URL (`/?rooms=a,b`); a client text frame `{"room":"a",...}`
// is published as is to topic `a` with `app.publish` (every subscriber, the sender included, as
// Chinwag does). Compression off. No auth, no persistence. Usage: node uws-server.js PORT
"use strict";
const uWS = require("@trufflesuite/uws-js-unofficial");

const port = Number(process.argv[2] || 9003);
const decoder = new TextDecoder();

const app = uWS.App()
  .ws("/*", {
    compression: uWS.DISABLED,
    maxPayloadLength: 1 << 20,
    maxBackpressure: 64 << 20,
    idleTimeout: 120,
    upgrade: (res, req, context) => {
      res.upgrade(
        { rooms: req.getQuery("rooms") || "" },
        req.getHeader("sec-websocket-key"),
        req.getHeader("sec-websocket-protocol"),
        req.getHeader("sec-websocket-extensions"),
        context,
      );
    },
    open: (ws) => {
      const rooms = ws.getUserData().rooms;
      if (rooms) for (const r of rooms.split(",")) ws.subscribe(r);
    },
    message: (ws, message, isBinary) => {
      if (isBinary) return;
      let msg;
      try {
        msg = JSON.parse(decoder.decode(message));
      } catch {
        return;
      }
      if (typeof msg.room === "string") app.publish(msg.room, message, false);
    },
  })
  .get("/healthz", (res) => res.end(""))
  .listen("127.0.0.1", port, (token) => {
    if (!token) {
      console.error(`uws peer: cannot listen on ${port}`);
      process.exit(1);
    }
    console.log(`uws peer listening on 127.0.0.1:${port} (native binding, modules ${process.versions.modules})`);
  });
process.on("SIGTERM", () => process.exit(0));
