// tests/websocket/peer_ws.js: /ws/echo checked by Node's `ws` (npm), an independent client.
//
// Usage: WS_MODULE=/path/to/node_modules/ws node peer_ws.js URL [CA_FILE]
// (run by tests/websocket/run, which installs `ws` in a folder of its own). For wss:// the
// server's certificate is verified against CA_FILE, host name included. Prints one line per
// check; exit status 0 if all passed.
'use strict';

const fs = require('fs');
const WebSocket = require(process.env.WS_MODULE);

const [url, caFile] = process.argv.slice(2);
const SIZES = [0, 125, 126, 65535, 65536, 16 << 20];
const WAIT = 30000; // ms: the deadline of each check

const options = { maxPayload: 32 << 20, perMessageDeflate: true };
if (url.startsWith('wss://')) options.ca = fs.readFileSync(caFile);

const ws = new WebSocket(url, options);
const results = [];
// Messages, pongs and the close, as they come, for the check waiting on them.
const inbox = [];
let waiting = null;
function deliver(item) {
  inbox.push(item);
  if (waiting) waiting();
}
ws.on('message', (data, isBinary) => deliver({ kind: 'message', data, isBinary }));
ws.on('pong', (data) => deliver({ kind: 'pong', data }));
ws.on('close', (code, reason) => deliver({ kind: 'close', code, reason: reason.toString() }));
ws.on('error', (error) => deliver({ kind: 'error', error }));

function next(kind) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${kind} within ${WAIT} ms`)), WAIT);
    const look = () => {
      const item = inbox.shift();
      if (!item) return;
      waiting = null;
      clearTimeout(timer);
      if (item.kind === 'error') reject(item.error);
      else if (item.kind !== kind) reject(new Error(`expected a ${kind}, got a ${item.kind}`));
      else resolve(item);
    };
    waiting = look;
    look();
  });
}

async function check(name, body) {
  try {
    await body();
    results.push([name, null]);
  } catch (error) {
    results.push([name, String(error && error.message ? error.message : error)]);
  }
}

function assert(condition, what) {
  if (!condition) throw new Error(what);
}

async function main() {
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  await check('permessage-deflate offered and declined', async () => {
    assert(ws.extensions === '', `extensions: ${ws.extensions}`);
  });
  for (const size of SIZES) {
    await check(`text echo, ${size} bytes`, async () => {
      const sent = 'é'.repeat(Math.floor(size / 2)) + 'a'.repeat(size % 2);
      ws.send(sent);
      const got = await next('message');
      assert(!got.isBinary && got.data.toString() === sent, `${got.data.length} bytes back`);
    });
    await check(`binary echo, ${size} bytes`, async () => {
      const sent = Buffer.alloc(size, 0xfe);
      ws.send(sent);
      const got = await next('message');
      assert(got.isBinary && Buffer.compare(got.data, sent) === 0, `${got.data.length} bytes back`);
    });
  }
  await check('fragmented text', async () => {
    // fin: false sends a fragment; the message ends with the fragment sent with fin: true.
    ws.send('frag', { fin: false });
    ws.send('mént', { fin: false });
    ws.send(' 🎉', { fin: true });
    const got = await next('message');
    assert(!got.isBinary && got.data.toString() === 'fragmént 🎉', got.data.toString());
  });
  await check('fragmented binary', async () => {
    ws.send(Buffer.alloc(70000, 1), { binary: true, fin: false });
    ws.send(Buffer.alloc(65536, 2), { binary: true, fin: true });
    const got = await next('message');
    const sent = Buffer.concat([Buffer.alloc(70000, 1), Buffer.alloc(65536, 2)]);
    assert(got.isBinary && Buffer.compare(got.data, sent) === 0, `${got.data.length} bytes`);
  });
  await check('ping answered by a pong with its payload', async () => {
    const payload = Buffer.from([0x00, 0xff, 0x70, 0x69, 0x6e, 0x67]);
    ws.ping(payload);
    const got = await next('pong');
    assert(Buffer.compare(got.data, payload) === 0, got.data.toString('hex'));
  });
  await check('close handshake with code 4001 echoed', async () => {
    ws.close(4001, 'done here');
    const got = await next('close');
    assert(got.code === 4001, `close code ${got.code}`);
  });
}

main()
  .catch((error) => results.push(['connection', String(error)]))
  .finally(() => {
    for (const [name, error] of results) {
      console.log(`${error === null ? 'ok' : 'FAIL'}  ${name}${error === null ? '' : ': ' + error}`);
    }
    process.exit(results.every(([, error]) => error === null) ? 0 : 1);
  });
