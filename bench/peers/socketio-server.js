// Peer: Socket.IO 4.8 on Node, WebSocket transport only (no long-polling), compression off.
// Rooms come from the handshake query (`?rooms=a,b`); `emit("send", room, body)` is broadcast as
// `message` to everyone in the room with `io.to(room).emit` (the sender included, as Chinwag does;
// Socket.IO encodes a broadcast once). No auth, no persistence. Usage: node socketio-server.js PORT
"use strict";
const http = require("http");
const { Server } = require("socket.io");

const port = Number(process.argv[2] || 9002);
const server = http.createServer((req, res) => {
  res.writeHead(req.url === "/healthz" ? 200 : 404);
  res.end();
});
const io = new Server(server, {
  transports: ["websocket"],
  perMessageDeflate: false,
  httpCompression: false,
  serveClient: false,
  maxHttpBufferSize: 1 << 20,
});

io.on("connection", (socket) => {
  const q = socket.handshake.query.rooms;
  if (typeof q === "string" && q.length) socket.join(q.split(","));
  socket.on("send", (room, body) => {
    io.to(room).emit("message", body);
  });
});

server.listen(port, "127.0.0.1", () => console.log(`socket.io peer listening on 127.0.0.1:${port}`));
process.on("SIGTERM", () => process.exit(0));
