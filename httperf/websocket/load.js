// httperf/websocket/load.js: the load generator of httperf/websocket/run (Node, with the npm
// package `ws` as the client library: no compression, as the servers).
//
//   node load.js fanout BASE ROOMS MEMBERS RATE SECONDS
//     ROOMS rooms of MEMBERS members each (/ws/chat/r<i>?name=m<j>); in each room one
//     sender sends RATE messages a second for SECONDS; every member, sender included,
//     receives each one. Each message carries its sequence number and the time it was sent,
//     so every delivery's latency is known (one clock: this process's).
//   node load.js stall BASE MEMBERS RATE SIZE SECONDS
//     one room; one member stops reading, one sends RATE messages a second of SIZE
//     characters: what the others receive, and how the server ends the stalled one.
//   node load.js echo BASE CONNECTIONS SECONDS
//     CONNECTIONS connections to /ws/echo, each sending a 32-byte message and waiting for its
//     echo, again and again, for SECONDS.
//
// Prints "measuring" when the measured part begins and "done" when it ends (the harness reads
// the server's CPU time at both), then one line of JSON with the results.
'use strict';
const WebSocket = require(process.env.WS_MODULE);

const [mode, base, ...rest] = process.argv.slice(2);
const OPEN_WAIT = 30000; // ms: every connection must be open by then

function open(url) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: 16 << 20 });
    const timer = setTimeout(() => reject(new Error(`${url}: not open after ${OPEN_WAIT} ms`)), OPEN_WAIT);
    ws.once('open', () => { clearTimeout(timer); resolve(ws); });
    ws.once('error', (error) => { clearTimeout(timer); reject(error); });
  });
}

// Opens connections a batch at a time: 5,000 handshakes at once would measure the backlog.
async function openAll(urls, batch = 200) {
  const sockets = [];
  for (let i = 0; i < urls.length; i += batch) {
    sockets.push(...await Promise.all(urls.slice(i, i + batch).map(open)));
  }
  return sockets;
}

function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}

const nowMs = () => Number(process.hrtime.bigint()) / 1e6;

async function fanout(rooms, members, rate, seconds) {
  const urls = [];
  for (let r = 0; r < rooms; r++) {
    for (let m = 0; m < members; m++) urls.push(`${base}/ws/chat/r${r}?name=m${m}`);
  }
  const sockets = await openAll(urls);
  let delivered = 0, closed = 0, errors = 0, setupAt = nowMs();
  const latencies = [];
  for (const ws of sockets) {
    ws.on('message', (data) => {
      const at = nowMs();
      let message;
      try { message = JSON.parse(data); } catch { errors++; return; }
      if (message.type !== 'message') {
        // A welcome or a join (stage08 tells a room of each arrival): not the measured
        // traffic, but the clock must not start while it still flows.
        setupAt = at;
        return;
      }
      const sent = Number(message.text.split(' ')[1]);
      delivered++;
      latencies.push(at - sent);
    });
    ws.on('close', () => closed++);
    ws.on('error', () => errors++);
  }
  // Let the welcomes and joins settle before the clock starts: 500 ms without any.
  const settleBy = nowMs() + OPEN_WAIT;
  while (nowMs() - setupAt < 500 && nowMs() < settleBy) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  console.log('measuring');
  const started = nowMs();
  const senders = [];
  let sent = 0;
  for (let r = 0; r < rooms; r++) {
    const ws = sockets[r * members];
    let seq = 0;
    // Staggered, so the rooms' messages do not all leave in the same millisecond.
    const start = setTimeout(() => {
      senders.push(setInterval(() => {
        if (ws.readyState !== WebSocket.OPEN) return;
        ws.send(JSON.stringify({ text: `${seq++} ${nowMs()}` }));
        sent++;
      }, 1000 / rate));
    }, (r * 1000) / rate / rooms);
    senders.push(start);
  }
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  for (const timer of senders) { clearTimeout(timer); clearInterval(timer); }
  const sendTime = (nowMs() - started) / 1000;
  // What is in flight arrives (or never will): wait until deliveries stop growing.
  let last = -1;
  while (last !== delivered) {
    last = delivered;
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
  console.log('done');
  latencies.sort((a, b) => a - b);
  const result = {
    mode, rooms, members, rate, seconds: sendTime, sent, expected: sent * members, delivered,
    per_second: delivered / sendTime, p50_ms: percentile(latencies, 0.5),
    p99_ms: percentile(latencies, 0.99), max_ms: latencies[latencies.length - 1] ?? null,
    closed, errors,
  };
  for (const ws of sockets) ws.terminate();
  return result;
}

// One room of MEMBERS; member 1 stops reading (its socket paused: the kernel buffers fill,
// then the server's queue for it); member 0 sends RATE messages a second of SIZE characters.
// Measured on the others: delivered / expected and latency. At the end the stalled member
// reads again, to see how the server ended it (a close frame's code, or nothing yet).
async function stall(members, rate, size, seconds) {
  const urls = Array.from({ length: members }, (_, m) => `${base}/ws/chat/stall?name=m${m}`);
  const sockets = await openAll(urls, members);
  const stalled = sockets[1];
  stalled._socket.pause();
  let delivered = 0, errors = 0, setupAt = nowMs(), stalledClose = null;
  const latencies = [];
  sockets.forEach((ws, m) => {
    ws.on('error', () => errors++);
    if (m === 1) {
      ws.on('close', (code) => { stalledClose = code; });
      return;
    }
    ws.on('message', (data) => {
      const at = nowMs();
      const message = JSON.parse(data);
      if (message.type !== 'message') { setupAt = at; return; }
      delivered++;
      latencies.push(at - Number(message.text.split(' ')[1]));
    });
  });
  while (nowMs() - setupAt < 500) await new Promise((resolve) => setTimeout(resolve, 100));
  console.log('measuring');
  const started = nowMs();
  const padding = 'x'.repeat(size);
  let sent = 0, seq = 0;
  const timer = setInterval(() => {
    sockets[0].send(JSON.stringify({ text: `${seq++} ${nowMs()} ${padding}` }));
    sent++;
  }, 1000 / rate);
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  clearInterval(timer);
  const sendTime = (nowMs() - started) / 1000;
  let last = -1;
  while (last !== delivered) {
    last = delivered;
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
  console.log('done');
  // The stalled member reads again: whatever the server left for it, then its end.
  stalled._socket.resume();
  const until = nowMs() + 2000;
  while (stalledClose === null && nowMs() < until) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  latencies.sort((a, b) => a - b);
  const readers = members - 1;
  for (const ws of sockets) ws.terminate();
  return {
    mode, members, rate, size, seconds: sendTime, sent, expected: sent * readers, delivered,
    per_second: delivered / sendTime, p50_ms: percentile(latencies, 0.5),
    p99_ms: percentile(latencies, 0.99), max_ms: latencies[latencies.length - 1] ?? null,
    stalled_close: stalledClose, errors,
  };
}

async function echo(connections, seconds) {
  const sockets = await openAll(Array.from({ length: connections }, () => `${base}/ws/echo`));
  const payload = 'x'.repeat(32);
  let trips = 0, errors = 0, running = true;
  console.log('measuring');
  const started = nowMs();
  await Promise.all(sockets.map((ws) => new Promise((resolve) => {
    ws.on('message', () => {
      trips++;
      if (running) ws.send(payload); else resolve();
    });
    ws.on('error', () => { errors++; resolve(); });
    ws.on('close', resolve);
    ws.send(payload);
    setTimeout(() => { running = false; }, seconds * 1000);
  })));
  const elapsed = (nowMs() - started) / 1000;
  console.log('done');
  for (const ws of sockets) ws.terminate();
  return { mode, connections, seconds: elapsed, trips, per_second: trips / elapsed, errors };
}

(async () => {
  const numbers = rest.map(Number);
  const modes = { fanout, echo, stall };
  const result = await modes[mode](...numbers);
  console.log(JSON.stringify(result));
  process.exit(0);
})().catch((error) => {
  console.log(JSON.stringify({ mode, error: String(error) }));
  process.exit(1);
});
