// Node's ws as a reference echo server for the differential: node echo_node.js PORT
// (ws from npm; NODE_PATH must reach it). Every message echoed with its kind; 16 MiB limit.
const { WebSocketServer } = require('ws');
const port = Number(process.argv[2]);
const wss = new WebSocketServer({ host: '127.0.0.1', port, maxPayload: 16 * 1024 * 1024, perMessageDeflate: false });
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  ws.on('error', () => {});
});
wss.on('listening', () => console.log('ready'));
