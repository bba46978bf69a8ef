// Peer: `ws` 8 on Node. A minimal "broadcast to the room" server, the way its users write one.
// Rooms come from the upgrade URL (`/?rooms=a,b`); a client text frame `{"room":"a",...}` is sent
// as is to every open connection in room `a` (the sender included, as Chinwag does).
// No auth, no persistence. Usage: node ws-server.js PORT
"use strict";
const http = require("http");
const { WebSocketServer, WebSocket } = require("ws");

const port = Number(process.argv[2] || 9001);
const rooms = new Map(); // room name -> Set of sockets

const server = http.createServer((req, res) => {
  res.writeHead(req.url === "/healthz" ? 200 : 404);
  res.end();
});
const wss = new WebSocketServer({ server, perMessageDeflate: false, clientTracking: false });

wss.on("connection", (ws, req) => {
  const q = new URL(req.url, "http://peer").searchParams.get("rooms");
  const mine = q ? q.split(",") : [];
  for (const r of mine) {
    let set = rooms.get(r);
    if (!set) rooms.set(r, (set = new Set()));
    set.add(ws);
  }
  ws.on("message", (data, isBinary) => {
    if (isBinary) return;
    let msg;
    try {
      msg = JSON.parse(data);
    } catch {
      return;
    }
    const set = rooms.get(msg.room);
    if (!set) return;
    for (const c of set) if (c.readyState === WebSocket.OPEN) c.send(data, { binary: false });
  });
  ws.on("close", () => {
    for (const r of mine) rooms.get(r)?.delete(ws);
  });
});

server.listen(port, "127.0.0.1", () => console.log(`ws peer listening on 127.0.0.1:${port}`));
process.on("SIGTERM", () => process.exit(0));
