// httperf/conf/ws-broadcast.js: the Node `ws` reference server for httperf/websocket/run.
// The chat of stage08 in its plainest form with the npm package `ws` (the broadcast loop of
// its README): /ws/chat/<room>?name=<nick> takes {"text": "..."} and sends every member of
// the room {"type":"message","room","from","text","ts"}; /ws/echo echoes. No compression.
// Usage: WS_MODULE=.../node_modules/ws node ws-broadcast.js PORT
'use strict';
const { WebSocketServer } = require(process.env.WS_MODULE);

const rooms = new Map();
const wss = new WebSocketServer({
  host: '127.0.0.1', port: Number(process.argv[2]), perMessageDeflate: false, maxPayload: 16 << 20,
});
wss.on('connection', (ws, request) => {
  const url = new URL(request.url, 'http://localhost');
  if (url.pathname === '/ws/echo') {
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    return;
  }
  const room = url.pathname.replace(/^\/ws\/chat\//, '');
  const from = url.searchParams.get('name');
  if (!rooms.has(room)) rooms.set(room, new Set());
  const members = rooms.get(room);
  members.add(ws);
  ws.on('message', (data) => {
    let text;
    try { text = JSON.parse(data).text; } catch { return; }
    const out = JSON.stringify({ type: 'message', room, from, text, ts: Date.now() });
    for (const member of members) if (member.readyState === 1) member.send(out);
  });
  ws.on('close', () => members.delete(ws));
});
wss.on('listening', () => console.log(`ws-broadcast listening on ${wss.address().port}`));
